#!/usr/bin/env bash
# Builds the release binaries and runs candlelake-bench's fixed conditions.
#
#   bench/run.sh            # all five conditions: a b c d e (e needs redis-server)
#   bench/run.sh a d        # only some of them
#
# Honours CARGO_TARGET_DIR (default: target/ in the workspace).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target="${CARGO_TARGET_DIR:-target}"
case "$target" in
  /*) ;;
  *) target="$root/$target" ;;
esac

cargo build --release -p candlelake -p candlelake-bench

bench="$target/release/candlelake-bench"
candlelake="$target/release/candlelake"

conditions=("$@")
if [ ${#conditions[@]} -eq 0 ]; then
  conditions=(a b c d e)
fi

failed=()
run_condition() {
  local name="$1" title="$2"
  shift 2
  echo
  echo "### ($name) $title"
  echo "\$ candlelake-bench run $*"
  if ! "$bench" run --binary "$candlelake" "$@"; then
    failed+=("$name")
  fi
}

# On ext4, files deleted in the last ~35 s make creating new ones slow (the inode allocator
# skips recently deleted inodes): each run deletes its lake, so back-to-back runs measured up
# to 40% slower. Conditions are spaced by BENCH_PAUSE_S seconds (0 to skip the pause).
pause="${BENCH_PAUSE_S:-40}"
first=1
for c in "${conditions[@]}"; do
  if [ "$first" -eq 0 ] && [ "$pause" -gt 0 ]; then
    sleep "$pause"
  fi
  first=0
  case "$c" in
    a) run_condition a "unthrottled, 1M candles, 20 pairs x 1m" \
         --candles 1000000 --pairs 20 --timeframe 1m --rps 0 ;;
    b) run_condition b "unthrottled, 10M candles, 20 pairs x 1m" \
         --candles 10000000 --pairs 20 --timeframe 1m --rps 0 ;;
    c) run_condition c "rate-limited: server 10/s burst 15, client 10/s, 120 s" \
         --pairs 20 --timeframe 1m --rate-limit --rps 10 --duration-s 120 ;;
    d) run_condition d "429 blackout: 2 s after 3 s, client 10/s, 15 s" \
         --pairs 20 --timeframe 1m --rps 10 --blackout-after-ms 3000 --blackout-ms 2000 --duration-s 15 ;;
    e) run_condition e "rate-limited, 4 processes sharing one 10/s budget in Redis, 120 s" \
         --pairs 20 --timeframe 1m --rate-limit --rps 10 --duration-s 120 \
         --processes 4 --shared-budget ;;
    *) echo "unknown condition: $c (use a b c d e)" >&2; exit 2 ;;
  esac
done

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "failed conditions: ${failed[*]}" >&2
  exit 1
fi
