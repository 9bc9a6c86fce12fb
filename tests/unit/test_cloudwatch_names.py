"""MWAA's log types, groups, ARNs, stream names and the levels of printed lines."""

from __future__ import annotations

from emulator.cloudwatch import lines, log_types, streams
from emulator.cloudwatch.log_types import LEVELS, Setting

CONFIGURATION = {
    "DagProcessingLogs": {"Enabled": True, "LogLevel": "WARNING"},
    "SchedulerLogs": {"Enabled": False, "LogLevel": "INFO"},
    "TaskLogs": {"Enabled": True, "LogLevel": "DEBUG"},
}


def test_five_groups_named_as_mwaa_names_them() -> None:
    names = [log_types.group_name("env1", t) for t in log_types.LOG_TYPES]
    assert names == [
        "airflow-env1-DAGProcessing",
        "airflow-env1-Scheduler",
        "airflow-env1-WebServer",
        "airflow-env1-Worker",
        "airflow-env1-Task",
    ]
    arn = log_types.group_arn("eu-west-1", "123456789012", "env1", log_types.TASK)
    assert arn == "arn:aws:logs:eu-west-1:123456789012:log-group:airflow-env1-Task"
    assert log_types.group_of_arn(arn) == "airflow-env1-Task"
    assert log_types.group_of_arn(arn + ":*") == "airflow-env1-Task"


def test_a_module_left_out_is_disabled_and_only_enabled_types_get_groups() -> None:
    chosen = log_types.settings(CONFIGURATION)
    assert chosen["DagProcessingLogs"] == Setting(True, "WARNING")
    assert chosen["SchedulerLogs"] == Setting(False, "INFO")
    assert chosen["WorkerLogs"] == Setting(False, "INFO")
    assert log_types.enabled_groups("e", CONFIGURATION) == [
        "airflow-e-DAGProcessing",
        "airflow-e-Task",
    ]
    assert log_types.enabled_groups("e", None) == []


def test_an_airflow_process_reads_back_what_its_variables_say() -> None:
    variables = log_types.process_variables("e", "us-east-1", "000000000000", CONFIGURATION)
    assert variables["MWAA__LOGGING__AIRFLOW_TASK_LOGS_ENABLED"] == "true"
    assert variables["MWAA__LOGGING__AIRFLOW_TASK_LOG_LEVEL"] == "DEBUG"
    assert variables["MWAA__LOGGING__AIRFLOW_SCHEDULER_LOGS_ENABLED"] == "false"
    assert variables["MWAA__LOGGING__AIRFLOW_DAGPROCESSOR_LOG_GROUP_ARN"].endswith(
        ":log-group:airflow-e-DAGProcessing"
    )
    for log_type in log_types.LOG_TYPES:
        group, setting = log_types.from_variables(variables, log_type)
        assert group == log_types.group_name("e", log_type)
        assert setting == log_types.settings(CONFIGURATION)[log_type.module]
    # No variables (a process outside the environment): nothing is shipped.
    assert not log_types.from_variables({}, log_types.TASK)[1].enabled


def test_processes_log_at_info_or_lower_when_a_group_wants_more() -> None:
    assert log_types.process_level(Setting(True, "WARNING")) == "INFO"
    assert log_types.process_level(Setting(True, "DEBUG")) == "DEBUG"
    assert log_types.process_level(Setting(False, "DEBUG")) == "INFO"


def test_stream_names() -> None:
    assert streams.component("scheduler", "ip-10-0-0-1", 1712345678.5) == (
        "scheduler_ip-10-0-0-1_1712345678.500.log"
    )
    assert streams.dag_file("nested/my_dag.py.log") == "scheduler_nested/my_dag.py.log"
    # CloudWatch refuses ':' and '*' in stream names: the execution date's colons become '_'.
    assert (
        streams.task("d/t/2020-01-01T00:00:00+00:00/1.log") == "d/t/2020-01-01T00_00_00+00_00/1.log"
    )
    assert len(streams.task("x" * 600)) == 512


def test_the_level_of_what_airflow_celery_and_gunicorn_print() -> None:
    airflow = "[2026-01-01 10:00:00,123] {scheduler_job.py:1367} WARNING - something"
    celery = "[2026-01-01 10:00:00,123: ERROR/MainProcess] consumer: Cannot connect"
    gunicorn = "[2026-01-01 10:00:00 +0000] [42] [INFO] Booting worker with pid: 42"
    ours = "[2026-01-01 10:00:00] scheduler WARNING emulator.services.supervise: restarting"
    assert lines.level_of(airflow) == LEVELS["WARNING"]
    assert lines.level_of(celery) == LEVELS["ERROR"]
    assert lines.level_of(gunicorn) == LEVELS["INFO"]
    assert lines.level_of(ours) == LEVELS["WARNING"]
    # A traceback's lines continue the record before them.
    assert lines.level_of('  File "x.py", line 1, in <module>', LEVELS["ERROR"]) == LEVELS["ERROR"]
    # A timestamped line with no level of its own starts an INFO record.
    assert lines.level_of("[2026-01-01 10:00:00] started", LEVELS["ERROR"]) == LEVELS["INFO"]
    assert lines.clean("\x1b[34mblue\x1b[0m text\r\n") == "blue text"
