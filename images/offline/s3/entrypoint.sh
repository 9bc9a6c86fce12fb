#!/bin/sh
# MinIO's command line is accepted: `server [FLAGS] DIR...` keeps the buckets in the first DIR
# (/data in docker-compose.yml). MinIO's flags (`--console-address :9001`, `--address`, ...) are
# ignored: the server listens on port 9000, where docker-compose.yml and `mc ready local` look.
# moto takes any credentials, so MINIO_ROOT_USER/MINIO_ROOT_PASSWORD need no handling either.
set -eu
if [ "${1:-server}" != server ]; then
    # Anything else is a command to run in the container, as with the official image.
    exec "$@"
fi
[ $# -eq 0 ] || shift
data=
while [ $# -gt 0 ]; do
    case "$1" in
        # MinIO's switches: no value follows them.
        --quiet | --anonymous | --json | --no-compat) ;;
        --*=*) ;;
        # Any other flag has a value: skip that too.
        -*) [ $# -eq 1 ] || shift ;;
        *) [ -n "$data" ] || data=$1 ;;
    esac
    shift
done
data=${data:-/data}
echo "s3 stand-in: moto S3 server on 0.0.0.0:9000, buckets kept in $data"
exec python /opt/moto/serve.py --host 0.0.0.0 --port 9000 --data "$data"
