"""The one-shot `init` service: secrets, metadata database and bucket, before anything else.

It is idempotent: every `up` runs it, on a fresh or an existing environment.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from emulator import health, waiting
from emulator import project as project_files
from emulator.artifacts import pinning, staging
from emulator.artifacts.plugins_zip import deterministic_zip
from emulator.cloudwatch import groups, log_types
from emulator.cloudwatch.client import client as logs_client
from emulator.config import settings
from emulator.context import ServiceContext
from emulator.environment import database, state_files
from emulator.environment import secrets as secrets_module
from emulator.environment import spec as spec_module
from emulator.environment.definition import current
from emulator.environment.store import Store
from emulator.errors import ServiceError, StagingError
from emulator.s3 import objects
from emulator.s3.client import client as s3_client
from emulator.watcher.dag_sync import for_environment
from emulator.watcher.plan import dag_prefix

LOG = logging.getLogger(__name__)
WAIT_S = 120


def wait_for(component: str, timeout: float = WAIT_S) -> None:
    def ready() -> bool:
        return health.check(component)[0]

    try:
        waiting.until(ready, timeout, component)
    except waiting.WaitTimeout:
        raise ServiceError(
            f"{component} not ready after {timeout:.0f} s ({health.check(component)[1]})"
        ) from None


def _schema_revision(ctx: ServiceContext) -> str | None:
    with database.connect(ctx.infra.db_url) as conn, conn.cursor() as cur:
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
        LOG.info("metadata database is up to date")
        return
    LOG.info("migrating the metadata database")
    result = subprocess.run(
        ["airflow", "initdb"], env=ctx.airflow_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise ServiceError("`airflow initdb` failed (output above)")
    marker.write_text(f"{ctx.spec['AirflowVersion']} {_schema_revision(ctx)}\n")


def ensure_bucket(ctx: ServiceContext) -> None:
    """The environment's bucket: created with versioning on, or refused without it (MWAA
    pins plugins.zip and requirements.txt by object version)."""
    s3 = s3_client(ctx.infra)
    bucket = ctx.spec.bucket
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    elif not objects.versioning_enabled(s3, bucket):
        raise ServiceError(
            f"bucket {bucket} does not have versioning enabled, which MWAA requires. "
            f"Enable it (aws s3api put-bucket-versioning --bucket {bucket} "
            "--versioning-configuration Status=Enabled) and run `make up` again."
        )


def register_environment(ctx: ServiceContext) -> None:
    """The environment's record for the API, CREATING the first time.

    Later, UpdateEnvironment's changes are kept across restarts, unless environment.json
    itself was edited since it was last registered: then the file wins.
    """
    store = Store(ctx.infra.db_url)
    store.ensure_schema()
    marker = ctx.state_dir / state_files.REGISTERED
    if store.create(ctx.spec.name, ctx.spec.data, "CREATING"):
        LOG.info("environment %s registered", ctx.spec.name)
    elif not marker.exists() or json.loads(marker.read_text()) != ctx.spec.data:
        record = store.get(ctx.spec.name)
        assert record is not None
        store.update(ctx.spec.name, spec=ctx.spec.data, generation=record.generation + 1)
        LOG.info("environment.json changed: its definition replaces the stored one")
    marker.write_text(json.dumps(ctx.spec.data))


def seed_bucket(ctx: ServiceContext) -> None:
    """A fresh environment's bucket gets the project's dags/, plugins/ (zipped) and
    requirements.txt, as `mwaa-local deploy` would upload them. Only once: from
    then on the bucket is the source, and `mwaa-local deploy` sends local changes to it."""
    from emulator import deploy

    seed = settings().seed_dir
    marker = ctx.state_dir / "bucket-seeded"
    if not seed or marker.exists():
        return
    project, s3, spec = Path(seed), s3_client(ctx.infra), ctx.spec
    prefix = dag_prefix(spec["DagS3Path"])
    empty = s3.list_objects_v2(Bucket=spec.bucket, Prefix=prefix, MaxKeys=1)["KeyCount"] == 0
    dags = project_files.dags_dir(project)
    if empty and dags.is_dir():
        deploy.sync_dags(s3, spec.bucket, spec["DagS3Path"], dags, LOG.info)
    plugins = project_files.plugins_dir(project)
    key = spec.get("PluginsS3Path")
    if key and plugins.is_dir() and objects.latest_version(s3, spec.bucket, key) is None:
        if any(p.is_file() for p in plugins.rglob("*")):
            deploy.put_if_changed(s3, spec.bucket, key, deterministic_zip(plugins))
            LOG.info("+ %s", key)
    requirements = project_files.requirements_file(project)
    key = spec.get("RequirementsS3Path")
    if key and requirements is not None and objects.latest_version(s3, spec.bucket, key) is None:
        deploy.put_if_changed(s3, spec.bucket, key, requirements.read_bytes())
        LOG.info("+ %s", key)
    marker.write_text("the bucket was seeded from the project once\n")


def pin_and_stage(ctx: ServiceContext) -> None:
    """Pin plugins.zip and requirements.txt to their latest versions when the definition names
    a path without one (as CreateEnvironment does), and stage the versions it names.

    A version that cannot be staged is reported and Airflow starts without it, as MWAA does
    when a requirements install fails at creation.
    """
    store, s3 = Store(ctx.infra.db_url), s3_client(ctx.infra)
    record = store.get(ctx.spec.name)
    assert record is not None
    pinned = pinning.pin_latest(s3, ctx.spec.bucket, record.spec)
    for version_key, version in pinned.items():
        LOG.info("%s pinned to version %s", version_key, version)
    if pinned:
        store.update(ctx.spec.name, spec={**record.spec, **pinned})
    spec = spec_module.validate({**record.spec, **pinned})
    try:
        staging.stage(s3, spec, ctx.state_dir)
    except StagingError as exc:
        LOG.warning("%s; Airflow starts without it", exc)


def ensure_log_groups(ctx: ServiceContext) -> None:
    """A log group for every log type the (stored) definition enables, as MWAA makes them."""
    spec = current(Store(ctx.infra.db_url), ctx.spec)[1]
    names = log_types.enabled_groups(spec.name, spec.get("LoggingConfiguration"))
    made = groups.ensure_groups(logs_client(ctx.infra.logs_endpoint, ctx.infra.region), names)
    LOG.info("log groups: %s", ", ".join(f"{n} (new)" if n in made else n for n in names) or "none")


def first_dag_sync(ctx: ServiceContext) -> None:
    """The dags folder is filled before the scheduler starts (the watcher keeps it so)."""
    sync = for_environment(
        s3_client(ctx.infra), ctx.spec, Path(ctx.paths.dags_folder), ctx.state_dir
    )
    result = sync.run_once()
    if result.error:
        LOG.warning("%s; the watcher will retry", result.error)
    else:
        LOG.info(
            "dags folder synced (%d fetched, %d deleted)", len(result.fetched), len(result.deleted)
        )


def run(ctx: ServiceContext) -> int:
    secrets_module.load_or_create(ctx.state_dir)
    LOG.info("waiting for PostgreSQL")
    wait_for("postgres")
    migrate_database(ctx)
    register_environment(ctx)
    LOG.info("waiting for S3")
    wait_for("s3")
    LOG.info("bucket %s with versioning", ctx.spec.bucket)
    ensure_bucket(ctx)
    seed_bucket(ctx)
    pin_and_stage(ctx)
    LOG.info("waiting for CloudWatch Logs")
    wait_for("logs")
    ensure_log_groups(ctx)
    first_dag_sync(ctx)
    LOG.info("done")
    return 0
