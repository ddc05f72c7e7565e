#!/usr/bin/env bash
# Ingest rate of a plain curl loop, and bytes on disk per stored sample.
#
# Starts build/ember on a free port with a fresh data directory, pushes a
# realistic folded profile N times (one push per 10 s bucket, as an agent
# does), one curl at a time, then stops the server and measures the database.
# A curl loop mostly measures curl's own start-up; build/bench/ingest_load
# (ingest_load.c) measures the server with keep-alive connections.
#
#   bench/ingest_curl.sh [N] [FOLDED_FILE]
#
# The default profile, bench/data/compile.folded, is `perf record -g` of a
# C build folded by `perf script report stackcollapse`: 982 distinct stacks
# from cc1, as, ld, cmake and the kernel.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-300}
file=${2:-$root/bench/data/compile.folded}
bin=${EMBER_BIN:-$root/build/ember}
[ -x "$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }

data=$(mktemp -d)
work=$(mktemp -d)
out=$(mktemp)
trap 'kill $pid 2>/dev/null || true; rm -rf "$data" "$work" "$out"' EXIT
"$bin" serve --listen 127.0.0.1:0 --data "$data" >"$out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$out")

# Ten variants of the profile, so consecutive pushes differ as an agent's
# do: every count scaled by a random factor from 0.5 to 1.5, and one stack in
# ten left out.
for v in $(seq 0 9); do
  awk -v seed="$v" 'BEGIN {srand(seed)} {
      if (rand() < 0.1) next
      c = int($NF * (0.5 + rand())); if (c < 1) c = 1
      $NF = c; print }' "$file" >"$work/variant$v"
done
lines=$(cat "$work"/variant* | grep -c .)
samples=$(cat "$work"/variant* | awk '{s += $NF} END {print s}')
bytes=$(cat "$work"/variant* | wc -c)
t0=1700000000
start=$(date +%s.%N)
for i in $(seq 0 $((n - 1))); do
  from=$((t0 + 10 * i))
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$work/variant$((i % 10))" \
    "http://127.0.0.1:$port/ingest?name=bench.cpu%7Bhost%3Da%7D&from=$from&until=$((from + 10))")
  [ "$code" = 200 ] || { echo "push $i answered $code" >&2; exit 1; }
done
end=$(date +%s.%N)
kill -TERM $pid
wait $pid || true
db=$(du -cb "$data"/ember.db* | tail -1 | cut -f1)
rollups=$(sqlite3 "$data/ember.db" 'SELECT count(*) FROM segments WHERE level > 0' 2>/dev/null || echo "?")

awk -v n="$n" -v s="$((samples / 10))" -v l="$((lines / 10))" -v b="$((bytes / 10))" -v t0="$start" -v t1="$end" -v db="$db" -v r="$rollups" 'BEGIN {
  t = t1 - t0
  printf "profile: about %d stacks, %d samples, %d bytes of folded text per push\n", l, s, b
  printf "curl loop: %d pushes in %.2f s = %.0f pushes/s, %.0f samples/s, %.1f MB/s of folded text\n", n, t, n / t, n * s / t, n * b / t / 1e6
  printf "on disk (rollup rows included: %s): %d bytes for %d samples = %.2f bytes/sample, %.0f bytes/push (%.1fx smaller than the text)\n", r, db, n * s, db / (n * s), db / n, n * b / db
}'
