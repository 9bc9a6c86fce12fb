#!/bin/bash
# The official postgres image's start-up, reduced to what mwaa-local relies on:
#  - started as root: fix the data folder's ownership, then re-run this script as postgres;
#  - empty data folder: initdb with POSTGRES_USER/POSTGRES_PASSWORD, create POSTGRES_DB, run
#    /docker-entrypoint-initdb.d/*.sql and *.sh, all on a private socket;
#  - then exec the server (PID 1, so `docker stop` reaches it).
set -Eeuo pipefail

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    chown postgres:postgres /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
        echo "postgres stand-in: POSTGRES_PASSWORD is required (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
        exit 1
    fi
    echo "postgres stand-in: initialising $PGDATA for user $POSTGRES_USER, database $POSTGRES_DB"
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    password_option=(--pwfile="$pwfile")
    [ -n "${POSTGRES_PASSWORD:-}" ] || password_option=()
    initdb --username="$POSTGRES_USER" "${password_option[@]}" --encoding=UTF8 \
        --locale=C.UTF-8 --auth-local=trust \
        --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >/dev/null
    rm -f "$pwfile"
    echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

    # The set-up server listens on a private socket only, so that `pg_isready` (the
    # healthcheck) and clients see nothing until the database is complete.
    socket_dir=$(mktemp -d)
    pg_ctl -D "$PGDATA" -w -s \
        -o "-c listen_addresses='' -c unix_socket_directories=$socket_dir" start
    export PGHOST="$socket_dir" PGUSER="$POSTGRES_USER"
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 -q --dbname postgres --set db="$POSTGRES_DB" \
            <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "postgres stand-in: running $f"; . "$f" ;;
            *.sql) echo "postgres stand-in: running $f"; psql -v ON_ERROR_STOP=1 -q --dbname "$POSTGRES_DB" -f "$f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -w -s -m fast stop
    unset PGHOST PGUSER
    rmdir "$socket_dir"
    echo "postgres stand-in: initialised"
fi

exec "$@"
