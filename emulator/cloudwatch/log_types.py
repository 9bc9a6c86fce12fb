"""MWAA's five log types: their LoggingConfiguration modules, log groups and ARNs, and the
variables through which an Airflow process learns them. Pure: no I/O.

As in MWAA's own images (aws/amazon-mwaa-docker-images, mwaa/logging/config.py), every Airflow
process gets `MWAA__LOGGING__AIRFLOW_{SOURCE}_LOG_GROUP_ARN`, `..._LOG_LEVEL` and
`..._LOGS_ENABLED` for each type, and its logging configuration acts on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LEVELS = {"CRITICAL": 50, "ERROR": 40, "WARNING": 30, "INFO": 20, "DEBUG": 10}
DEFAULT_LEVEL = "INFO"


@dataclass(frozen=True)
class LogType:
    module: str  # LoggingConfiguration's member, e.g. "TaskLogs"
    group_suffix: str  # airflow-{Name}-{suffix}
    source: str  # MWAA__LOGGING__AIRFLOW_{SOURCE}_...


LOG_TYPES = (
    LogType("DagProcessingLogs", "DAGProcessing", "DAGPROCESSOR"),
    LogType("SchedulerLogs", "Scheduler", "SCHEDULER"),
    LogType("WebserverLogs", "WebServer", "WEBSERVER"),
    LogType("WorkerLogs", "Worker", "WORKER"),
    LogType("TaskLogs", "Task", "TASK"),
)
BY_MODULE = {t.module: t for t in LOG_TYPES}
# The Airflow component whose own output goes to a type's group.
COMPONENT_TYPES = {
    "scheduler": BY_MODULE["SchedulerLogs"],
    "worker": BY_MODULE["WorkerLogs"],
    "webserver": BY_MODULE["WebserverLogs"],
}
DAG_PROCESSING = BY_MODULE["DagProcessingLogs"]
TASK = BY_MODULE["TaskLogs"]


@dataclass(frozen=True)
class Setting:
    """One type's LoggingConfiguration: whether it is shipped, and from which level on."""

    enabled: bool
    level: str  # DEBUG, INFO, WARNING, ERROR or CRITICAL

    @property
    def levelno(self) -> int:
        return LEVELS[self.level]


def group_name(environment: str, log_type: LogType) -> str:
    return f"airflow-{environment}-{log_type.group_suffix}"


def group_arn(region: str, account: str, environment: str, log_type: LogType) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group_name(environment, log_type)}"


def group_of_arn(arn: str) -> str:
    """The log group name an ARN names (`...:log-group:NAME`, with or without `:*`)."""
    name = arn.split(":log-group:", 1)[-1]
    return name[:-2] if name.endswith(":*") else name


def settings(logging_configuration: Mapping[str, Any] | None) -> dict[str, Setting]:
    """Each type's setting (by module); a module left out is disabled at INFO, as MWAA has it."""
    given = logging_configuration or {}
    out = {}
    for log_type in LOG_TYPES:
        module = given.get(log_type.module) or {}
        out[log_type.module] = Setting(
            enabled=bool(module.get("Enabled", False)),
            level=str(module.get("LogLevel") or DEFAULT_LEVEL).upper(),
        )
    return out


def enabled_groups(environment: str, logging_configuration: Mapping[str, Any] | None) -> list[str]:
    chosen = settings(logging_configuration)
    return [group_name(environment, t) for t in LOG_TYPES if chosen[t.module].enabled]


def process_variables(
    environment: str, region: str, account: str, logging_configuration: Mapping[str, Any] | None
) -> dict[str, str]:
    """MWAA's logging variables for an Airflow process of this environment."""
    chosen = settings(logging_configuration)
    env = {}
    for log_type in LOG_TYPES:
        prefix = f"MWAA__LOGGING__AIRFLOW_{log_type.source}"
        setting = chosen[log_type.module]
        env[f"{prefix}_LOG_GROUP_ARN"] = group_arn(region, account, environment, log_type)
        env[f"{prefix}_LOG_LEVEL"] = setting.level
        env[f"{prefix}_LOGS_ENABLED"] = str(setting.enabled).lower()
    return env


def from_variables(variables: Mapping[str, str], log_type: LogType) -> tuple[str, Setting]:
    """(log group name, setting) of a type as an Airflow process reads its variables."""
    prefix = f"MWAA__LOGGING__AIRFLOW_{log_type.source}"
    arn = variables.get(f"{prefix}_LOG_GROUP_ARN", "")
    level = variables.get(f"{prefix}_LOG_LEVEL", DEFAULT_LEVEL).upper()
    enabled = variables.get(f"{prefix}_LOGS_ENABLED", "false").lower() == "true"
    return group_of_arn(arn), Setting(bool(arn) and enabled, level if level in LEVELS else "INFO")


def process_level(*settings_: Setting) -> str:
    """The level an Airflow process logs at: INFO for its own output (what `mwaa-local logs
    --local` and `docker logs` show), lower when a group it feeds wants more."""
    wanted = min([LEVELS[DEFAULT_LEVEL], *(s.levelno for s in settings_ if s.enabled)])
    return next(name for name, number in LEVELS.items() if number == wanted)
