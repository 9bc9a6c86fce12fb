"""The level of a line a component printed, for the groups fed from its output. Pure.

Airflow, Celery and gunicorn each print their level in their own place:
    [2026-01-01 10:00:00,123] {scheduler_job.py:1367} INFO - Starting the scheduler
    [2026-01-01 10:00:00,123: WARNING/MainProcess] consumer: Cannot connect to redis://...
    [2026-01-01 10:00:00 +0000] [42] [INFO] Booting worker with pid: 42
A line without one continues the line before it (a traceback, a banner) and keeps its level.
"""

from __future__ import annotations

import re

from emulator.cloudwatch.log_types import LEVELS

_NAMES = "DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL"
_PATTERNS = (
    # Airflow's log_format, and the emulator's own ("[time] service LEVEL module: ...").
    re.compile(rf"^\[[^\]]+\] (?:\{{[^}}]*\}}|\S+) ({_NAMES})\b"),
    # Celery: [time: LEVEL/Process]
    re.compile(rf"^\[[^\]]+: ({_NAMES})/"),
    # gunicorn: [time] [pid] [LEVEL]
    re.compile(rf"^\[[^\]]+\] \[\d+\] \[({_NAMES})\]"),
)
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A line that starts a record of its own: a timestamp in brackets.
_NEW_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d")


def clean(line: str) -> str:
    """The line as text: no colour codes, no line end."""
    return _ANSI.sub("", line).rstrip("\r\n")


def level_of(line: str, previous: int = LEVELS["INFO"]) -> int:
    """The level of `line`; `previous` is the level of the line before it."""
    for pattern in _PATTERNS:
        match = pattern.match(line)
        if match:
            name = match.group(1)
            return LEVELS[_ALIASES.get(name, name)]
    if _NEW_RECORD.match(line):
        return LEVELS["INFO"]
    return previous
