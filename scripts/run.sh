#!/usr/bin/env bash
# Builds Ember and runs the server on 127.0.0.1:4040 with its data in ./data.
# Extra arguments go to `ember serve` (see `build/ember serve --help`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)"
exec "$root/build/ember" serve "$@"
