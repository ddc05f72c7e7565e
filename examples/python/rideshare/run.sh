#!/usr/bin/env bash
# Runs the ride-sharing example on this machine: Ember, three regional
# servers (us-east, eu-north, ap-south) profiled by the Python agent, and a
# load generator, all on 127.0.0.1. Prints the URL to open; Ctrl-C stops
# everything (the apps send their last samples before Ember stops). Ember's
# data and every process's log are kept in one directory, printed at the
# start and at the end, unless --clean is given.
#
#   examples/python/rideshare/run.sh          # lock contention switches every 2 min
#   examples/python/rideshare/run.sh --fast   # ... every 10 s
#   examples/python/rideshare/run.sh --spy    # no agent: each region runs
#                                             # under `ember spy record`
#   examples/python/rideshare/run.sh --listen 127.0.0.1:4041
#                                             # Ember on another port
#   examples/python/rideshare/run.sh --clean  # remove the data and logs at exit
#
# Environment (all optional):
#   EMBER_URL      use an Ember that is already running instead of starting one
#   EMBER_BIN      the ember binary (default: build/ember, built if missing)
#   EMBER_LISTEN   where the Ember it starts listens (default 127.0.0.1:4040;
#                  port 0 for any free port); --listen wins
#   EMBER_PORT     the same, as a port on 127.0.0.1
#   EMBER_DATA     Ember's data directory (default: data/ in the run's
#                  directory)
#   RIDESHARE_PORT first regional port (default 5001, then 5002, 5003;
#                  0 for any free ports)
#   RIDESHARE_LOCK_PERIOD  seconds between eu-north's switches (default 120)
#   LOAD_RATE      requests per second per region (default 4)
#   PYTHON         the Python 3.9+ interpreter (default python3)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
python=${PYTHON:-python3}
lock_period=${RIDESHARE_LOCK_PERIOD:-120}
spy=0
clean=0
listen=${EMBER_LISTEN:-127.0.0.1:${EMBER_PORT:-4040}}
while [ $# -gt 0 ]; do
  case $1 in
    --fast) lock_period=10 ;;
    --spy) spy=1 ;;
    --clean) clean=1 ;;
    --listen)
      if [ $# -lt 2 ]; then
        echo "run.sh: --listen needs HOST:PORT, e.g. --listen 127.0.0.1:4041" >&2
        exit 2
      fi
      listen=$2
      shift ;;
    --listen=*) listen=${1#--listen=} ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --fast, --spy, --listen, --clean or --help)" >&2
       exit 2 ;;
  esac
  shift
done

# One directory holds the run's logs and, unless EMBER_DATA says otherwise,
# Ember's data: kept after the run (to look at again, or to read the logs
# of a failure), removed at exit with --clean.
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/rideshare.XXXXXX")
logs=$run_dir/logs
mkdir -p "$logs"
pids=()          # started processes, in start order
names=()
ember_data=      # the data directory of the Ember this run started

stop_all() {
  trap - INT TERM EXIT
  # Stop in reverse order: the load first, then the apps (which send their
  # last samples), Ember last. Each child leads its own process group, so
  # the group is signalled and nothing it started is left behind.
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
  if [ "$clean" = 1 ]; then
    rm -rf "$run_dir"
  else
    local kept="the logs are kept in $logs"
    if [ -n "$ember_data" ] && [ -d "$ember_data" ]; then
      kept="$kept, the data of Ember in $ember_data"
    fi
    echo "run.sh: $kept; remove them with: rm -rf $run_dir (or run with --clean)" >&2
  fi
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# start NAME LOGFILE COMMAND... : runs COMMAND in its own session (so a
# Ctrl-C in the terminal reaches only this script, which stops the rest in
# order) with its output in LOGFILE.
start() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  pids+=("$!")
  names+=("$name")
}

# wait_url NAME LOGFILE: prints the URL from the "listening on URL" line.
wait_url() {
  local name=$1 log=$2 pid=${pids[-1]} url
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://[^ ]*' "$log" 2>/dev/null | head -n1 | cut -d' ' -f3)
    if [ -n "$url" ]; then
      echo "$url"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: $name exited before it listened:" >&2
      sed 's/^/  /' "$log" >&2
      if [ "$name" = ember ] && grep -q 'cannot listen' "$log"; then
        echo "run.sh: pick another address for Ember with --listen 127.0.0.1:PORT" \
          "(port 0 for any free one), or use an Ember that already runs with" \
          "EMBER_URL=http://HOST:PORT" >&2
      fi
      return 1
    fi
    sleep 0.1
  done
  echo "run.sh: $name did not start within 20 s; its log:" >&2
  sed 's/^/  /' "$log" >&2
  return 1
}

ember=${EMBER_BIN:-$root/build/ember}
if [ -z "${EMBER_URL:-}" ] || [ "$spy" = 1 ]; then
  if [ ! -x "$ember" ]; then
    echo "run.sh: $ember is missing; building Ember first" >&2
    "$root/scripts/deps.sh"
    cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$root/build" -j"$(nproc)"
    ember=$root/build/ember
  fi
fi
if [ -n "${EMBER_URL:-}" ]; then
  ember_url=${EMBER_URL%/}
else
  ember_data=${EMBER_DATA:-$run_dir/data}
  start ember "$logs/ember.log" "$ember" serve --listen "$listen" --data "$ember_data"
  ember_url=$(wait_url ember "$logs/ember.log")
fi

export PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}"
port=${RIDESHARE_PORT:-5001}
targets=()
for region in us-east eu-north ap-south; do
  server=("$python" -u "$here/server.py" --region "$region" --port "$port"
          --ember "$ember_url" --lock-period "$lock_period")
  if [ "$spy" = 1 ]; then
    # No agent: ember spy starts the region and samples it from outside,
    # pushing to the same app with the region as a tag.
    start "$region" "$logs/$region.log" "$ember" spy record --server "$ember_url" \
      --app "ride-sharing-app{region=$region}" -- "${server[@]}" --no-agent
  else
    start "$region" "$logs/$region.log" "${server[@]}"
  fi
  url=$(wait_url "$region" "$logs/$region.log")
  targets+=("$region=$url")
  [ "$port" = 0 ] || port=$((port + 1))
done
start load "$logs/load.log" "$python" -u "$here/load.py" --rate "${LOAD_RATE:-4}" "${targets[@]}"

cat <<EOF
The ride-sharing example is running.

  Open Ember:  $ember_url
  App:         ride-sharing-app.cpu   (tags: region$([ "$spy" = 1 ] || echo ", vehicle"))
  Profiled by: $([ "$spy" = 1 ] && echo "ember spy record, from outside (no agent)" || echo "the Python agent in each region")
  Regions:     ${targets[*]}
  eu-north's lock contention switches on and off every $lock_period s.
  Logs:        $logs
  Ember data:  ${ember_data:-kept by the Ember at $ember_url}
  At exit:     $([ "$clean" = 1 ] && echo "both are removed (--clean)" || echo "both are kept; --clean removes them")

Press Ctrl-C to stop everything.
EOF

# Wait until a child exits on its own (a crash): then stop the rest.
while :; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      echo "run.sh: ${names[i]} stopped unexpectedly; its log:" >&2
      sed 's/^/  /' "$logs/${names[i]}.log" >&2
      exit 1
    fi
  done
  sleep 1
done
