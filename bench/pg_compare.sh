#!/usr/bin/env bash
# pg_compare.sh - the same data on SQLite and on PostgreSQL, one node and
# three: ingest rate, time until rolled up, /render latency.
#
#   bench/pg_compare.sh [BUILD_DIR]
#
# Environment (defaults in brackets): SERIES [4] series of BUCKETS [8640,
# a day] 10 s buckets each, pushes of STACKS [500] stack lines, CONNS [8]
# connections, REQUESTS [20] requests per measurement.
#
# 1. Fills: build/bench/ingest_load pushes SERIES x BUCKETS buckets of app
#    "load" into SQLite (a data directory), then into PostgreSQL through one
#    node; then the same number of pushes through three nodes on one more
#    database, each node fed by its own ingest_load (CONNS / 3 connections,
#    an app each, BUCKETS / 3 buckets per series). A 200 is a commit.
# 2. Rollups: a node is started on the filled SQLite directory and on the
#    one-node PostgreSQL database; it prints how long until nothing is left
#    to roll up (rollup_todo empty; on PostgreSQL, rolled3 at the last
#    settled period and rollup_todo empty).
# 3. Queries: p50 and max of REQUESTS /render requests of the whole app
#    (load.cpu) and of one series over the last 1 h and 24 h of the data,
#    one client; then, on PostgreSQL, three nodes on the same database, a
#    client each, at the same time.
#
# The PostgreSQL is scripts/pgtest.sh's: PostgreSQL 15 as Debian builds
# it, fsync on, default settings but max_connections, on a Unix socket.
# Exits 77 where it cannot run, 1 when a step fails.
set -euo pipefail

build=${1:-build}
series=${SERIES:-4}
buckets=${BUCKETS:-8640}
stacks=${STACKS:-500}
conns=${CONNS:-8}
requests=${REQUESTS:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
ember=$build/ember
load=$build/bench/ingest_load
for f in "$ember" "$load"; do
  [ -x "$f" ] || { echo "pg_compare: $f is missing; build first" >&2; exit 1; }
done
command -v psql >/dev/null || { echo "SKIP: psql is missing (postgresql-client)" >&2; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 is missing" >&2; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-pgcmp-XXXXXX")
state=$work/pg.url
pids=()
# Stops the nodes of pids and waits until they are gone.
stop_nodes() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  done
  pids=()
}

cleanup() {
  stop_nodes
  "$here/scripts/pgtest.sh" stop "$state" || true
  rm -rf "$work"
}
trap cleanup EXIT
set +e
"$here/scripts/pgtest.sh" start "$state"
rc=$?
set -e
[ $rc -eq 0 ] || exit $rc
server=$(cat "$state")
db_url() { echo "${server/\/postgres\?//$1?}"; }
for db in one three; do psql -q "$server" -c "CREATE DATABASE $db"; done

# ---- 1. Fills ---------------------------------------------------------------

fill() { # label store [ingest_load options...]
  local label=$1 store=$2
  shift 2
  echo "== fill: $label"
  "$load" -w 0 -t 3600 -c "$conns" --series "$series" --stacks "$stacks" "$@" \
    -- --store "$store" | grep -E 'pushes acknowledged|^rate|^latency|^server CPU'
}
mkdir "$work/sqlite"
fill "SQLite, one node" "$work/sqlite" --buckets "$buckets"
fill "PostgreSQL, one node" "$(db_url one)" --buckets "$buckets"

# Starts a node on a store (not a child of this shell, so that `wait`
# waits for the loads only); prints its pid and port.
start_node() { # store log
  "$ember" serve --listen 127.0.0.1:0 --store "$1" >"$2" 2>&1 &
  local pid=$! port=""
  for _ in $(seq 1 300); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$2" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$2" >&2; echo "pg_compare: a node did not start" >&2; exit 1; }
  echo "$pid $port"
}

echo "== fill: PostgreSQL, three nodes (an ingest_load each)"
ports=()
for i in 1 2 3; do
  read -r pid port < <(start_node "$(db_url three)" "$work/node$i.log")
  pids+=("$pid")
  ports+=("$port")
