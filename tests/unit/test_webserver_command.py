"""The web server runs as `airflow webserver` would run gunicorn, from the computed options,
but preloaded: one copy of the web app, shared by the worker."""

from __future__ import annotations

from emulator.services.airflow import gunicorn_command


def _options(argv: list[str]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("--")}


def test_gunicorn_is_preloaded_with_the_configured_workers_and_timeout() -> None:
    env = {
        "AIRFLOW__WEBSERVER__RBAC": "True",
        "AIRFLOW__WEBSERVER__WORKERS": "1",
        "AIRFLOW__WEBSERVER__WEB_SERVER_WORKER_TIMEOUT": "300",
    }
    argv = gunicorn_command(env, "127.0.0.1:8080", "/home/airflow-webserver.pid")
    assert argv[0] == "gunicorn"
    assert "--preload" in argv
    assert argv[-1] == "airflow.www_rbac.app:cached_app()"
    options = _options(argv)
    assert options["--workers"] == "1"
    assert options["--timeout"] == "300"
    assert options["--bind"] == "127.0.0.1:8080"
    # The pid file `airflow webserver` would write, where a restart after a crash finds it.
    assert options["--pid"] == "/home/airflow-webserver.pid"
    # Airflow's hook that titles a started worker "[ready]", and ours that closes the master's
    # database connections before the worker is forked.
    assert options["--config"] == "python:emulator.airflow_side.gunicorn_config"


def test_airflow_defaults_where_nothing_is_configured() -> None:
    options = _options(gunicorn_command({}, "0.0.0.0:8080", "/p.pid"))
    assert options["--workers"] == "4"
    assert options["--timeout"] == "120"
    assert options["--worker-class"] == "sync"
    assert options["--access-logfile"] == "-"
