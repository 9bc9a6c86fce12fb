"""UpdateEnvironment's changes to a definition."""

from __future__ import annotations

from emulator.api.backend import updated

SPEC = {
    "Name": "env",
    "MinWorkers": 1,
    "LoggingConfiguration": {
        "TaskLogs": {"Enabled": True, "LogLevel": "INFO"},
        "WorkerLogs": {"Enabled": True, "LogLevel": "WARNING"},
    },
}


def test_a_logging_module_left_out_keeps_its_setting() -> None:
    changes = {"LoggingConfiguration": {"TaskLogs": {"Enabled": False, "LogLevel": "INFO"}}}
    result = updated(SPEC, changes)
    assert result["LoggingConfiguration"] == {
        "TaskLogs": {"Enabled": False, "LogLevel": "INFO"},
        "WorkerLogs": {"Enabled": True, "LogLevel": "WARNING"},
    }
    assert SPEC["LoggingConfiguration"]["TaskLogs"]["Enabled"] is True  # not changed in place


def test_other_fields_are_replaced_and_logging_kept_when_not_named() -> None:
    result = updated(SPEC, {"MinWorkers": 2})
    assert result["MinWorkers"] == 2
    assert result["LoggingConfiguration"] == SPEC["LoggingConfiguration"]
