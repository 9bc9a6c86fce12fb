"""The one-shot `init` service: secrets, metadata database and bucket, before anything else.

It is idempotent: every `up` runs it, on a fresh or an existing environment.
"""

from __future__ import annotations

import subprocess
import sys
import time

import boto3
from botocore.config import Config

from emulator.environment import state
from emulator.services import health
from emulator.services.context import ServiceContext

WAIT_S = 120


def _say(message: str) -> None:
    print(f"init: {message}", flush=True)


def wait_for(component: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = health.check(component)
        if ok:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"init: {component} not ready after {timeout:.0f} s ({detail})")
        time.sleep(0.5)


def _schema_revision(ctx: ServiceContext) -> str | None:
    import psycopg2

    url = ctx.infra.db_url.replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('alembic_version') is not null")
        if not cur.fetchone()[0]:
            return None
        cur.execute("select version_num from alembic_version")
        row = cur.fetchone()
    return row[0] if row else None


def migrate_database(ctx: ServiceContext) -> None:
    """`airflow initdb` creates or upgrades the schema (safe to repeat on 1.10.12).

    It costs seconds, so a restart skips it when the schema is still at the revision the last
    successful run left, for the same Airflow version.
    """
    marker = ctx.state_dir / "schema-revision"
    expected = f"{ctx.spec['AirflowVersion']} {_schema_revision(ctx)}"
    if marker.exists() and marker.read_text().strip() == expected:
        _say("metadata database is up to date")
        return
    _say("migrating the metadata database")
    result = subprocess.run(
        ["airflow", "initdb"], env=ctx.airflow_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit("init: `airflow initdb` failed (output above)")
    marker.write_text(f"{ctx.spec['AirflowVersion']} {_schema_revision(ctx)}\n")


def ensure_bucket(ctx: ServiceContext) -> None:
    """The environment's bucket, with versioning on as MWAA requires."""
    s3 = boto3.client(
        "s3",
        endpoint_url=ctx.infra.s3_endpoint,
        aws_access_key_id=ctx.infra.s3_access_key,
        aws_secret_access_key=ctx.infra.s3_secret_key,
        region_name=ctx.infra.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
    bucket = ctx.spec.bucket
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def register_environment(ctx: ServiceContext) -> None:
    """The environment's record for the API, CREATING the first time.

    Later, UpdateEnvironment's changes are kept across restarts, unless environment.json
    itself was edited since it was last registered: then the file wins.
    """
    import json

    from emulator.api.store import Store

    store = Store(ctx.infra.db_url)
    store.ensure_schema()
    marker = ctx.state_dir / "registered-environment.json"
    if store.create(ctx.spec.name, ctx.spec.data, "CREATING"):
        _say(f"environment {ctx.spec.name} registered")
    elif not marker.exists() or json.loads(marker.read_text()) != ctx.spec.data:
        record = store.get(ctx.spec.name)
        store.update(ctx.spec.name, spec=ctx.spec.data, generation=record.generation + 1)
        _say("environment.json changed: its definition replaces the stored one")
    marker.write_text(json.dumps(ctx.spec.data))


def run(ctx: ServiceContext) -> None:
    state.load_or_create(ctx.state_dir)
    _say("waiting for PostgreSQL")
    wait_for("postgres")
    migrate_database(ctx)
    register_environment(ctx)
    _say("waiting for S3")
    wait_for("s3")
    _say(f"bucket {ctx.spec.bucket} with versioning")
    ensure_bucket(ctx)
    _say("done")
