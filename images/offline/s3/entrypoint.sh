#!/bin/sh
# MinIO's command line (`server /data`, `--console-address ...`) is accepted and ignored: moto
# serves every bucket from memory on port 9000 and takes any credentials, so
# MINIO_ROOT_USER/MINIO_ROOT_PASSWORD need no handling either.
set -eu
if [ "${1:-server}" != server ]; then
    # Anything else is a command to run in the container, as with the official image.
    exec "$@"
fi
echo "s3 stand-in: moto S3 server on 0.0.0.0:9000 (MinIO's arguments ignored: $*)"
exec python /opt/moto/serve.py
