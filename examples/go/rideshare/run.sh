#!/usr/bin/env bash
# Runs the Go ride-sharing example on this machine: Ember, three regional
# servers (us-east, eu-north, ap-south) profiled with runtime/pprof, and the
# load generator, all on 127.0.0.1. Prints the URL to open; Ctrl-C stops
# everything (the regions push their last profiles before Ember stops).
#
#   examples/go/rideshare/run.sh                 # lock contention switches every 2 min
#   examples/go/rideshare/run.sh --fast          # ... every 10 s
#   examples/go/rideshare/run.sh --duration 60   # stop by itself after 60 s
#
# Environment (all optional):
#   EMBER_URL      use an Ember that is already running instead of starting one
#   EMBER_BIN      the ember binary (default: build/ember, built if missing)
#   EMBER_PORT     Ember's port (default 4040; 0 for any free port)
#   EMBER_DATA     Ember's data directory (default: a fresh temporary one,
#                  removed at exit)
#   RIDESHARE_PORT first regional port (default 5011, then 5012, 5013;
#                  0 for any free ports)
#   RIDESHARE_LOCK_PERIOD  seconds between eu-north's switches (default 120)
#   LOAD_RATE      requests per second per region (default 4)
#   GO             the go command (default go; Go 1.19 or later)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
go=${GO:-go}
lock_period=${RIDESHARE_LOCK_PERIOD:-120}
duration=0
while [ $# -gt 0 ]; do
  case $1 in
    --fast) lock_period=10 ;;
    --duration)
      duration=${2:-}
      [[ $duration =~ ^[0-9]+$ ]] || { echo "run.sh: --duration needs whole seconds" >&2; exit 2; }
      shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --fast or --help)" >&2; exit 2 ;;
  esac
  shift
done

logs=$(mktemp -d "${TMPDIR:-/tmp}/rideshare-go-logs.XXXXXX")
data_is_temp=0
pids=()          # started processes, in start order
names=()

stop_all() {
  trap - INT TERM EXIT
  # Reverse order: the load, then the regions (which push their last
  # profiles), Ember last. Each child leads its own session and process
  # group, so signalling the group reaches everything it started.
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: ${names[i]} did not stop in 10 s; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  # What each process counted (profiles pushed, requests sent).
  cat "$logs"/*.log 2>/dev/null | grep -E 'stopped: |sent ' || true
  if [ "$data_is_temp" = 1 ]; then rm -rf "$EMBER_DATA"; fi
  rm -rf "$logs"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# start NAME COMMAND...: runs COMMAND in a session of its own (a Ctrl-C in
# the terminal reaches only this script, which stops the rest in order),
# its output in $logs/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
  pids+=("$!")
  names+=("$name")
}

# wait_url NAME: prints the URL of the "listening on URL" line of NAME's log.
wait_url() {
  local name=$1 log=$logs/$1.log pid=${pids[-1]} url
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://[^ ]*' "$log" 2>/dev/null | head -n1 | cut -d' ' -f3)
    if [ -n "$url" ]; then
      echo "$url"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: $name exited before it listened:" >&2
      sed 's/^/  /' "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "run.sh: $name did not start within 20 s; its log:" >&2
  sed 's/^/  /' "$log" >&2
  return 1
}

# The example is standard library only: GOPATH mode, nothing to download.
bin=$logs/rideshare
(cd "$here" && GO111MODULE=off GOFLAGS= "$go" build -o "$bin" .)

if [ -n "${EMBER_URL:-}" ]; then
  ember_url=${EMBER_URL%/}
else
  ember=${EMBER_BIN:-$root/build/ember}
  if [ ! -x "$ember" ]; then
    echo "run.sh: $ember is missing; building Ember first" >&2
    "$root/scripts/deps.sh"
    cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$root/build" -j"$(nproc)"
    ember=$root/build/ember
  fi
  if [ -z "${EMBER_DATA:-}" ]; then
    EMBER_DATA=$(mktemp -d "${TMPDIR:-/tmp}/rideshare-go-data.XXXXXX")
    data_is_temp=1
  fi
  start ember "$ember" serve --listen "127.0.0.1:${EMBER_PORT:-4040}" --data "$EMBER_DATA"
  ember_url=$(wait_url ember)
fi

port=${RIDESHARE_PORT:-5011}
targets=()
for region in us-east eu-north ap-south; do
  start "$region" "$bin" -region "$region" -listen "127.0.0.1:$port" \
    -ember "$ember_url" -lock-period "$lock_period"
  targets+=("$region=$(wait_url "$region")")
  [ "$port" = 0 ] || port=$((port + 1))
done
start load "$bin" -load -rate "${LOAD_RATE:-4}" "${targets[@]}"

cat <<EOF
The Go ride-sharing example is running.

  Open Ember:  $ember_url
  App:         ride-sharing-app-go.cpu   (tags: region, vehicle)
  Regions:     ${targets[*]}
  eu-north's lock contention switches on and off every $lock_period s.
  Logs:        $logs

Press Ctrl-C to stop everything.
EOF

# Wait for Ctrl-C, the end of --duration, or a child that exits on its own
# (a crash): then stop the rest.
started=$SECONDS
while [ "$duration" = 0 ] || [ $((SECONDS - started)) -lt "$duration" ]; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      echo "run.sh: ${names[i]} stopped unexpectedly; its log:" >&2
      sed 's/^/  /' "$logs/${names[i]}.log" >&2
      exit 1
    fi
  done
  sleep 1
done
echo "Ran for $duration s; stopping."
stop_all
