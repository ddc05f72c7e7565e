#!/usr/bin/env bash
# The Docker image and the compose files, end to end, with the commands
# README.md gives ("Running with Docker"):
#
#   1. a Docker engine: the running one, or dockerd started here (as root)
#      and stopped at the end;
#   2. the base image: made from a Debian mirror with debootstrap, only when
#      no image of that name is present;
#   3. Ember's image: built, `ldd ember` resolved inside it, and nothing in
#      it but those libraries' packages and curl;
#   4. `docker run` of the image alone: the UI at GET /, healthy from its
#      HEALTHCHECK, a non-root user, the database in the named volume;
#   5. the ride-sharing example with docker-compose: every health check
#      passes, the three regions arrive, only eu-north shows mutex_lock,
#      the data survives `docker-compose restart ember`, and `down -v`
#      leaves no container, network or volume;
#   6. the minimal example (examples/compose): the demo app's profiles
#      arrive, and `down -v` leaves nothing;
#   7. two nodes on PostgreSQL (examples/postgres, its PostgreSQL 15 built
#      from Debian's package on the same base): all three services turn
#      healthy, profiles pushed to node A read the same from node B
#      (identical /render answers), exactly one node holds the maintenance
#      lock (ember_store_maintenance_owner in /metrics), the data survives
#      `docker-compose restart` of node A and then of PostgreSQL (whose
#      cluster is created once, on the first start; a push after it reads
#      the same from both nodes), and `down -v` leaves nothing.
#
# Ember's published ports bind 127.0.0.1, on free ports. Prints how long
# each phase took and the images' sizes. Exits 0 when everything passed,
# 77 (skipped) when no Docker engine can run here, 1 on any failure.
#
# Environment (all optional):
#   EMBER_BASE_IMAGE     base image name (default local/debian:bookworm)
#   EMBER_DEBIAN_MIRROR  the mirror debootstrap uses (default
#                        http://deb.debian.org/debian)
#
# The images (ember, ember-rideshare, ember-demo-app, ember-postgres and
# the base) are
# kept, so that the next run builds from Docker's cache; every container,
# network and volume the test made is removed, also when it fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
base=${EMBER_BASE_IMAGE:-local/debian:bookworm}
mirror=${EMBER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Debian's client where it is installed (scripts/deps.sh installs
# docker.io): a client elsewhere on the PATH may not match the engine.
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker || true)
tag=ember-deploy-$$
work=""
dockerd_pid=""
project_dirs=()  # compose projects to take down at exit: folder,
project_names=() # and project name
containers=()    # containers started with docker run
volumes=()       # and their volumes

say() { printf 'deploy: %s\n' "$*"; }
skip() { say "SKIP: $*"; exit 77; }
fail() { say "FAIL: $*" >&2; exit 1; }

# --- phases and their durations -------------------------------------------

phase_names=()
phase_secs=()
phase_t0=0
phase() {
  phase_end
  phase_names+=("$1")
  phase_t0=$(date +%s%N)
  say "== $1"
}
phase_end() {
  if [ "$phase_t0" != 0 ]; then
    local now
    now=$(date +%s%N)
    phase_secs+=("$(( (now - phase_t0) / 100000000 ))")
    phase_t0=0
  fi
}
report_phases() {
  local i s
  for i in "${!phase_secs[@]}"; do
    s=${phase_secs[i]}
    printf 'deploy:   %6s s  %s\n' "$((s / 10)).$((s % 10))" "${phase_names[i]}"
  done
}

# --- cleanup: also on failure and interruption ----------------------------

compose_in() {
  # compose_in DIR PROJECT ARGS...: docker-compose in DIR for PROJECT.
  local dir=$1 project=$2
  shift 2
  (cd "$dir" && timeout 600 "${compose[@]}" -p "$project" "$@")
}

