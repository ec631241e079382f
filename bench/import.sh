#!/usr/bin/env bash
# Times `candlelake import` on generated vendor files and prints candles/s, CPU time (user and
# system; with the load average, it tells another process's contention from candlelake's own
# cost) and peak RSS:
#   1. local uncompressed CSV (`--format csv`, a pair column, millisecond stamps), ROWS rows in
#      files of CSV_ROWS rows;
#   2. Binance kline archives (`--format binance-klines`, zip of headerless CSV), monthly 1m
#      files of 2024 (44,640 rows for January), enough pairs for ROWS rows.
# Each import starts on an empty lake of its own; the files are written first (Python, not
# timed), and each import waits PAUSE seconds (90) first. Two states of the machine slow an
# import down that are not candlelake's: on ext4 without a journal (this machine's disk), each
# new inode skips every inode deleted in the last 60 s (or 360 s while its inode table is not
# yet written back), so creating the lake's 14,000 directories and files right after a test run
# or an `rm -rf` of a lake spends seconds in `find_inode_bit`/`recently_deleted`; and with the
# page cache full of earlier lakes, every page written first reclaims one. Each line prints the
# free memory and the page cache before the import, so a slow run can be told apart.
#
#   bench/import.sh                        # 10,000,000 rows each, release build
#   RUNS=3 bench/import.sh                 # each import three times, each on a lake of its own
#   ROWS=1000000 PROFILE=debug bench/import.sh
#   FORMATS=csv RUNS=3 bench/import.sh     # only the CSV import (FORMATS: csv, binance or both)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rows="${ROWS:-10000000}"
csv_rows="${CSV_ROWS:-250000}"
profile="${PROFILE:-release}"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ "$profile" = release ]; then
  cargo build --release -p candlelake
else
  cargo build -p candlelake
fi
bin="$target/$profile/candlelake"

work="${WORK:-$(mktemp -d)}"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

formats="${FORMATS:-csv binance}"
python3 - "$work" "$rows" "$csv_rows" "$formats" <<'PY'
import calendar, io, os, sys, zipfile

work, rows, per_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
formats = sys.argv[4].split()
start_ms = 1704067200000  # 2024-01-01T00:00:00Z

def candle(i):
    # Valid, exact, varied: cents between 100.00 and about 50,000.00, volumes with 8 decimals.
    o = 10000 + (i * 7919) % 4990000
    h, l, c = o + 37 + i % 50, o - 21 - i % 30, o + (i % 41) - 20
    return (f"{o // 100}.{o % 100:02d}", f"{h // 100}.{h % 100:02d}",
            f"{l // 100}.{l % 100:02d}", f"{c // 100}.{c % 100:02d}", f"{i % 997}.{i % 99991:08d}")

os.makedirs(f"{work}/csv")
pairs = 0
written = 0 if "csv" in formats else rows
while written < rows:
    n = min(per_file, rows - written)
    pair = f"P{pairs:03d}-USD"
    with open(f"{work}/csv/{pair}.csv", "w") as f:
        f.write("pair,timestamp,open,high,low,close,volume\n")
        for k in range(n):
            o, h, l, c, v = candle(written + k)
            f.write(f"{pair},{start_ms + 60000 * k},{o},{h},{l},{c},{v}\n")
    written += n
    pairs += 1

os.makedirs(f"{work}/binance")
written = 0 if "binance" in formats else rows
symbol = 0
while written < rows:
    minute = 0
    for month in range(1, 13):
        if written >= rows:
            break
        days = calendar.monthrange(2024, month)[1]
        name = f"B{symbol:03d}USDT-1m-2024-{month:02d}"
        out = io.StringIO()
        for k in range(days * 1440):
            t = start_ms + 60000 * (minute + k)
            o, h, l, c, v = candle(written + k)
            out.write(f"{t},{o},{h},{l},{c},{v},{t + 59999},0,0,0,0,0\n")
        with zipfile.ZipFile(f"{work}/binance/{name}.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"{name}.csv", out.getvalue())
        minute += days * 1440
        written += days * 1440
    symbol += 1
PY

run() {
  local label="$1" name="$2"; shift 2
  sleep "${PAUSE:-90}"
  local out
  local load
  load="$(cut -d' ' -f1 /proc/loadavg)"
  local memory
  memory="$(awk '/^MemFree:/ {f = $2} /^Cached:/ {c = $2} END {printf "%.1f GB free, %.1f GB page cache", f / 1048576, c / 1048576}' /proc/meminfo)"
  out="$( { /usr/bin/time -f '%e %M %U %S' env CANDLELAKE_LAKE="$work/lake-$name" CANDLELAKE_STATE_DIR="$work/state-$name" \
      "$bin" --output json import "$@" >"$work/report.json"; } 2>&1 | tail -1)"
  local secs kb user sys
  read -r secs kb user sys <<<"$out"
  local candles
  candles="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["total_rows"] if r["status"]=="success" else -1)' "$work/report.json")"
  printf '%s (%s): %d candles in %.1f s = %d candles/s, CPU %.1f s user + %.1f s system, peak RSS %d MB (load average %s, %s before)\n' \
    "$label" "$profile" "$candles" "$secs" "$(python3 -c "print(int($candles / $secs))")" \
    "$user" "$sys" "$((kb / 1024))" "$load" "$memory"
}

for i in $(seq "${RUNS:-1}"); do
  case " $formats " in *" csv "*)
    run "local CSV" "csv-$i" --format csv --source "$work/csv" --timeframe 1m --provider-name bench --timestamp-unit ms
  esac
  case " $formats " in *" binance "*)
    run "Binance zips" "binance-$i" --format binance-klines --source "$work/binance"
  esac
done
