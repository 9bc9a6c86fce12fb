"""Creating MWAA's log groups and streams, as MWAA does when a log type is enabled."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_group(logs: Any, name: str) -> bool:
    """Create log group `name` unless it exists; returns whether it was created."""
    try:
        logs.create_log_group(logGroupName=name)
    except ClientError as exc:
        if _code(exc) == "ResourceAlreadyExistsException":
            return False
        raise
    return True


def ensure_groups(logs: Any, names: list[str]) -> list[str]:
    """The groups of `names` that had to be created."""
    return [name for name in names if ensure_group(logs, name)]


def ensure_stream(logs: Any, group: str, stream: str) -> None:
    """Create the stream (and its group if that is missing too) unless it exists."""
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except ClientError as exc:
        if _code(exc) == "ResourceAlreadyExistsException":
            return
        if _code(exc) != "ResourceNotFoundException":
            raise
        ensure_group(logs, group)
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except ClientError as again:
            if _code(again) != "ResourceAlreadyExistsException":
                raise


def is_missing(exc: ClientError) -> bool:
    return _code(exc) == "ResourceNotFoundException"
