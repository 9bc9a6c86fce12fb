"""Airflow's own processes: web server, scheduler and Celery worker, started with the
environment's computed configuration. Each replaces the current process (exec), so signals
from Docker or the native supervisor reach Airflow directly."""

from __future__ import annotations

import os

from emulator.environment.airflow_config import worker_autoscale
from emulator.services.context import ServiceContext


def _exec(argv: list[str], env: dict[str, str]) -> None:
    os.execvpe(argv[0], argv, env)


def webserver(ctx: ServiceContext) -> None:
    host, _, port = os.environ.get("MWAA_LOCAL_LISTEN", "0.0.0.0:8080").rpartition(":")
    _exec(["airflow", "webserver", "--hostname", host, "--port", port], ctx.airflow_env())


def scheduler(ctx: ServiceContext) -> None:
    _exec(["airflow", "scheduler"], ctx.airflow_env())


def worker(ctx: ServiceContext) -> None:
    # Airflow 1.10.12's `airflow worker` is written for Celery 4; with Celery 5 the worker
    # starts through Celery's own command, on Airflow's Celery app.
    env = ctx.airflow_env()
    argv = [
        "celery",
        "--app",
        "airflow.executors.celery_executor.app",
        "worker",
        "--queues",
        env["AIRFLOW__CELERY__DEFAULT_QUEUE"],
        # Up to the class's tasks per worker, but only one pool process while idle: an idle
        # environment stays small (`celery.worker_autoscale` "max,min" sets both, as on MWAA).
        "--autoscale",
        worker_autoscale(ctx.spec),
        "--loglevel",
        "INFO",
        "--without-mingle",
        "--without-gossip",
    ]
    worker_id = os.environ.get("MWAA_LOCAL_WORKER_ID")
    if worker_id:
        argv += ["--hostname", f"celery@{worker_id}"]
    _exec(argv, env)


def airflow_cli(ctx: ServiceContext, args: list[str]) -> None:
    """`airflow ARGS` with the environment's configuration."""
    _exec(["airflow", *args], ctx.airflow_env())
