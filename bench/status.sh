#!/usr/bin/env bash
# Times `candlelake status` over many series in every table: backfills PAIRS pairs x 7
# timeframes (two days each) from the synthetic Coinbase server, then runs `status --json`
# RUNS times and prints each wall time and the series count.
#
#   bench/status.sh                 # 72 pairs x 7 timeframes = 504 series, release build
#   PROFILE=debug bench/status.sh   # the debug build (slower; an upper bound)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
pairs="${PAIRS:-72}"
runs="${RUNS:-5}"
profile="${PROFILE:-release}"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ "$profile" = release ]; then
  cargo build --release -p candlelake -p candlelake-bench
else
  cargo build -p candlelake -p candlelake-bench
fi
bin="$target/$profile"

work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/candlelake-bench" serve --port 0 >"$work/serve.out" &
server=$!
for _ in $(seq 100); do
  grep -q listening "$work/serve.out" 2>/dev/null && break
  sleep 0.1
done
url="http://$(awk '/listening/ {print $2}' "$work/serve.out")"

list="$(seq -f 'P%02g-USD' 1 "$pairs" | paste -sd, -)"
export CANDLELAKE_LAKE="$work/lake" CANDLELAKE_STATE_DIR="$work/state"
export CANDLELAKE_COINBASE_URL="$url" CANDLELAKE_COINBASE_RPS=0
"$bin/candlelake" backfill --provider coinbase --pairs "$list" \
  --timeframes 1m,5m,15m,30m,1h,4h,1d --start 2024-01-01 --end 2024-01-03 >/dev/null 2>"$work/backfill.log"

for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  n=$("$bin/candlelake" status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["series"]))')
  end=$(date +%s.%N)
  printf 'status run %d: %d series in 7 tables, %.2f s\n' "$i" "$n" "$(echo "$end - $start" | bc)"
done