cleanup() {
  local rc=$? p c
  trap - EXIT INT TERM
  set +e
  phase_end
  for p in "${!project_names[@]}"; do
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
      say "logs of compose project ${project_names[p]} (last lines):" >&2
      compose_in "${project_dirs[p]}" "${project_names[p]}" logs --no-color --tail 20 >&2 2>&1
    fi
    compose_in "${project_dirs[p]}" "${project_names[p]}" down -v --remove-orphans -t 5 \
      >/dev/null 2>&1
  done
  for c in "${containers[@]}"; do
    "$docker" rm -fv "$c" >/dev/null 2>&1
  done
  for c in "${volumes[@]}"; do
    "$docker" volume rm "$c" >/dev/null 2>&1
  done
  if [ -n "$dockerd_pid" ]; then
    say "stopping the dockerd this test started (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 300); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  [ -n "$work" ] && rm -rf "$work"
  if [ "$rc" = 0 ]; then
    report_phases
    say "PASS"
  elif [ "$rc" != 77 ]; then
    [ ${#phase_secs[@]} -gt 0 ] && report_phases
    say "FAILED (exit $rc)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
# A command that fails without a message of ours still says where.
trap 'say "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ---------------------------------------------------------------

# free_port: a TCP port free on 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# health NAME: the container's health status (starting, healthy, unhealthy).
health() {
  "$docker" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"
}

# wait_healthy SECONDS CONTAINER...: until each container with a health
# check is healthy; fails at once on unhealthy or a container that stopped.
wait_healthy() {
  local limit=$1 c s deadline
  shift
  deadline=$(( $(date +%s) + limit ))
  for c in "$@"; do
    while :; do
      s=$(health "$c")
      [ "$s" = healthy ] || [ "$s" = none ] && break
      # A container that stopped is also marked unhealthy: ask first.
      if [ "$("$docker" inspect -f '{{.State.Running}}' "$c")" != true ]; then
        "$docker" logs --tail 20 "$c" >&2 2>&1
        fail "container $c stopped"
      fi
      if [ "$s" = unhealthy ]; then
        "$docker" inspect -f '{{json .State.Health.Log}}' "$c" >&2
        fail "container $c is unhealthy"
      fi
      [ "$(date +%s)" -lt "$deadline" ] || fail "container $c not healthy after $limit s (status $s)"
      sleep 1
    done
  done
}

# get PORT PATH [curl args...]: GET http://127.0.0.1:PORT/PATH; the args
# are usually -G --data-urlencode 'k=v'.
get() {
  local port=$1 path=$2
  shift 2
  curl -fsS --max-time 15 "$@" "http://127.0.0.1:$port$path"
}

# folded PORT SELECTOR FROM UNTIL: the flame graph in folded text.
folded() {
  get "$1" /render -G --data-urlencode "query=$2" --data-urlencode "from=$3" \
    --data-urlencode "until=$4" --data-urlencode format=collapsed \
    --data-urlencode maxNodes=-1
}

# samples and mutex_samples: sum the counts of folded lines (all, or those
# through mutex_lock). A frame name may hold spaces; the count is last.
samples() { awk '{ s += $NF } END { print s + 0 }'; }
mutex_samples() { awk 'index($0, "mutex_lock") { s += $NF } END { print s + 0 }'; }

# json_list: a JSON array of strings as one comma-separated line.
json_list() { python3 -c 'import json, sys; print(",".join(json.load(sys.stdin)))' 2>/dev/null; }

# container_of DIR PROJECT SERVICE: the id of a compose service's container.
container_of() {
  local id
  id=$(compose_in "$1" "$2" ps -q "$3")
  [ -n "$id" ] || fail "compose project $2 has no container for $3"
  echo "$id"
}

# assert_project_gone PROJECT: no container, network or volume of it left.
assert_project_gone() {
  local label="label=com.docker.compose.project=$1" left
  left=$("$docker" ps -aq --filter "$label")
  left+=$("$docker" network ls -q --filter "$label")
  left+=$("$docker" volume ls -q --filter "$label")
  left+=$("$docker" ps -aq --filter "name=$1_")
  left+=$("$docker" network ls -q --filter "name=$1_")
  left+=$("$docker" volume ls -q --filter "name=$1_")
  [ -z "$left" ] || fail "compose project $1 left objects behind: $left"
}

# --- 1. a Docker engine ----------------------------------------------------

phase "Docker engine"
[ -n "$docker" ] || skip "no docker client (Debian package docker.io)"
if command -v docker-compose >/dev/null; then
  compose=(docker-compose)
elif "$docker" compose version >/dev/null 2>&1; then
  compose=("$docker" compose)
else
  skip "no docker-compose (Debian package docker-compose)"
fi
command -v curl >/dev/null || skip "no curl"
command -v python3 >/dev/null || skip "no python3"
work=$(mktemp -d "${TMPDIR:-/tmp}/ember-deploy.XXXXXX")
if ! "$docker" info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || skip "no Docker engine answers, and only root can start dockerd"
  command -v dockerd >/dev/null || skip "no Docker engine answers, and there is no dockerd"
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 600); do
    "$docker" info >/dev/null 2>&1 && break
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      dockerd_pid=""
      why=$(grep -v '^$' "$work/dockerd.log" | tail -n 1 | cut -c1-300)
      skip "dockerd cannot start on this machine: $why"
    fi
    sleep 0.1
  done
  "$docker" info >/dev/null 2>&1 || skip "dockerd started but did not answer within 60 s"
  say "started dockerd (pid $dockerd_pid)"
fi
say "engine $("$docker" version -f '{{.Server.Version}}'), $("${compose[@]}" version --short 2>/dev/null || true)"

# --- 2. the base image -----------------------------------------------------

phase "base image $base"
if "$docker" image inspect "$base" >/dev/null 2>&1; then
  say "present, not rebuilt"
else
  [ "$(id -u)" = 0 ] || skip "no image $base, and only root can make it with debootstrap"
  command -v debootstrap >/dev/null || skip "no image $base, and no debootstrap to make it"
  # The commands of README.md: a minimal Debian 12 from the mirror, without
  # apt's downloaded packages and lists.
  debootstrap --variant=minbase bookworm "$work/bookworm" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap from $mirror failed"; }
  tar -C "$work/bookworm" --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' -c . \
    | "$docker" import - "$base" >/dev/null
  rm -rf "$work/bookworm"
fi
# An engine that starts but cannot run a container (no cgroups, a storage
# driver that fails) cannot run this test either.
if ! out=$("$docker" run --rm --network none "$base" true 2>&1); then
  skip "the Docker engine cannot run a container here: $(echo "$out" | tail -n 1 | cut -c1-300)"
fi

# --- 3. Ember's image --------------------------------------------------------

phase "build image ember"
(cd "$root" && timeout 1200 "$docker" build --network host --build-arg "BASE_IMAGE=$base" \
   -t ember .) >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log" >&2; fail "docker build of ember failed"; }

phase "check image ember (ldd, packages, user)"
ldd_out=$("$docker" run --rm --entrypoint ldd ember /usr/local/bin/ember)
if grep -q 'not found' <<<"$ldd_out"; then
  echo "$ldd_out" >&2
  fail "libraries missing from the image"
fi
# The packages installed on purpose beyond the base must own a library
# that ldd lists, or be curl (the health check).
owners=$("$docker" run --rm --entrypoint sh ember -c '
  for lib in $(ldd /usr/local/bin/ember | awk "/=> \\// { print \$3 }"); do
    dpkg -S "*/${lib##*/}" | cut -d: -f1
  done | sort -u')
base_manual=$("$docker" run --rm "$base" apt-mark showmanual | sort -u)
image_manual=$("$docker" run --rm --entrypoint apt-mark ember showmanual | sort -u)
added=$(comm -13 <(echo "$base_manual") <(echo "$image_manual"))
extra=$(comm -23 <(echo "$added") <(printf '%s\ncurl\n' "$owners" | sort -u))
[ -z "$extra" ] || fail "packages in the image that ember does not need: $extra"
say "packages added to the base: $(echo $added)"
for tool in cc gcc c++ cmake make; do
  if "$docker" run --rm --entrypoint sh ember -c "command -v $tool" >/dev/null; then
    fail "the runtime image holds the build tool $tool"
  fi
done
[ "$("$docker" image inspect -f '{{.Config.User}}' ember)" = ember ] \
  || fail "the image does not run as the user ember"

# --- 4. docker run of the image alone --------------------------------------

phase "docker run ember: UI and health check (HTTP, and HTTPS on another port)"
port=$(free_port)
name=$tag-run
containers+=("$name")
volumes+=("$tag-data")
"$docker" run -d --name "$name" -p "127.0.0.1:$port:4040" -v "$tag-data:/var/lib/ember" ember \
  >/dev/null
# Beside it, configured by the environment alone: TLS on port 8443. Its
# health check must follow EMBER_LISTEN's port and EMBER_TLS_CERT.
tls_name=""
if command -v openssl >/dev/null; then
  tls_port=$(free_port)
  tls_name=$tag-tls
  mkdir "$work/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2>/dev/null
  chmod 0755 "$work/tls"
  chmod 0644 "$work/tls/key.pem" "$work/tls/cert.pem"
  containers+=("$tls_name")
  "$docker" run -d --name "$tls_name" -p "127.0.0.1:$tls_port:8443" \
    -v "$work/tls:/tls:ro" -e EMBER_LISTEN=0.0.0.0:8443 \
    -e EMBER_TLS_CERT=/tls/cert.pem -e EMBER_TLS_KEY=/tls/key.pem ember >/dev/null
else
  say "no openssl: the HTTPS health check is not tried"
fi
wait_healthy 90 "$name" $tls_name
headers=$(get "$port" / -D - -o "$work/index.html") \
  || fail "GET / through the published port 127.0.0.1:$port failed"
grep -qi '^content-type: text/html' <<<"$headers" || fail "GET / is not HTML: $headers"
grep -qi '<!doctype html' "$work/index.html" || fail "GET / is not the UI's page"
# The health check's own output: /readyz answered "ready".
for c in "$name" $tls_name; do
  "$docker" inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{"\n"}}{{end}}' "$c" \
    | grep -q '^0 ready' || fail "the health check of $c did not get 'ready' from /readyz"
done
if [ -n "$tls_name" ]; then
  [ "$(curl -fsS --max-time 15 -k "https://127.0.0.1:$tls_port/readyz")" = ready ] \
    || fail "the HTTPS container does not answer https://127.0.0.1:$tls_port/readyz"
fi
[ "$("$docker" exec "$name" id -u)" = 10001 ] || fail "ember runs as a user other than 10001"
"$docker" exec "$name" test -f /var/lib/ember/ember.db || fail "no database in the volume"
for c in "${containers[@]}"; do
  "$docker" rm -fv "$c" >/dev/null
done
"$docker" volume rm "$tag-data" >/dev/null
containers=()
volumes=()

# --- 5. the ride-sharing example with docker-compose -----------------------

ride=$root/examples/python/rideshare
project=$tag-rideshare
port=$(free_port)
export EMBER_BASE_IMAGE=$base EMBER_BUILD_NETWORK=host EMBER_PORT=$port
# eu-north's lock contention switches every 10 s instead of 2 minutes.
export RIDESHARE_LOCK_PERIOD=10

phase "rideshare: docker-compose up --build, every health check"
project_dirs=("$ride")
project_names=("$project")
up_at=$(date +%s)
compose_in "$ride" "$project" up -d --build >"$work/rideshare-up.log" 2>&1 \
  || { tail -n 30 "$work/rideshare-up.log" >&2; fail "docker-compose up of the rideshare example failed"; }
ember_c=$(container_of "$ride" "$project" ember)
ids=()
for s in ember us-east eu-north ap-south load; do
  ids+=("$(container_of "$ride" "$project" "$s")")
done
wait_healthy 120 "${ids[@]}"

phase "rideshare: three regions arrive, only eu-north shows mutex_lock"
app=ride-sharing-app.cpu
from=$((up_at - 60))
deadline=$(( $(date +%s) + 120 ))
while :; do
  now=$(date +%s)
  regions=$(get "$port" /label-values -G --data-urlencode label=region \
    --data-urlencode "query=$app{}" | json_list || true)
  mutex=$(folded "$port" "$app{region=\"eu-north\"}" "$from" "$now" | mutex_samples) || mutex=0
  [ "$regions" = "ap-south,eu-north,us-east" ] && [ "$mutex" -gt 0 ] && break
  [ "$now" -lt "$deadline" ] \
    || fail "after 120 s: regions '$regions', eu-north's mutex_lock samples $mutex"
  sleep 2
done
until_ts=$(date +%s)
for region in us-east eu-north ap-south; do
  graph=$(folded "$port" "$app{region=\"$region\"}" "$from" "$until_ts")
  n=$(samples <<<"$graph")
  m=$(mutex_samples <<<"$graph")
  say "$region: $n samples, mutex_lock $m"
  [ "$n" -gt 0 ] || fail "no samples from $region"
  if [ "$region" = eu-north ]; then
    [ "$m" -gt 0 ] || fail "eu-north shows no mutex_lock"
  else
    [ "$m" = 0 ] || fail "$region shows mutex_lock ($m samples)"
  fi
done

phase "rideshare: docker-compose restart ember keeps the data"
# A profile of our own at a known time must read the same after the
# restart; the regions' samples so far must all still be there (pushes
# that arrive late may add to them, never take away).
marker_at=$(( $(date +%s) - 30 ))
printf 'deploy;marker 42\n' | curl -fsS --max-time 15 -X POST --data-binary @- \
  "http://127.0.0.1:$port/ingest?name=deploy-marker.cpu&from=$marker_at&format=folded" >/dev/null
marker=$(folded "$port" 'deploy-marker.cpu{}' $((marker_at - 60)) $((marker_at + 60)))
[ "$marker" = "deploy;marker 42" ] || fail "the marker profile reads back as '$marker'"
before=$(folded "$port" "$app{}" "$from" "$until_ts" | samples)
started=$("$docker" inspect -f '{{.State.StartedAt}}' "$ember_c")
compose_in "$ride" "$project" restart ember >"$work/restart.log" 2>&1 \
  || { cat "$work/restart.log" >&2; fail "docker-compose restart ember failed"; }
[ "$("$docker" inspect -f '{{.State.StartedAt}}' "$ember_c")" != "$started" ] \
  || fail "ember was not restarted"
wait_healthy 60 "$ember_c"
marker=$(folded "$port" 'deploy-marker.cpu{}' $((marker_at - 60)) $((marker_at + 60)))
[ "$marker" = "deploy;marker 42" ] || fail "after the restart the marker reads '$marker'"
after=$(folded "$port" "$app{}" "$from" "$until_ts" | samples)
say "samples up to $until_ts: $before before the restart, $after after"
[ "$before" -gt 0 ] && [ "$after" -ge "$before" ] || fail "samples were lost in the restart"
regions=$(get "$port" /label-values -G --data-urlencode label=region \
  --data-urlencode "query=$app{}" | json_list)
[ "$regions" = "ap-south,eu-north,us-east" ] || fail "regions after the restart: $regions"

phase "rideshare: docker-compose down -v leaves nothing"
compose_in "$ride" "$project" down -v >"$work/down.log" 2>&1 \
  || { cat "$work/down.log" >&2; fail "docker-compose down -v failed"; }
project_dirs=()
project_names=()
assert_project_gone "$project"

# --- 6. the minimal example: Ember beside one app --------------------------

mini=$root/examples/compose
project=$tag-compose
port=$(free_port)
export EMBER_PORT=$port

phase "compose example: up --build, the demo app's profiles arrive, down -v"
project_dirs=("$mini")
project_names=("$project")
compose_in "$mini" "$project" up -d --build >"$work/compose-up.log" 2>&1 \
  || { tail -n 30 "$work/compose-up.log" >&2; fail "docker-compose up of examples/compose failed"; }
ids=("$(container_of "$mini" "$project" ember)" "$(container_of "$mini" "$project" app)")
wait_healthy 120 "${ids[@]}"
deadline=$(( $(date +%s) + 90 ))
while :; do
  jobs=$(get "$port" /label-values -G --data-urlencode label=job \
    --data-urlencode 'query=my-app.cpu{}' | json_list || true)
  [ "$jobs" = "report,resize" ] && break
  [ "$(date +%s)" -lt "$deadline" ] || fail "after 90 s, my-app.cpu's jobs are '$jobs'"
  sleep 2
done
say "my-app.cpu: jobs $jobs"
compose_in "$mini" "$project" down -v >"$work/down.log" 2>&1 \
  || { cat "$work/down.log" >&2; fail "docker-compose down -v failed"; }
project_dirs=()
project_names=()
assert_project_gone "$project"

# --- 7. two nodes on one PostgreSQL database -------------------------------

pgx=$root/examples/postgres
project=$tag-postgres
port_a=$(free_port)
port_b=$(free_port)
while [ "$port_b" = "$port_a" ]; do port_b=$(free_port); done
export EMBER_PORT_A=$port_a EMBER_PORT_B=$port_b

# owners: the sum of ember_store_maintenance_owner over both nodes.
owners() {
  local n=0 port v
  for port in "$port_a" "$port_b"; do
    v=$(get "$port" /metrics | awk '$1 == "ember_store_maintenance_owner" { print $2 }')
    [ -n "$v" ] || fail "no ember_store_maintenance_owner in the /metrics of 127.0.0.1:$port"
    n=$((n + v))
  done
  echo "$n"
}

# one_owner: waits (30 s at most) until exactly one node holds the
# maintenance lock; two at once is a failure at once.
one_owner() {
  local n deadline=$(( $(date +%s) + 30 ))
  while :; do
    n=$(owners)
    [ "$n" -le 1 ] || fail "$n nodes hold the maintenance lock at once"
    [ "$n" = 1 ] && return
    [ "$(date +%s)" -lt "$deadline" ] || fail "after 30 s no node holds the maintenance lock"
    sleep 1
  done
}

# pg_renders: every answer the check compares, from node PORT: each
# region's folded graph, then the whole app's JSON flame graph.
pg_renders() {
  local r
  for r in us-east eu-north ap-south; do
    folded "$1" "deploy-pg.cpu{region=\"$r\"}" "$pg_from" "$pg_until"
    echo "--"
  done
  get "$1" /render -G --data-urlencode 'query=deploy-pg.cpu{}' \
    --data-urlencode "from=$pg_from" --data-urlencode "until=$pg_until"
}

phase "postgres: docker-compose up --build, PostgreSQL and both nodes healthy"
project_dirs=("$pgx")
project_names=("$project")
compose_in "$pgx" "$project" up -d --build >"$work/postgres-up.log" 2>&1 \
  || { tail -n 30 "$work/postgres-up.log" >&2; fail "docker-compose up of examples/postgres failed"; }
pg_c=$(container_of "$pgx" "$project" postgres)
a_c=$(container_of "$pgx" "$project" ember-a)
b_c=$(container_of "$pgx" "$project" ember-b)
wait_healthy 120 "$pg_c" "$a_c" "$b_c"
[ "$("$docker" exec "$pg_c" id -un)" = postgres ] || fail "PostgreSQL runs as a user other than postgres"
"$docker" exec "$pg_c" test -s /var/lib/postgresql/data/PG_VERSION \
  || fail "no PostgreSQL cluster in the volume"

phase "postgres: pushes to node A read the same from node B, one maintenance owner"
# Three series of one app, pushed a few minutes back with distinct counts.
pg_from=$(( $(date +%s) / 10 * 10 - 300 ))
pg_until=$((pg_from + 120))
i=0
for r in us-east eu-north ap-south; do
  i=$((i + 1))
  printf 'main;serve;%s_handler %d\nmain;gc %d\n' "${r/-/_}" $((10 * i)) "$i" \
    | curl -fsS --max-time 15 -X POST --data-binary @- \
        "http://127.0.0.1:$port_a/ingest?name=deploy-pg.cpu%7Bregion%3D$r%7D&format=folded&from=$((pg_from + 10 * i))&until=$((pg_from + 10 * i + 10))" \
        >/dev/null \
    || fail "a push to node A (127.0.0.1:$port_a) failed"
done
got=$(folded "$port_b" 'deploy-pg.cpu{region="eu-north"}' "$pg_from" "$pg_until" | sort)
[ "$got" = $'main;gc 2\nmain;serve;eu_north_handler 20' ] \
  || fail "node B reads eu-north as '$got'"
answers_a=$(pg_renders "$port_a")
answers_b=$(pg_renders "$port_b")
[ "$answers_a" = "$answers_b" ] || {
  diff <(echo "$answers_a") <(echo "$answers_b") >&2
  fail "node A and node B give different /render answers"
}
regions=$(get "$port_b" /label-values -G --data-urlencode label=region \
  --data-urlencode 'query=deploy-pg.cpu{}' | json_list)
[ "$regions" = "ap-south,eu-north,us-east" ] || fail "node B's regions: '$regions'"
total=$(folded "$port_b" 'deploy-pg.cpu{}' "$pg_from" "$pg_until" | samples)
[ "$total" = 66 ] || fail "node B reads $total samples of deploy-pg.cpu, not 66"
say "node B reads what node A took: regions $regions, $total samples, identical /render answers"
one_owner
say "one maintenance owner: node A $(get "$port_a" /metrics | awk '$1 == "ember_store_maintenance_owner" { print $2 }'), node B $(get "$port_b" /metrics | awk '$1 == "ember_store_maintenance_owner" { print $2 }')"

phase "postgres: docker-compose restart ember-a, then postgres, keeps the data"
started=$("$docker" inspect -f '{{.State.StartedAt}}' "$a_c")
compose_in "$pgx" "$project" restart ember-a >"$work/restart.log" 2>&1 \
  || { cat "$work/restart.log" >&2; fail "docker-compose restart ember-a failed"; }
[ "$("$docker" inspect -f '{{.State.StartedAt}}' "$a_c")" != "$started" ] \
  || fail "ember-a was not restarted"
wait_healthy 60 "$a_c"
[ "$(pg_renders "$port_a")" = "$answers_a" ] || fail "after its restart node A answers otherwise"
one_owner
# The database itself restarted: the cluster in the volume is started as
# it is (no second initdb), and both nodes reconnect.
compose_in "$pgx" "$project" restart postgres >"$work/restart.log" 2>&1 \
  || { cat "$work/restart.log" >&2; fail "docker-compose restart postgres failed"; }
wait_healthy 60 "$pg_c"
deadline=$(( $(date +%s) + 30 ))
for port in "$port_a" "$port_b"; do
  until [ "$(pg_renders "$port" 2>/dev/null)" = "$answers_a" ]; do
    [ "$(date +%s)" -lt "$deadline" ] \
      || fail "30 s after PostgreSQL's restart 127.0.0.1:$port answers otherwise"
    sleep 1
  done
done
# And a push to node B after it (retried: the first may meet the connection
# the restart broke) reads the same from node A.
deadline=$(( $(date +%s) + 30 ))
until printf 'main;after_restart 5\n' | curl -fsS --max-time 15 -X POST --data-binary @- \
    "http://127.0.0.1:$port_b/ingest?name=deploy-pg-late.cpu&format=folded&from=$pg_from&until=$((pg_from + 10))" \
    >/dev/null 2>&1; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "30 s after PostgreSQL's restart node B takes no push"
  sleep 1
done
for port in "$port_a" "$port_b"; do
  got=$(folded "$port" 'deploy-pg-late.cpu{}' "$pg_from" "$pg_until")
  [ "$got" = 'main;after_restart 5' ] || fail "127.0.0.1:$port reads the push after the restart as '$got'"
done
[ "$("$docker" logs "$pg_c" 2>&1 | grep -c 'created the cluster')" = 1 ] \
  || fail "PostgreSQL's entrypoint did not create the cluster exactly once"

phase "postgres: docker-compose down -v leaves nothing"
compose_in "$pgx" "$project" down -v >"$work/down.log" 2>&1 \
  || { cat "$work/down.log" >&2; fail "docker-compose down -v failed"; }
project_dirs=()
project_names=()
assert_project_gone "$project"
phase_end

for image in "$base" ember ember-rideshare ember-demo-app ember-postgres; do
  size=$("$docker" image inspect -f '{{.Size}}' "$image")
  say "image $image: $((size / 1000000)) MB"
done
