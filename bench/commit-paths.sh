#!/usr/bin/env bash
# Compares one append commit through candlelake's append path and through the Delta kernel's
# Transaction API, on a 1m table already holding FILES data files (log entries with statistics,
# empty files, and a checkpoint): COMMITS commits of 60 candles and two coverage marks each,
# RUNS times each way, alternating. Prints time per commit, user/system CPU and peak RSS.
#
#   bench/commit-paths.sh                      # FILES=50000 COMMITS=300 RUNS=2, debug build
#   PROFILE=release FILES=200000 bench/commit-paths.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
files="${FILES:-50000}"
commits="${COMMITS:-300}"
runs="${RUNS:-2}"
profile="${PROFILE:-debug}"
target="${CARGO_TARGET_DIR:-$root/target}"
flags=()
[ "$profile" = release ] && flags=(--release)
CARGO_TARGET_DIR="$target" cargo build --offline "${flags[@]}" \
  --manifest-path "$root/bench/commit-paths/Cargo.toml"
bin="$target/$profile/commit-paths"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/seeded"
"$bin" seed "$work/seeded" "$files"
for run in $(seq "$runs"); do
  for path in hand kernel; do
    rm -rf "$work/lake" && cp -a "$work/seeded" "$work/lake"
    /usr/bin/time -f "  run $run $path: %U s user, %S s system, %M KB peak" \
      "$bin" "$path" "$work/lake" "$commits"
  done
done
uptime
