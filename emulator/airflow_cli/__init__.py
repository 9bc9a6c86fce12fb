"""Airflow CLI commands for MWAA's ``POST /aws_mwaa/cli``: the allow-list and a warm runner."""

from emulator.airflow_cli.allowlist import check, parse
from emulator.airflow_cli.runner import CliResult, WarmRunner, ZygoteError

__all__ = ["CliResult", "WarmRunner", "ZygoteError", "check", "parse"]
