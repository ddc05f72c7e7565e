#!/bin/sh
# Starts PostgreSQL; on the first start (an empty $PGDATA) makes the cluster:
#
#   - POSTGRES_USER (default postgres) logs in with POSTGRES_PASSWORD
#     (required) and owns the database POSTGRES_DB (default: the user's
#     name). Unlike the official image, a POSTGRES_USER other than postgres
#     is an ordinary role: owning its database is all Ember needs
#     (docs/operations.md, "Scaling out with PostgreSQL").
#   - Every connection over the network authenticates with
#     scram-sha-256; the superuser postgres has no password and logs in
#     only over the Unix socket, as the container's user postgres.
#
# A $PGDATA that holds a cluster already is started as it is.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"

init_cluster() {
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD is not set; it is required to create the database" >&2
    exit 1
  fi
  initdb --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
  cat >"$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER      ADDRESS  METHOD
local   all       postgres           peer
local   all       all                scram-sha-256
host    all       all       all      scram-sha-256
HBA
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  # A server on the socket alone while the role and database are made, so
  # that no client reaches it half set up.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
  psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
    -v user="$user" -v db="$db" <<'SQL'
\getenv pass POSTGRES_PASSWORD
SELECT :'user' = 'postgres' AS is_super \gset
\if :is_super
ALTER ROLE postgres PASSWORD :'pass';
\else
CREATE ROLE :"user" LOGIN PASSWORD :'pass';
\endif
SELECT :'db' <> 'postgres' AS new_db \gset
\if :new_db
CREATE DATABASE :"db" OWNER :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
\endif
SQL
  pg_ctl -D "$PGDATA" -m fast -w -s stop
  echo "postgres-entrypoint: created the cluster in $PGDATA: database $db, owner $user"
}

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_cluster
fi
exec "$@"
