#!/bin/sh
# As the official redis image: `redis-server [config] [options]` (or just options) runs the
# server as the redis user. Without a config file it listens on every interface with protected
# mode off (other containers connect without a password) and keeps its snapshots in /data.
set -eu
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
    shift
    case "${1:-}" in
        *.conf) set -- redis-server "$@" ;;
        *) set -- redis-server --bind '* -::*' --protected-mode no --dir /data "$@" ;;
    esac
    if [ "$(id -u)" = 0 ]; then
        chown -R redis:redis /data 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
