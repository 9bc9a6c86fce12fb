"""Airflow 1.10.12's logging, as MWAA sets it up: `[core] logging_config_class` is
`emulator.airflow_side.cloudwatch_logging.LOGGING_CONFIG` in every Airflow process.

Airflow's default configuration, plus:
- task logs (the `airflow.task` logger) also go to the Task group, stream
  `{dag_id}/{task_id}/{execution_date}/{try_number}.log`, and the UI's task log view reads
  them back from there (`CloudwatchTaskHandler._read`), as MWAA's does;
- DAG processing (`airflow.processor`, a stream per DAG file, and the processor manager's
  `dag_processor_manager.log`) also goes to the DAGProcessing group. When that type is
  disabled, the handler says so on stdout, as MWAA 1.10.12's did: the CLI endpoint's answers
  begin with `Cloudwatch logging is disabled for CloudwatchProcessorHandler`.

Lines are not sent from here: they are appended to the spool folder
(`[mwaa_local] log_spool_dir`, set by `mwaa-local run NAME`), and that service's shipper
sends them. Each type's group, level and switch come from MWAA's own variables
(`MWAA__LOGGING__AIRFLOW_{SOURCE}_...`, emulator/cloudwatch/log_types.py). Secrets are masked
first (emulator/cloudwatch/redact.py): the environment's, and a connection's once read.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from airflow.config_templates.airflow_local_settings import (
    BASE_LOG_FOLDER,
    DEFAULT_DAG_PARSING_LOGGING_CONFIG,
    DEFAULT_LOGGING_CONFIG,
    FILENAME_TEMPLATE,
    PROCESSOR_FILENAME_TEMPLATE,
    PROCESSOR_LOG_FOLDER,
)
from airflow.configuration import AirflowConfigException, conf
from airflow.utils.log.file_processor_handler import FileProcessorHandler
from airflow.utils.log.file_task_handler import FileTaskHandler

from emulator.cloudwatch import lines, log_types, streams
from emulator.cloudwatch.log_types import LogType, Setting
from emulator.cloudwatch.redact import Redactor
from emulator.cloudwatch.spool import SpoolWriter

# A finished task's last lines may still be on their way through the spool: the log view
# keeps asking this long after the task ended.
SETTLE_S = 5.0
READ_PAGES = 20
DISABLED_TASK_LOGS = (
    "*** Task logs are disabled for this environment: its LoggingConfiguration has TaskLogs "
    "Enabled false, so, as on Amazon MWAA, this task's lines were not sent to CloudWatch Logs "
    "and cannot be shown here.\n"
    "*** To see the logs of tasks that run from now on, enable them: aws mwaa "
    "update-environment --name {name} --logging-configuration "
    "'TaskLogs={{Enabled=true,LogLevel=INFO}}'\n"
)


def _option(section: str, key: str) -> str:
    # has_option first: conf.get of a missing option logs a warning, which `mwaa-local airflow`
    # would print above every command's output.
    if not conf.has_option(section, key):
        return ""
    try:
        return conf.get(section, key)
    except AirflowConfigException:
        return ""


def _spool() -> SpoolWriter | None:
    folder = _option("mwaa_local", "log_spool_dir")
    return SpoolWriter(Path(folder)) if folder else None


SPOOL = _spool()
REDACT = Redactor(
    [
        _option("core", "fernet_key"),
        _option("webserver", "secret_key"),
        os.environ.get("AWS_SECRET_ACCESS_KEY"),
    ]
)
_watching_connections = False


def _watch_connections() -> None:
    """Mask a connection's password and sensitive extras once this process has read them, from
    the metadata database or an AIRFLOW_CONN_* variable (Airflow 2's masker does the same)."""
    global _watching_connections
    if _watching_connections:
        return
    _watching_connections = True
    from airflow.hooks.base_hook import BaseHook
    from airflow.models.connection import Connection
    from sqlalchemy import event

    def remember(connection: Any) -> None:
        try:
            REDACT.add(connection.password)
            REDACT.add_extra(connection.extra)
        except Exception:  # noqa: BLE001 - a connection that cannot be decrypted has no secret
            pass

    event.listen(Connection, "load", lambda target, _context: remember(target))
    get_connections = BaseHook.get_connections.__func__

    def watched(cls: Any, conn_id: str) -> Any:
        found = get_connections(cls, conn_id)
        for connection in found:
            remember(connection)
        return found

    BaseHook.get_connections = classmethod(watched)


def _level(record: logging.LogRecord) -> int:
    """A record's level; for what a task or DAG file printed (Airflow's StreamLogWriter turns
    stdout into INFO records) the level of the log line it printed, if it printed one: a
    `logging.warning` in DAG code is a WARNING in its group, as the line itself says."""
    if record.filename == "logging_mixin.py":
        return lines.level_of(record.getMessage(), record.levelno)
    return record.levelno


class _Shipping:
    """What every CloudWatch handler here shares: its group, its level, the spool."""

    def _init_shipping(self, log_type: LogType) -> None:
        self.log_group, self.setting = log_types.from_variables(os.environ, log_type)
        self.stream: str | None = None

    def _ship(self, handler: logging.Handler, record: logging.LogRecord) -> None:
        if SPOOL is None or self.stream is None or not self.setting.enabled:
            return
        if _level(record) < self.setting.levelno:
            return
        try:
            message = REDACT(handler.format(record))
            SPOOL.write(self.log_group, self.stream, int(record.created * 1000), message)
        except Exception:  # noqa: BLE001 - logging must never break the task
            handler.handleError(record)


class CloudwatchTaskHandler(FileTaskHandler, _Shipping):
    """Task logs: the local file as Airflow writes it, and the Task group, which the UI reads."""

    def __init__(self, base_log_folder: str, filename_template: str) -> None:
        super().__init__(base_log_folder, filename_template)
        self._init_shipping(log_types.TASK)
        self._client: Any = None
        self._client_pid: int | None = None

    def set_context(self, ti: Any) -> None:
        super().set_context(ti)
        _watch_connections()
        self.stream = streams.task(self._render_filename(ti, ti.try_number))

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        self._ship(self, record)

    # -- the UI's log view --------------------------------------------------------------------
    def _logs(self) -> Any:
        import boto3
        from botocore.config import Config

        if self._client is None or self._client_pid != os.getpid():
            # AWS_ENDPOINT_URL_CLOUDWATCH_LOGS points boto3 at the environment's server.
            self._client = boto3.client(
                "logs",
                config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10),
            )
            self._client_pid = os.getpid()
        return self._client

    def _read(self, ti: Any, try_number: int, metadata: dict | None = None) -> tuple[str, dict]:
        from botocore.exceptions import BotoCoreError, ClientError

        metadata = dict(metadata or {})
        if not self.setting.enabled:
            name = os.environ.get("AIRFLOW_ENV_NAME", "NAME")
            return DISABLED_TASK_LOGS.format(name=name), {"end_of_log": True}
        stream = streams.task(self._render_filename(ti, try_number))
        where = f"log group {self.log_group}, log stream {stream}"
        writing = _still_writing(ti, try_number)
        try:
            lines, token = self._events(stream, metadata.get("next_token"))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                return f"*** Could not read {where} from CloudWatch Logs: {exc}\n", {
                    "end_of_log": True
                }
            note = (
                ""
                if metadata.get("waiting")
                else f"*** No lines in CloudWatch Logs yet ({where})\n"
            )
            return note, {**metadata, "end_of_log": not writing, "waiting": True}
        except BotoCoreError as exc:
            return (
                f"*** CloudWatch Logs is not answering ({exc}); the lines are kept and show "
                "here once it is back.\n",
                {"end_of_log": True},
            )
        header = ""
        if not metadata.get("read_from"):
            header = f"*** Reading remote log from CloudWatch Logs: {where}\n"
        text = header + "\n".join(lines)
        more = {"end_of_log": not writing and not lines, "next_token": token, "read_from": where}
        return text, {**metadata, **more}

    def _events(self, stream: str, token: str | None) -> tuple[list[str], str | None]:
        """The stream's events after `token` (all of them without one), and the next token."""
        logs = self._logs()
        lines: list[str] = []
        for _page in range(READ_PAGES):
            query: dict[str, Any] = {
                "logGroupName": self.log_group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                query["nextToken"] = token
            answer = logs.get_log_events(**query)
            lines += [e["message"] for e in answer.get("events", [])]
            following = answer.get("nextForwardToken")
            if not answer.get("events") or following == token:
                return lines, following or token
            token = following
        return lines, token


def _still_writing(ti: Any, try_number: int) -> bool:
    """Whether more lines of this try may come: it runs, or ended only just now."""
    from airflow.utils.state import State

    if ti.state == State.RUNNING and try_number >= ti.try_number:
        return True
    if ti.end_date is not None and try_number >= ti.try_number - 1:
        return time.time() - ti.end_date.timestamp() < SETTLE_S
    return False


class CloudwatchProcessorHandler(FileProcessorHandler, _Shipping):
    """DAG processing logs: Airflow's file per DAG file, and a stream per DAG file."""

    def __init__(self, base_log_folder: str, filename_template: str) -> None:
        super().__init__(base_log_folder, filename_template)
        self._init_shipping(log_types.DAG_PROCESSING)
        if not self.setting.enabled:
            # MWAA 1.10.12's handler wrote this to stdout, not as a log record, in every
            # Airflow process: its CLI endpoint's answers began with it.
            sys.stdout.write(f"Cloudwatch logging is disabled for {type(self).__name__}\n")

    def set_context(self, filename: str) -> None:
        super().set_context(filename)
        _watch_connections()
        self.stream = streams.dag_file(self._render_filename(filename))

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        self._ship(self, record)


class CloudwatchStreamHandler(logging.Handler, _Shipping):
    """One fixed stream of a group (the DAG processor manager's)."""

    def __init__(self, log_type: str, stream: str) -> None:
        super().__init__()
        self._init_shipping(log_types.BY_MODULE[log_type])
        self.stream = streams.safe(stream)

    def emit(self, record: logging.LogRecord) -> None:
        self._ship(self, record)


def _config() -> dict[str, Any]:
    config = copy.deepcopy(DEFAULT_LOGGING_CONFIG)
    task_setting: Setting = log_types.from_variables(os.environ, log_types.TASK)[1]
    processing: Setting = log_types.from_variables(os.environ, log_types.DAG_PROCESSING)[1]
    config["handlers"]["task"] = {
        "class": f"{__name__}.CloudwatchTaskHandler",
        "formatter": "airflow",
        "base_log_folder": os.path.expanduser(BASE_LOG_FOLDER),
        "filename_template": FILENAME_TEMPLATE,
    }
    config["handlers"]["processor"] = {
        "class": f"{__name__}.CloudwatchProcessorHandler",
        "formatter": "airflow",
        "base_log_folder": os.path.expanduser(PROCESSOR_LOG_FOLDER),
        "filename_template": PROCESSOR_FILENAME_TEMPLATE,
    }
    config["loggers"]["airflow.task"]["level"] = log_types.process_level(task_setting)
    config["loggers"]["airflow.processor"]["level"] = log_types.process_level(processing)
    # The DAG processor manager reloads this module with this variable set (Airflow's own
    # airflow_local_settings does the same): its logger, to its file and its stream.
    if os.environ.get("CONFIG_PROCESSOR_MANAGER_LOGGER") == "True":
        parsing = copy.deepcopy(DEFAULT_DAG_PARSING_LOGGING_CONFIG)
        config["handlers"].update(parsing["handlers"])
        config["handlers"]["processor_manager_cloudwatch"] = {
            "class": f"{__name__}.CloudwatchStreamHandler",
            "formatter": "airflow",
            "log_type": log_types.DAG_PROCESSING.module,
            "stream": streams.DAG_PROCESSOR_MANAGER,
        }
        manager = parsing["loggers"]["airflow.processor_manager"]
        manager["handlers"] = [*manager["handlers"], "processor_manager_cloudwatch"]
        manager["level"] = log_types.process_level(processing)
        config["loggers"]["airflow.processor_manager"] = manager
        location = Path(parsing["handlers"]["processor_manager"]["filename"])
        location.parent.mkdir(parents=True, exist_ok=True)
    return config


LOGGING_CONFIG = _config()
