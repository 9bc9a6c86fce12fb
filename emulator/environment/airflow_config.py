"""Airflow's configuration, computed from the environment at process start.

Everything reaches Airflow as `AIRFLOW__SECTION__KEY` variables, as on MWAA; nothing is
written into airflow.cfg by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.cloudwatch import log_types
from emulator.environment.classes import CLASSES

if TYPE_CHECKING:
    from emulator.environment.secrets import Secrets
    from emulator.environment.spec import EnvironmentSpec


# MWAA's settings for Airflow 1.10.12 (see ../shared/mwaa-behaviour.md, section 6).
MWAA_DEFAULTS = {
    "webserver.rbac": "True",
    "webserver.expose_config": "False",
    "core.store_serialized_dags": "True",
    "core.min_serialized_dag_update_interval": "30",
    "core.secure_mode": "True",
    "core.load_examples": "False",
    "core.dagbag_import_timeout": "30",
    "core.dag_file_processor_timeout": "50",
    "api.auth_backend": "airflow.api.auth.backend.deny_all",
    "celery.default_queue": "default",
    # One gunicorn worker: the UI of one developer needs no more, and each worker holds a
    # whole copy of the web app (about 95 MiB); MWAA sizes its own.
    "webserver.workers": "1",
    "webserver.worker_refresh_interval": "1800",
    # A cross-site request carries no session: other sites' pages cannot act as the user.
    "webserver.cookie_samesite": "Lax",
}

# How quickly Airflow notices DAG files and starts tasks. "mwaa" is MWAA's own; "fast" is the
# local default, sized to this machine (see the README's "Speed, memory and what was traded").
TIMINGS = {
    "mwaa": {
        "scheduler.dag_dir_list_interval": "300",
        "scheduler.min_file_process_interval": "30",
        # Each task in a new `airflow` interpreter, as Airflow 1.10.12 runs it.
        "core.execute_tasks_new_python_interpreter": "True",
    },
    "fast": {
        # Each task's `airflow run` in a fork of the warm Celery pool process, as Airflow 2.0
        # does (airflow_side/celery_worker.py): 1.5 s less between queued and running.
        "core.execute_tasks_new_python_interpreter": "False",
        # Airflow 1.10.12 moves a task from a new run to `scheduled` (and the next task of a
        # run, once the one before has ended) only when the DAG file processor parses the
        # run's file again. bench/startup, tasks forked (below), 4 DAG files, measured with
        # Airflow's own manager:
        #   interval 3: trigger -> first task p50 3.95 s, chained gap 3.85 s, idle CPU 12.8 %
        #   interval 1:                       1.98 s,               1.84 s,          19.5 %
        #   interval 0:                       1.05 s,               0.93 s,          28.0 %
        # This timing's scheduler (airflow_side/scheduler.py) parses a file at once when
        # something waits on it: a new or changed file, a running DagRun, a DAG just unpaused
        # (airflow_side/parse_policy.py). The interval is for the rest: a scheduled run
        # coming due, DAG files that read Variables. Each parse is a fork and a new database
        # session, about 50 ms of CPU with PostgreSQL's share.
        "scheduler.min_file_process_interval": "10",
        # The folder is listed again as soon as a file in it changes (the same scheduler); the
        # interval only bounds how long a change it cannot see (a kept mtime) goes unnoticed.
        # Each listing also runs four clean-up queries.
        "scheduler.dag_dir_list_interval": "60",
        # Airflow 1.10.12's file processor loop turns once a second and starts at most
        # max_threads files per turn, round-robin: with one per core (2 here) a new DAG waited
        # behind the others (8-12 s to reach the UI with 22 files instead of 1.5 s). The
        # processes are short-lived forks of the scheduler: the cost is CPU, not idle memory.
        "scheduler.max_threads": "8",
        # The scheduler loop has a 1 s floor of its own; the default poll (1 s) is added on
        # top of it, making it 2 s between a task being scheduled and being sent to Celery.
        "scheduler.processor_poll_interval": "0",
        "scheduler.scheduler_heartbeat_sec": "2",
        # `airflow run --local` notices its task ended at its next heartbeat: after 1 s, not
        # 5, so the worker's pool process is free again for the next task of the run.
        "scheduler.job_heartbeat_sec": "1",
        # A file is parsed only when something waits on it (above), so each parse stores its
        # DAG for the UI (Airflow skips the write within this interval of the last one: an
        # edit made then would wait for the file's next parse); the web server looks for a
        # newer one after 1 s, not 10.
        "core.min_serialized_dag_update_interval": "0",
        "core.min_serialized_dag_fetch_interval": "1",
        # A task whose worker died (its heartbeat stopped) is failed or retried after 20 s,
        # not MWAA's 300 s.
        "scheduler.scheduler_zombie_task_threshold": "20",
    },
}


def timing_options(timing: str) -> dict[str, str]:
    """Airflow's options for MWAA_LOCAL_TIMING `timing`."""
    if timing not in TIMINGS:
        raise ValueError(f"MWAA_LOCAL_TIMING must be one of {', '.join(TIMINGS)} (got {timing!r})")
    return dict(TIMINGS[timing])


