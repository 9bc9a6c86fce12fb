"""`airflow scheduler` for the "fast" timing: Airflow 1.10.12's scheduler whose DAG file
processor manager parses a file when something waits on it (parse_policy.py) instead of every
file once a second.

Airflow's code is not changed. The scheduler is started here, with Airflow's manager class
replaced by a subclass (the agent starts `dag_processing.DagFileProcessorManager` in a fork of
this process) that overrides two of its steps: which files are queued, and when the DAG folder
is listed again (when it changed, instead of every `dag_dir_list_interval`; each listing also
runs four clean-up queries). Everything else (processors, timeouts, zombies, statistics) is
Airflow's. `scheduler()` below is what `airflow scheduler` runs, started without importing
Airflow's CLI module. The "mwaa" timing runs `airflow scheduler` unchanged.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from argparse import Namespace
from datetime import UTC, datetime

from airflow import jobs, settings
from airflow.configuration import conf
from airflow.models import DagModel, DagRun
from airflow.utils import cli as cli_utils
from airflow.utils import dag_processing
from airflow.utils.db import provide_session
from airflow.utils.state import State
from sqlalchemy import exists

from emulator.airflow_side import parse_policy

LOG = logging.getLogger(__name__)


def folder_snapshot(folder: str) -> dict[str, tuple[int, int]]:
    """Each file under `folder` with its (mtime_ns, size); Python's bytecode caches left out,
    as parsing writes them."""
    snapshot = {}
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            path = os.path.join(root, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            snapshot[path] = (info.st_mtime_ns, info.st_size)
    return snapshot


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class OnDemandManager(dag_processing.DagFileProcessorManager):
    """Airflow's manager, queueing the files parse_policy.due() names."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - Airflow's signature
        super().__init__(*args, **kwargs)
        self._snapshot: dict[str, tuple[int, int]] | None = None
        self._modified: dict[str, float] = {}
        self._folder_modified = 0.0
        self._paused: dict[str, bool] = {}
        self._unpaused: dict[str, float] = {}

    def _refresh_dag_dir(self) -> None:
        now = time.time()
        snapshot = folder_snapshot(self._dag_directory)
        if snapshot != self._snapshot:
            # Airflow lists the folder again when dag_dir_list_interval has passed since its
            # last listing: make it so now.
            self.last_dag_dir_refresh_time = dag_processing.timezone.datetime(2000, 1, 1)
        super()._refresh_dag_dir()
        if self._snapshot is not None and snapshot != self._snapshot:
            changed = {
                path
                for path in snapshot.keys() | self._snapshot.keys()
                if snapshot.get(path) != self._snapshot.get(path)
            }
            files = set(self._file_paths)
            for path in changed & files:
                self._modified[path] = now
            # Any other file (a module the DAGs import, .airflowignore, a removed file).
            if changed - files:
                self._folder_modified = now
        self._snapshot = snapshot

    @provide_session
    def _waited_on(self, session=None) -> set[str]:  # noqa: ANN001 - Airflow's session
        """Files with a running DagRun; records the files of DAGs unpaused since last turn."""
        running_run = exists().where(
            (DagRun.dag_id == DagModel.dag_id) & (DagRun.state == State.RUNNING)
        )
        rows = session.query(DagModel.dag_id, DagModel.fileloc, DagModel.is_paused, running_run)
        running = set()
        now = time.time()
        for dag_id, fileloc, is_paused, has_running_run in rows:
            if not fileloc:
                continue
            path = dag_processing.correct_maybe_zipped(fileloc)
            if has_running_run:
                running.add(path)
            if self._paused.get(dag_id) and not is_paused:
                self._unpaused[path] = now
            self._paused[dag_id] = bool(is_paused)
        return running

    def prepare_file_path_queue(self) -> None:
        self._parsing_start_time = dag_processing.timezone.utcnow()
        try:
            running = self._waited_on()
        except Exception:  # noqa: BLE001 - the database is away: parse all, as Airflow would
            LOG.exception("could not read the running DagRuns: parsing every file this turn")
            running = set(self._file_paths)
        started, finished = {}, {}
        for path, stat in self._file_stats.items():
            end = _epoch(stat.last_finish_time)
            if end is not None:
                finished[path] = end
                started[path] = end - (stat.last_duration or 0.0)
        turn = parse_policy.Turn(
            now=time.time(),
            interval_s=float(self._file_process_interval),
            files=tuple(self._file_paths),
            in_progress=set(self._processors),
            last_started=started,
            last_finished=finished,
            modified=self._modified,
            folder_modified=self._folder_modified,
            running=running,
            unpaused=self._unpaused,
        )
        chosen = parse_policy.due(turn)
        for path, why in chosen:
            LOG.debug("parsing %s: %s", path, why)
            if path not in self._file_stats:
                self._file_stats[path] = dag_processing.DagFileStat(0, 0, None, None, 0)
        self._file_path_queue.extend(path for path, _ in chosen)


def _exit(signum: int, frame: object) -> None:
    sys.exit(0)


@cli_utils.action_logging
def scheduler(args: Namespace) -> None:
    """What `airflow scheduler` runs (airflow/bin/cli.py), without importing that module: it
    imports both web apps (Flask, Flask-AppBuilder, Flask-Admin), about 37 MiB the scheduler
    and its file processor manager would hold for nothing."""
    print(settings.HEADER)
    job = jobs.SchedulerJob(
        dag_id=args.dag_id,
        subdir=settings.DAGS_FOLDER,
        num_runs=conf.getint("scheduler", "num_runs", fallback=-1),
        do_pickle=False,
    )
    signal.signal(signal.SIGINT, _exit)
    signal.signal(signal.SIGTERM, _exit)
    job.run()


def main() -> None:
    """`airflow scheduler`, with the on-demand manager."""
    dag_processing.DagFileProcessorManager = OnDemandManager
    # The action log records it as Airflow's CLI does (event `cli_scheduler`).
    scheduler(Namespace(dag_id=None))


if __name__ == "__main__":
    main()
