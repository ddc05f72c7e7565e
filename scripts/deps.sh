#!/usr/bin/env bash
# Installs the Debian 12 packages Ember needs to build and test, if any are
# missing. Safe to run again: it does nothing when everything is present.
set -euo pipefail

packages=(build-essential cmake pkg-config
          libmicrohttpd-dev libsqlite3-dev libzstd-dev libjansson-dev zlib1g-dev
          libcmocka-dev libprotobuf-c-dev protobuf-c-compiler libre2-dev libpq-dev)
if [ "${1:-}" = "--test" ]; then
  # clang and its runtime build the fuzz drivers; sqlite3 lets tests and
  # people inspect a data directory; python3 runs the tests of the Python
  # agent and the ride-sharing example (examples/python); Go runs the real
  # pprof agent of the integration tests.
  packages+=(clang libclang-rt-14-dev sqlite3 curl python3 golang-go)
  # A JDK runs the Java example under its own Flight Recorder, whose
  # recordings the JFR tests push.
  packages+=(openjdk-17-jdk-headless)
  # The deployment test (tests/deploy/): a Docker engine and
  # docker-compose, and debootstrap to make the base image from the Debian
  # mirror where no registry serves one.
  packages+=(docker.io docker-compose debootstrap)
  # The web UI tests: a headless browser, and node with npm for
  # playwright-core; node also runs the real @pyroscope/nodejs agent.
  packages+=(chromium nodejs npm)
  # The operations examples (tests/ops): systemd-analyze verifies the unit,
  # strace and setpriv watch the server as the unit's sandbox would run it,
  # nginx and prometheus (with promtool) run the proxy and monitoring
  # configurations, openssl makes their test certificates. The tests start
  # what they need themselves; no service is started by the install (below).
  packages+=(systemd strace util-linux nginx prometheus openssl)
  # ember spy's tests (tests/integration/spy/) read Debian's python3, its
  # debug build (python3.11-dbg) and a small C program embedding
  # libpython3.11 (python3-dev: its headers and python3.11-config), and make
  # a stripped static program (libc6-dev).
  packages+=(python3-dev python3.11-dbg libc6-dev)
  # The CI examples' test (tests/ops/test_ci_examples.py) reads their YAML.
  packages+=(python3-yaml)
  # The Python agent's offline install, as the docs give it: a venv of
  # Debian's python3 that builds with Debian's setuptools and wheel.
  packages+=(python3-venv python3-setuptools python3-wheel)
  # perf records the profile the README's perf section is tested with
  # (tests/docs/test_perf.py uses a recorded one where perf cannot run).
  packages+=(linux-perf)
  # The PostgreSQL store's tests start a throw-away PostgreSQL 15
  # (scripts/pgtest.sh), run as an unprivileged user by runuser.
  packages+=(postgresql-15)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] && continue
  # A nodejs from another repository (NodeSource's bundles npm and conflicts
  # with Debian's npm package) serves as well as Debian's; so does any python3
  # already on the PATH.
  case "$p" in
    python3) command -v python3 >/dev/null && continue ;;
    # Any JDK 11 or later on the PATH records JFR as well.
    openjdk-17-jdk-headless) command -v javac >/dev/null && command -v java >/dev/null && continue ;;
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    # Docker's own packages (docker-ce, the compose plugin) conflict with
    # Debian's and serve as well.
    docker.io) command -v docker >/dev/null && command -v dockerd >/dev/null && continue ;;
    docker-compose)
      command -v docker-compose >/dev/null && continue
      docker compose version >/dev/null 2>&1 && continue ;;
  esac
  missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ember: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo="sudo"
  else
    echo "ember: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# Debian starts a service when it installs one (nginx, prometheus, docker);
# the tests start their own, so a policy-rc.d of the install's own, removed
# after, says no. One that is already there is left alone.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# installed by ember scripts/deps.sh for one install\nexit 101\n' |
    $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  own_policy=1
fi
trap 'if [ -n "$own_policy" ]; then $sudo rm -f "$policy"; fi' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
