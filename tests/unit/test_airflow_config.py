"""Airflow's configuration is computed from the environment the way MWAA computes it."""

from __future__ import annotations

import pytest

from emulator.environment import spec
from emulator.environment.airflow_config import (
    Infrastructure,
    Paths,
    airflow_environment,
    worker_autoscale,
)
from emulator.environment.secrets import Secrets

INFRA = Infrastructure(
    "postgresql+psycopg2://u:p@db:5432/airflow", "redis://r:6379/0", "http://s3:9000", "ak", "sk"
)
PATHS = Paths("/usr/local/airflow", "/usr/local/airflow/dags", "/usr/local/airflow/plugins")
SECRETS = Secrets("fernet", "websecret", 0.0)


def compute(timing: str = "fast", **fields: object) -> dict[str, str]:
    data = {"Name": "env", "SourceBucketArn": "arn:aws:s3:::airflow-env", **fields}
    return airflow_environment(spec.validate(data), SECRETS, INFRA, PATHS, timing)


@pytest.mark.parametrize(
    ("cls", "concurrency"), [("mw1.small", "5"), ("mw1.medium", "10"), ("mw1.large", "20")]
)
def test_environment_class_sets_worker_concurrency(cls: str, concurrency: str) -> None:
    assert compute(EnvironmentClass=cls)["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == concurrency


def test_worker_autoscale_overrides_the_class() -> None:
    env = compute(AirflowConfigurationOptions={"celery.worker_autoscale": "3,1"})
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "3"


def test_options_become_airflow_variables_over_mwaa_defaults() -> None:
    env = compute(
        AirflowConfigurationOptions={"core.load_examples": "True", "webserver.navbar_color": "#fff"}
    )
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True"
    assert env["AIRFLOW__WEBSERVER__NAVBAR_COLOR"] == "#fff"


def test_mwaa_1_10_12_defaults_and_essentials() -> None:
    env = compute()
    assert env["AIRFLOW__WEBSERVER__RBAC"] == "True"
    assert env["AIRFLOW__CORE__STORE_SERIALIZED_DAGS"] == "True"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__AUTH_BACKEND"] == "airflow.api.auth.backend.deny_all"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__SQL_ALCHEMY_CONN"] == INFRA.db_url
    assert env["AIRFLOW__CELERY__BROKER_URL"] == INFRA.broker_url
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://u:p@db:5432/airflow"
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "fernet"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/usr/local/airflow/dags"
    assert env["AIRFLOW_ENV_NAME"] == "env"
    assert env["AIRFLOW_VERSION"] == "1.10.12"
    assert env["AIRFLOW_HOME"] == "/usr/local/airflow"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"


def test_mwaa_timing_uses_mwaa_intervals() -> None:
    env = compute("mwaa")
    assert env["AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL"] == "300"
    assert env["AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL"] == "30"
    assert env["AIRFLOW__CORE__EXECUTE_TASKS_NEW_PYTHON_INTERPRETER"] == "True"
    # None of the fast timing's loop settings: Airflow's own defaults, as on MWAA.
    for name in ("MAX_THREADS", "PROCESSOR_POLL_INTERVAL", "JOB_HEARTBEAT_SEC"):
        assert f"AIRFLOW__SCHEDULER__{name}" not in env
    with pytest.raises(ValueError, match="MWAA_LOCAL_TIMING"):
        compute("slow")


def test_fast_timing_sends_a_scheduled_task_at_the_next_scheduler_turn() -> None:
    env = compute("fast")
    # The scheduler loop adds no poll of its own to its 1 s floor.
    assert env["AIRFLOW__SCHEDULER__PROCESSOR_POLL_INTERVAL"] == "0"
    # Files nothing waits on are parsed every 10 s (the scheduler parses the others at once:
    # tests/unit/test_parse_policy.py).
    assert env["AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL"] == "10"
    # Tasks start in a fork of the warm Celery pool process; on MWAA's timing, a new Python.
    assert env["AIRFLOW__CORE__EXECUTE_TASKS_NEW_PYTHON_INTERPRETER"] == "False"
    # The folder is listed again when a file in it changes; at the latest after 60 s.
    assert env["AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL"] == "60"
    # A finished task's `airflow run` frees its pool process within a second.
    assert env["AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC"] == "1"


def test_fast_timing_parses_up_to_eight_files_a_turn() -> None:
    assert compute("fast")["AIRFLOW__SCHEDULER__MAX_THREADS"] == "8"


