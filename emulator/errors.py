"""The project's own exceptions. Library code raises them; `mwaa-local` (emulator/cli.py) turns
each into one message on stderr, saying what to do next, and an exit code."""

from __future__ import annotations


class MwaaLocalError(Exception):
    """Something a user can fix; the message says what and how."""

    exit_code = 1


class ConfigError(MwaaLocalError):
    """A setting (from .env or the shell) is missing or has a bad value; names the variable."""

    exit_code = 2


class UsageError(MwaaLocalError):
    """A command was asked for something it cannot do as asked."""

    exit_code = 2


class UpError(MwaaLocalError):
    """`up` could not bring the environment to AVAILABLE."""


class ServiceError(MwaaLocalError):
    """A service (`mwaa-local run NAME`) cannot start or go on."""


class DeployError(MwaaLocalError):
    """Deploying stopped; what was already uploaded stays (as with a partial `aws s3 sync`)."""


class StagingError(MwaaLocalError):
    """A plugins or requirements version could not be staged; `code` is LastUpdate.Error's
    ErrorCode."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class HistoryError(MwaaLocalError):
    """An export, import or snapshot cannot go on; nothing was changed (an import is one
    transaction, a restore checks everything it needs first)."""


class SnapshotError(MwaaLocalError):
    """A snapshot cannot be saved or restored as asked; the message says what to do."""
