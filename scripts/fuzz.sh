#!/usr/bin/env bash
# Builds the libFuzzer drivers (clang) and runs each on a copy of its seed
# corpus for SECONDS (default 300), or only the drivers named.
#
#   scripts/fuzz.sh                  # every driver, 5 minutes each
#   scripts/fuzz.sh 3600 pprof ingest  # an hour each for two of them
#   scripts/fuzz.sh --keep 600       # also keep what the runs found in
#                                    # build-fuzz/corpus/<name>/
#
# scripts/test.sh runs every driver for 10 s, with EMBER_WERROR=ON (compiler
# warnings as errors). A failing input is kept in
# build-fuzz/artifacts/; replay it with build-fuzz/fuzz/fuzz_<name> FILE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
keep=0
if [ "${1:-}" = "--keep" ]; then
  keep=1
  shift
fi
seconds=${1:-300}
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a number, not '$seconds'" >&2; exit 2 ;;
esac
if [ $# -gt 0 ]; then shift; fi
scripts/deps.sh --test
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DEMBER_FUZZ=ON -DEMBER_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_WERROR="${EMBER_WERROR:-OFF}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
drivers=()
if [ $# -eq 0 ]; then
  drivers=(build-fuzz/fuzz/fuzz_*)
else
  for name in "$@"; do
    if [ ! -x "build-fuzz/fuzz/fuzz_$name" ]; then
      echo "fuzz.sh: no driver '$name'; there are:" \
        $(ls build-fuzz/fuzz | sed 's/^fuzz_//') >&2
      exit 2
    fi
    drivers+=("build-fuzz/fuzz/fuzz_$name")
  done
fi
fuzz_tmp=$(mktemp -d)
trap 'rm -rf "$fuzz_tmp"' EXIT
failed=0
for driver in "${drivers[@]}"; do
  name=${driver##*/fuzz_}
  work="$fuzz_tmp/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$name"/* "$work/corpus/"
  if "$driver" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log" 2>&1; then
    runs=$(grep -o 'number_of_executed_units: [0-9]*' "$work/log" | grep -o '[0-9]*$' || true)
    printf '%-12s ok, %s runs in %s s\n' "$name" "${runs:-?}" "$seconds"
  else
    mkdir -p build-fuzz/artifacts
    cp "$work"/artifacts/* build-fuzz/artifacts/ 2>/dev/null || true
    printf '%-12s FAILED (inputs kept in build-fuzz/artifacts/)\n' "$name"
    tail -n 40 "$work/log"
    failed=1
  fi
  if [ "$keep" = 1 ]; then
    mkdir -p "build-fuzz/corpus/$name"
    cp "$work"/corpus/* "build-fuzz/corpus/$name/" 2>/dev/null || true
  fi
done
exit "$failed"
