"""`mwaa-local run watcher`: keeps the dags folder a mirror of s3://{bucket}/{DagS3Path}.

Every round lists the prefix and applies the plan (dag_sync.py). With `timing: fast` (the
default) a round runs every second; with `timing: mwaa`, every 30 s as MWAA does. When S3
cannot be reached nothing is deleted: the files stay and syncing resumes when it answers.
The last round's outcome is kept in the state folder (watcher.json) for health and status.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from emulator.api.store import Store
from emulator.services.context import ServiceContext
from emulator.services.supervise import current
from emulator.watcher import s3 as s3_module
from emulator.watcher.dag_sync import SyncResult, for_environment

STATE_FILE = "watcher.json"
INTERVALS_S = {"fast": 1.0, "mwaa": 30.0}


def _say(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{stamp}] watcher: {message}", flush=True)


def read_state(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_state(state_dir: Path, record: dict) -> None:
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)


def _report(result: SyncResult, folder: Path) -> None:
    for path in result.fetched:
        _say(f"synced {path}")
    for path in result.deleted:
        _say(f"deleted {path} (gone from the bucket)")


def run(ctx: ServiceContext) -> int:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    store = Store(ctx.infra.db_url)
    s3 = s3_module.client(ctx.infra, timeout_s=5)
    interval = INTERVALS_S.get(ctx.timing, 1.0)
    folder = Path(ctx.paths.dags_folder)
    record: dict = {"interval_s": interval, "folder": str(folder), "last_ok": None}
    failing = False
    warned: set[str] = set()
    _say(f"mirroring the bucket into {folder} every {interval:g} s")
    while not stopping.is_set():
        try:
            live = current(ctx, store)[1]
        except Exception:  # noqa: BLE001 - the database may be restarting: keep the last one
            live = ctx
        sync = for_environment(s3, live.spec, folder, ctx.state_dir)
        result = sync.run_once()
        _report(result, folder)
        for key, why in result.skipped.items():
            if key not in warned:
                warned.add(key)
                _say(f"not syncing s3://{live.spec.bucket}/{key}: {why}")
        now = time.time()
        if result.error:
            if not failing:
                kept = sum(1 for p in folder.rglob("*") if p.is_file())
                _say(
                    f"{result.error}; keeping the {kept} local files, retrying every {interval:g} s"
                )
            failing = True
            record.update(last_error=result.error, last_error_at=now)
        else:
            if failing:
                _say("S3 answers again: syncing resumed")
            failing = False
            record.update(last_ok=now, source=f"s3://{sync.bucket}/{sync.prefix}", last_error=None)
            if result.fetched or result.deleted:
                record["last_change"] = now
        try:
            _write_state(ctx.state_dir, record)
        except OSError:
            pass
        stopping.wait(interval)
    return 0
