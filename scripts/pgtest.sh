#!/usr/bin/env bash
# A throw-away PostgreSQL 15 for the tests of the PostgreSQL store.
#
#   pgtest.sh start STATE   initdb in a new temporary directory, start the
#                           server on a Unix socket there (no TCP), and write
#                           its connection URL (database "postgres", role
#                           "ember", trust auth over the socket only) to STATE
#   pgtest.sh stop STATE    stop that server and remove its directory
#
# PostgreSQL refuses to run as root: as root, the server runs as the
# unprivileged user "nobody", which owns the temporary directory. Exits 77,
# saying what is missing, where Debian's postgresql-15 is not installed
# (scripts/deps.sh --test installs it).
set -euo pipefail

cmd=${1:-}
state=${2:-}
if [ -z "$cmd" ] || [ -z "$state" ]; then
  echo "usage: pgtest.sh start|stop STATE_FILE" >&2
  exit 2
fi

bin=""
for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bin=$d; break; fi
done

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

stop() {
  [ -f "$state.dir" ] || return 0
  local dir
  dir=$(cat "$state.dir")
  if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  rm -f "$state" "$state.dir"
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "pgtest.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac

if [ -z "$bin" ]; then
  echo "SKIP: PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql-15 (scripts/deps.sh --test)" >&2
  exit 77
fi
if [ "$(id -u)" -eq 0 ] && ! command -v runuser >/dev/null; then
  echo "SKIP: running as root and runuser (util-linux) is missing, so PostgreSQL cannot run as an unprivileged user" >&2
  exit 77
fi

stop # a server left over from an interrupted run
dir=$(mktemp -d "${TMPDIR:-/tmp}/ember-pg-XXXXXX")
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown nobody "$dir"
echo "$dir" >"$state.dir"
if ! as_owner "$bin/initdb" -D "$dir/data" -U ember --auth=trust -E UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2
  echo "pgtest.sh: initdb failed" >&2
  exit 1
fi
# Durable as in production (fsync on): the tests kill nodes, not the
# database, but a test of "200 means committed" should not run on a
# database that lies about commits.
if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -c listen_addresses= -p 5432 -c max_connections=200" start >/dev/null; then
  cat "$dir/server.log" >&2
  echo "pgtest.sh: the server did not start" >&2
  exit 1
fi
echo "postgresql://ember@/postgres?host=$dir&port=5432" >"$state"
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $dir"
