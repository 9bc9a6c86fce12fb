"""gunicorn's configuration for Airflow's web server, run by `mwaa-local run webserver` with
`--preload`: the web app is built once, in gunicorn's master, and its worker shares those pages
instead of building its own copy (emulator/services/airflow.py says why)."""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    """Airflow's own hook: a worker that finished starting is titled "[ready] ..."."""
    from airflow.www import gunicorn_config

    gunicorn_config.post_worker_init(worker)


def when_ready(server: Any) -> None:
    """Close the database connections the master opened while building the app, before any
    worker is forked: a worker must never share its connection's socket with another one."""
    from airflow import settings

    settings.engine.dispose()