@dataclass(frozen=True)
class Infrastructure:
    """Addresses of the shared servers, set by the runtime (containers or embedded)."""

    db_url: str
    broker_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    region: str = "us-east-1"
    logs_endpoint: str = ""
    account_id: str = "000000000000"


@dataclass(frozen=True)
class Paths:
    airflow_home: str
    dags_folder: str
    plugins_folder: str


def tasks_per_worker(spec: EnvironmentSpec) -> int:
    """Celery concurrency of one worker: the class's figure, or `celery.worker_autoscale`'s max."""
    autoscale = spec.config_options.get("celery.worker_autoscale")
    if autoscale:
        return int(autoscale.split(",")[0])
    return CLASSES[spec["EnvironmentClass"]].tasks_per_worker


def worker_autoscale(spec: EnvironmentSpec) -> str:
    """Celery's `--autoscale max,min` for a worker: `celery.worker_autoscale`, else (class, 1)."""
    configured = spec.config_options.get("celery.worker_autoscale")
    if configured:
        return configured.replace(" ", "")
    return f"{tasks_per_worker(spec)},1"


# Where Airflow's logging configuration is: it sends what MWAA sends to CloudWatch Logs.
LOGGING_CONFIG_CLASS = "emulator.airflow_side.cloudwatch_logging.LOGGING_CONFIG"


def component_log_level(spec: EnvironmentSpec, service: str | None) -> str:
    """The level a component's Airflow logs at: INFO, or lower when its log group wants more
    (LoggingConfiguration's LogLevel); its group gets only what is at that LogLevel or above."""
    log_type = log_types.COMPONENT_TYPES.get(service or "")
    if log_type is None:
        return log_types.DEFAULT_LEVEL
    chosen = log_types.settings(spec.get("LoggingConfiguration"))
    return log_types.process_level(chosen[log_type.module])


def _variable(key: str) -> str:
    section, name = key.split(".", 1)
    return f"AIRFLOW__{section.upper()}__{name.upper()}"


def airflow_environment(
    spec: EnvironmentSpec,
    secrets: Secrets,
    infra: Infrastructure,
    paths: Paths,
    timing: str = "fast",
    service: str | None = None,
    log_spool: str | None = None,
) -> dict[str, str]:
    """The process environment an Airflow component of this environment runs with.

    `service` is the component (scheduler, worker, webserver; None for others) and
    `log_spool` the folder its log lines wait in for the service's CloudWatch shipper.
    """
    options: dict[str, str] = {**MWAA_DEFAULTS, **timing_options(timing)}
    options["celery.worker_concurrency"] = str(tasks_per_worker(spec))
    options["core.logging_level"] = component_log_level(spec, service)
    options.update(spec.config_options)
    options.update(
        {
            "core.executor": "CeleryExecutor",
            "core.sql_alchemy_conn": infra.db_url,
            "celery.broker_url": infra.broker_url,
            "celery.result_backend": "db+" + infra.db_url.replace("+psycopg2", ""),
            "core.fernet_key": secrets.fernet_key,
            "webserver.secret_key": secrets.web_secret,
            "core.dags_folder": paths.dags_folder,
            "core.plugins_folder": paths.plugins_folder,
            "webserver.enable_proxy_fix": "True",
            "core.logging_config_class": LOGGING_CONFIG_CLASS,
        }
    )
    if log_spool:
        options["mwaa_local.log_spool_dir"] = log_spool
    env = {_variable(key): value for key, value in options.items()}
    env.update(
        {
            "AIRFLOW_HOME": paths.airflow_home,
            # As on MWAA, `~` is the Airflow home: DAG code finds `~/dags` there.
            "HOME": paths.airflow_home,
            "AIRFLOW_ENV_NAME": spec.name,
            "AIRFLOW_VERSION": spec["AirflowVersion"],
            "AWS_DEFAULT_REGION": infra.region,
            "AWS_REGION": infra.region,
            "AWS_EXECUTION_ENV": "mwaa-local",
            # boto3 inside tasks talks to the local bucket, as it would to S3 on MWAA.
            "AWS_ENDPOINT_URL_S3": infra.s3_endpoint,
            "AWS_ACCESS_KEY_ID": infra.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": infra.s3_secret_key,
        }
    )
    if infra.logs_endpoint:
        # boto3 reads the first (the service's id is "CloudWatch Logs"); scripts often guess
        # the second.
        env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = infra.logs_endpoint
        env["AWS_ENDPOINT_URL_LOGS"] = infra.logs_endpoint
    env.update(
        log_types.process_variables(
            spec.name, infra.region, infra.account_id, spec.get("LoggingConfiguration")
        )
    )
    return env