def test_timing_settings_yield_to_the_environments_options() -> None:
    env = compute("fast", AirflowConfigurationOptions={"scheduler.max_threads": "4"})
    assert env["AIRFLOW__SCHEDULER__MAX_THREADS"] == "4"


def test_one_gunicorn_worker_unless_configured() -> None:
    assert compute()["AIRFLOW__WEBSERVER__WORKERS"] == "1"
    env = compute(AirflowConfigurationOptions={"webserver.workers": "3"})
    assert env["AIRFLOW__WEBSERVER__WORKERS"] == "3"


def test_workers_autoscale_from_one_pool_process_up_to_the_class() -> None:
    small = spec.validate(
        {"Name": "e", "SourceBucketArn": "arn:aws:s3:::airflow-e", "EnvironmentClass": "mw1.medium"}
    )
    assert worker_autoscale(small) == "10,1"
    tuned = spec.validate(
        {
            "Name": "e",
            "SourceBucketArn": "arn:aws:s3:::airflow-e",
            "AirflowConfigurationOptions": {"celery.worker_autoscale": "4, 2"},
        }
    )
    assert worker_autoscale(tuned) == "4,2"


LOGGING = {
    "SchedulerLogs": {"Enabled": True, "LogLevel": "DEBUG"},
    "WorkerLogs": {"Enabled": True, "LogLevel": "WARNING"},
    "TaskLogs": {"Enabled": False, "LogLevel": "INFO"},
}


def _with_logs(service: str | None = None, spool: str | None = None, **fields: object) -> dict:
    data = {"Name": "env", "SourceBucketArn": "arn:aws:s3:::airflow-env", **fields}
    infra = Infrastructure(
        INFRA.db_url,
        INFRA.broker_url,
        INFRA.s3_endpoint,
        "ak",
        "sk",
        "eu-west-1",
        logs_endpoint="http://logs:9000",
        account_id="123456789012",
    )
    return airflow_environment(
        spec.validate(data), SECRETS, infra, PATHS, service=service, log_spool=spool
    )


def test_every_process_logs_through_mwaas_cloudwatch_configuration() -> None:
    env = _with_logs(LoggingConfiguration=LOGGING)
    assert env["AIRFLOW__CORE__LOGGING_CONFIG_CLASS"] == (
        "emulator.airflow_side.cloudwatch_logging.LOGGING_CONFIG"
    )
    # boto3 in tasks, and the UI's task log view, reach the environment's CloudWatch Logs.
    assert env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] == "http://logs:9000"
    assert env["AWS_ENDPOINT_URL_LOGS"] == "http://logs:9000"
    assert env["MWAA__LOGGING__AIRFLOW_TASK_LOGS_ENABLED"] == "false"
    assert env["MWAA__LOGGING__AIRFLOW_WORKER_LOG_LEVEL"] == "WARNING"
    assert env["MWAA__LOGGING__AIRFLOW_SCHEDULER_LOG_GROUP_ARN"] == (
        "arn:aws:logs:eu-west-1:123456789012:log-group:airflow-env-Scheduler"
    )
    assert "AIRFLOW__MWAA_LOCAL__LOG_SPOOL_DIR" not in env
    assert _with_logs(spool="/spool")["AIRFLOW__MWAA_LOCAL__LOG_SPOOL_DIR"] == "/spool"


def test_a_component_logs_at_info_or_lower_as_its_group_asks() -> None:
    def level(service: str | None) -> str:
        return _with_logs(service, LoggingConfiguration=LOGGING)["AIRFLOW__CORE__LOGGING_LEVEL"]

    assert level("scheduler") == "DEBUG"
    assert level("worker") == "INFO"  # WARNING for the group, INFO for its own output
    assert level("webserver") == "INFO"  # WebserverLogs left out: disabled
    assert level(None) == "INFO"
    options = {"core.logging_level": "ERROR"}
    env = _with_logs("scheduler", LoggingConfiguration=LOGGING, AirflowConfigurationOptions=options)
    assert env["AIRFLOW__CORE__LOGGING_LEVEL"] == "ERROR"  # the user's own choice wins


def test_the_logging_configuration_cannot_be_overridden() -> None:
    for key in ("core.logging_config_class", "mwaa_local.log_spool_dir"):
        data = {
            "Name": "env",
            "SourceBucketArn": "arn:aws:s3:::airflow-env",
            "AirflowConfigurationOptions": {key: "x"},
        }
        with pytest.raises(spec.SpecError, match="cannot be overridden"):
            spec.validate(data)
