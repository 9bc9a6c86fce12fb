"""`mwaa-local run watcher`: keeps the dags folder a mirror of s3://{bucket}/{DagS3Path}.

Every round lists the prefix and applies the plan (emulator/watcher/dag_sync.py). With
`timing: fast` (the default) a round runs every second; with `timing: mwaa`, every 30 s as MWAA
does. When S3 cannot be reached nothing is deleted: the files stay and syncing resumes when it
answers. The last round's outcome is kept in the state folder (watcher.json) for health and
status.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from emulator.context import ServiceContext
from emulator.environment import state_files
from emulator.environment.definition import current
from emulator.environment.store import Store
from emulator.s3 import wire as s3_wire
from emulator.watcher.dag_sync import SyncResult, for_environment

LOG = logging.getLogger(__name__)
INTERVALS_S = {"fast": 1.0, "mwaa": 30.0}


def _report(result: SyncResult) -> None:
    for path in result.fetched:
        LOG.info("synced %s", path)
    for path in result.deleted:
        LOG.info("deleted %s (gone from the bucket)", path)


def run(ctx: ServiceContext) -> int:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    store = Store(ctx.infra.db_url, keep_open=True)
    s3 = s3_wire.client(ctx.infra, timeout_s=5)
    interval = INTERVALS_S.get(ctx.timing, 1.0)
    folder = Path(ctx.paths.dags_folder)
    record: dict[str, Any] = {"interval_s": interval, "folder": str(folder), "last_ok": None}
    failing = False
    warned: set[str] = set()
    LOG.info("mirroring the bucket into %s every %g s", folder, interval)
    while not stopping.is_set():
        try:
            spec = current(store, ctx.spec)[1]
        except Exception:  # noqa: BLE001 - the database may be restarting: keep the last one
            spec = ctx.spec
        sync = for_environment(s3, spec, folder, ctx.state_dir)
        result = sync.run_once()
        _report(result)
        for key, why in result.skipped.items():
            if key not in warned:
                warned.add(key)
                LOG.warning("not syncing s3://%s/%s: %s", spec.bucket, key, why)
        now = time.time()
        if result.error:
            if not failing:
                kept = sum(1 for p in folder.rglob("*") if p.is_file())
                LOG.warning(
                    "%s; keeping the %d local files, retrying every %g s",
                    result.error,
                    kept,
                    interval,
                )
            failing = True
            record.update(last_error=result.error, last_error_at=now)
        else:
            if failing:
                LOG.info("S3 answers again: syncing resumed")
            failing = False
            record.update(last_ok=now, source=f"s3://{sync.bucket}/{sync.prefix}", last_error=None)
            if result.fetched or result.deleted:
                record["last_change"] = now
        try:
            state_files.write(ctx.state_dir, state_files.WATCHER, record)
        except OSError:
            LOG.warning("cannot record the round in %s", ctx.state_dir, exc_info=True)
        stopping.wait(interval)
    return 0
