"""Airflow's own processes: web server, scheduler and Celery worker, started with the
environment's computed configuration and restarted when it changes (supervise.py)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from emulator.config import settings
from emulator.context import ServiceContext
from emulator.environment.airflow_config import component_log_level, worker_autoscale
from emulator.environment.definition import current
from emulator.environment.store import Store
from emulator.services.supervise import supervise

LOG = logging.getLogger(__name__)
# Where `airflow webserver` has gunicorn write its pid (Airflow 1.10.12's default).
WEBSERVER_PID_FILE = "airflow-webserver.pid"


def _exec(argv: list[str], env: dict[str, str]) -> None:
    os.execvpe(argv[0], argv, env)


def webserver_command(ctx: ServiceContext) -> list[str]:
    # gunicorn refuses to start on a pid file whose pid is alive, which after a crash may be
    # another process's. No web server of this Airflow home runs now (supervise.py took the
    # last one's tree down), so the file is stale.
    pid_file = Path(ctx.paths.airflow_home) / WEBSERVER_PID_FILE
    pid_file.unlink(missing_ok=True)
    return gunicorn_command(ctx.airflow_env("webserver"), settings().listen, str(pid_file))


def gunicorn_command(env: dict[str, str], listen: str, pid_file: str) -> list[str]:
    """gunicorn as `airflow webserver` starts it, with the same options from the computed
    configuration, but started directly and with `--preload`. `airflow webserver` builds the
    whole web app in its own process only to watch gunicorn (about 110 MiB), and each gunicorn
    worker builds another copy; preloaded, the master builds it once and the worker shares it.
    What the watcher did is not needed here: gunicorn restarts a dead worker itself, and the
    UI reads DAGs from the database (serialized), so workers need no periodic refresh."""

    def option(name: str, default: str) -> str:
        return env.get(f"AIRFLOW__WEBSERVER__{name}", default)

    app = "www_rbac" if option("RBAC", "False").lower() == "true" else "www"
    return [
        "gunicorn",
        "--workers",
        option("WORKERS", "4"),
        "--worker-class",
        option("WORKER_CLASS", "sync"),
        "--timeout",
        option("WEB_SERVER_WORKER_TIMEOUT", "120"),
        "--bind",
        listen,
        "--name",
        "airflow-webserver",
        "--pid",
        pid_file,
        "--access-logfile",
        option("ACCESS_LOGFILE", "-"),
        "--error-logfile",
        option("ERROR_LOGFILE", "-"),
        "--config",
        "python:emulator.airflow_side.gunicorn_config",
        "--preload",
        f"airflow.{app}.app:cached_app()",
    ]


def scheduler_command(ctx: ServiceContext) -> list[str]:
    # The "fast" timing's scheduler parses a DAG file when something waits on it
    # (airflow_side/scheduler.py); "mwaa" runs Airflow's as MWAA does.
    if ctx.timing == "fast":
        return [sys.executable, "-m", "emulator.airflow_side.scheduler"]
    return ["airflow", "scheduler"]


def worker_command(ctx: ServiceContext) -> list[str]:
    # Airflow 1.10.12's `airflow worker` is written for Celery 4; with Celery 5 the worker
    # starts through Celery's own command, on Airflow's Celery app with its task starting
    # `airflow run` in a fork (airflow_side/celery_worker.py).
    env = ctx.airflow_env()
    argv = [
        "celery",
        "--app",
        "emulator.airflow_side.celery_worker.app",
        "worker",
        "--queues",
        env["AIRFLOW__CELERY__DEFAULT_QUEUE"],
        # Up to the class's tasks per worker, but only one pool process while idle: an idle
        # environment stays small (`celery.worker_autoscale` "max,min" sets both, as on MWAA).
        "--autoscale",
        worker_autoscale(ctx.spec),
        # INFO, or lower when WorkerLogs' LogLevel asks for it.
        "--loglevel",
        component_log_level(ctx.spec, "worker"),
        "--without-mingle",
        "--without-gossip",
    ]
    worker_id = settings().worker_id
    if worker_id:
        argv += ["--hostname", f"celery@{worker_id}"]
    return argv


def webserver(ctx: ServiceContext) -> int:
    return supervise(ctx, "webserver", webserver_command)


def scheduler(ctx: ServiceContext) -> int:
    return supervise(ctx, "scheduler", scheduler_command)


def worker(ctx: ServiceContext) -> int:
    return supervise(ctx, "worker", worker_command)


def airflow_cli(ctx: ServiceContext, args: list[str]) -> None:
    """`airflow ARGS` with the environment's current configuration."""
    try:
        ctx = ctx.with_spec(current(Store(ctx.infra.db_url), ctx.spec)[1])
    except Exception:  # noqa: BLE001 - no database yet: the file's definition will do
        LOG.info("no stored definition yet: using environment.json's")
    _exec(["airflow", *args], ctx.airflow_env("airflow"))
