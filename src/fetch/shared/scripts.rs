//! The Lua scripts every process runs against the shared budget (sent with EVALSHA, EVAL when
//! Redis does not hold them yet), each one atomic in Redis, with Redis's clock as the one clock:
//! GCRA (the generic cell rate algorithm) with a burst of one, the 429 cool-down, and the daily
//! count.

use std::sync::LazyLock;

use redis::Script;

/// `KEYS[1]` the theoretical arrival time (µs), `KEYS[2]` the cool-down flag; `ARGV[1]` the
/// emission interval in µs. While a cool-down runs: `{0, µs left}`, nothing reserved. Else the
/// next slot is reserved: `{1, µs to wait before sending}`.
pub static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cooling = redis.call('PTTL', KEYS[2])
if cooling > 0 then
  return {0, cooling * 1000}
end
local interval = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local next_tat = tat + interval
local keep_ms = math.ceil((next_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', keep_ms)
return {1, tat - now}
",
    )
});

/// `KEYS[1]` the cool-down flag; `ARGV[1]` its length in ms. A longer cool-down already
/// running stays. Returns the ms the cool-down now has left.
pub static COOL_DOWN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local wanted = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < wanted then
  redis.call('SET', KEYS[1], '1', 'PX', wanted)
  return wanted
end
return left
",
    )
});

/// `KEYS[1]` the day's counter; `ARGV[1]` the daily limit, `ARGV[2]` the counter's lifetime
/// in seconds. Counts one request and returns the day's count, or -1 (nothing counted) once the
/// limit is reached.
pub static SPEND_DAILY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if spent >= tonumber(ARGV[1]) then
  return -1
end
spent = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return spent
",
    )
});
