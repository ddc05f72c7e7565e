#!/usr/bin/env bash
# Builds Ember and runs every test: unit and integration tests (ctest), then
# the same again built with AddressSanitizer and UndefinedBehaviorSanitizer,
# then the web UI's tests (node's test runner, headless Chromium), then a
# short run of every fuzz driver. Every build treats compiler warnings as
# errors (EMBER_WERROR), gcc's and clang's alike, so none gets into the tree;
# a plain `cmake` build leaves it off, so a newer compiler's new warning does
# not stop a user's build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/deps.sh --test
jobs=$(nproc)

echo "== build and test (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build and test (address and undefined behaviour sanitizers)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEMBER_SANITIZE=ON -DEMBER_WERROR=ON \
  >/dev/null
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

echo "== deployment: the Docker image and the compose examples"
# As root (which may start dockerd), or where a Docker engine answers.
# Skipped, not failed, where no engine can run containers.
if [ "$(id -u)" = 0 ] || docker info >/dev/null 2>&1; then
  rc=0
  tests/deploy/deploy.sh || rc=$?
  case $rc in
    0) echo "deployment test: passed" ;;
    77) echo "deployment test: skipped" ;;
    *) echo "deployment test: FAILED" >&2; exit 1 ;;
  esac
else
  echo "deployment test: skipped (not root, and no Docker engine answers)"
fi

echo "== fuzz drivers (a short run of each on a copy of its seed corpus)"
# Longer runs: scripts/fuzz.sh [SECONDS] [DRIVER...]
exec env EMBER_WERROR=ON scripts/fuzz.sh 10
