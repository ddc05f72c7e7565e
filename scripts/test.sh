#!/usr/bin/env bash
# Builds Ember and runs every test: unit and integration tests (ctest), then
# the same again built with AddressSanitizer and UndefinedBehaviorSanitizer,
# then the web UI's tests (node's test runner, headless Chromium), then a
# short run of every fuzz driver.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/deps.sh --test
jobs=$(nproc)

echo "== build and test (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build and test (address and undefined behaviour sanitizers)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEMBER_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure -j"$jobs")

echo "== web UI tests"
# Unit tests of the UI's pure modules, then end-to-end tests that drive the
# real server (build/ember) from Debian's chromium through playwright-core.
(
  cd "$root/tests/web/e2e"
  if [ ! -d node_modules/playwright-core ]; then
    npm ci --no-audit --no-fund
  fi
)
node --test tests/web/unit/
# One test file at a time: each starts a server and a browser.
if node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  EMBER_BIN="$root/build/ember" node --test --test-concurrency=1 tests/web/e2e/
else
  EMBER_BIN="$root/build/ember" node --test tests/web/e2e/
fi

echo "== fuzz drivers (a short run of each on a copy of its seed corpus)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DEMBER_FUZZ=ON -DEMBER_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$jobs" >/dev/null
fuzz_tmp=$(mktemp -d)
trap 'rm -rf "$fuzz_tmp"' EXIT
fuzz_failed=0
for driver in build-fuzz/fuzz/fuzz_*; do
  name=${driver##*/fuzz_}
  work="$fuzz_tmp/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$name"/* "$work/corpus/"
  if "$driver" "$work/corpus" -max_total_time=10 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log" 2>&1; then
    runs=$(grep -o 'number_of_executed_units: [0-9]*' "$work/log" | grep -o '[0-9]*$' || true)
    printf '%-12s ok, %s runs\n' "$name" "${runs:-?}"
  else
    # Keep what reproduces it: build-fuzz/fuzz/fuzz_<name> <artifact>
    mkdir -p build-fuzz/artifacts
    cp "$work"/artifacts/* build-fuzz/artifacts/ 2>/dev/null || true
    printf '%-12s FAILED (inputs kept in build-fuzz/artifacts/)\n' "$name"
    tail -n 40 "$work/log"
    fuzz_failed=1
  fi
done
exit "$fuzz_failed"