done
t0=$(date +%s.%N)
for i in 1 2 3; do
  "$load" -w 0 -t 3600 -c $(((conns + 2) / 3)) --series "$series" --stacks "$stacks" \
    --buckets $((buckets / 3)) --app "load$i" "127.0.0.1:${ports[$((i - 1))]}" \
    >"$work/load$i.out" &
done
wait
t1=$(date +%s.%N)
grep -h 'pushes acknowledged\|^rate\|^latency' "$work"/load?.out
awk -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '/^rate:/ { p += $2; l += $4 }
  END { printf "three nodes together: %.0f pushes/s, %.0f stack lines/s over %.1f s\n", p, l, t }' \
  "$work"/load?.out
stop_nodes

# ---- 2. Rollups --------------------------------------------------------------

last=$((1700000000 + 10 * buckets))
sqlite_left() {
  local n=0 f
  for f in "$work"/sqlite/*.db; do
    n=$((n + $(sqlite3 "$f" "SELECT (SELECT count(*) FROM rollup_todo) + (SELECT count(*) FROM app_rollup_todo)" 2>/dev/null || echo 1)))
  done
  echo "$n"
}
pg_left() {
  psql -qtA "$(db_url one)" -c "SELECT (SELECT count(*) FROM rollup_todo) +
    CASE WHEN rolled3 >= $last - 10000 THEN 0 ELSE 1 END FROM maintenance"
}
wait_rolled() { # label check-function
  local t0 s
  t0=$(date +%s)
  for _ in $(seq 1 900); do
    [ "$($2)" = 0 ] && break
    sleep 2
  done
  s=$(($(date +%s) - t0))
  echo "$1: nothing left to roll up ${s} s after the node started (left: $($2))"
}

# ---- 3. Queries --------------------------------------------------------------

# p50 and max of REQUESTS /render requests (after one warm-up) on port.
measure() { # port query from until out
  local i t
  curl -s -o /dev/null "http://127.0.0.1:$1/render?query=$2&from=$3&until=$4"
  for i in $(seq 1 "$requests"); do
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' \
      "http://127.0.0.1:$1/render?query=$2&from=$3&until=$4")
    [ "${t%% *}" = 200 ] || { echo "pg_compare: /render answered ${t%% *}" >&2; exit 1; }
    echo "${t#* }"
  done >"$5"
}
report() { # label file
  sort -n "$2" | awk -v l="$1" '{ v[NR] = $1; b = $2 } END {
    printf "  %-44s p50 %7.1f ms  max %7.1f ms  (%d bytes)\n", l, v[int((NR + 1) / 2)] * 1000,
      v[NR] * 1000, b }'
}
queries() { # label port...
  local label=$1 q r range from
  shift
  for q in 'load.cpu' 'load.cpu%7Bseries%3D%221%22%7D'; do
    local name=load.cpu
    [ "$q" = load.cpu ] || name='load.cpu{series="1"}'
    for r in 1h 24h; do
      range=$([ $r = 1h ] && echo 3600 || echo 86400)
      from=$((last - range))
      local i=0
      for port in "$@"; do
        i=$((i + 1))
        measure "$port" "$q" "$from" "$last" "$work/q$i" &
      done
      wait
      cat "$work"/q? >"$work/qall"
      rm -f "$work"/q?
      report "$label $name $r" "$work/qall"
    done
  done
}

echo "== rollups and /render latency (${requests} requests each)"
read -r pid port < <(start_node "$work/sqlite" "$work/sqlite.log")
pids=("$pid")
wait_rolled "SQLite" sqlite_left
queries "SQLite, 1 node:" "$port"
stop_nodes

read -r pid port < <(start_node "$(db_url one)" "$work/pg1.log")
pids=("$pid")
wait_rolled "PostgreSQL" pg_left
queries "PostgreSQL, 1 node:" "$port"
ports=("$port")
for i in 2 3; do
  read -r pid port < <(start_node "$(db_url one)" "$work/pg$i.log")
  pids+=("$pid")
  ports+=("$port")
done
queries "PostgreSQL, 3 nodes, a client each:" "${ports[@]}"
