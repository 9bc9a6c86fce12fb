"""environment.json is checked with MWAA's rules and every error names its field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from emulator.environment import spec

GOOD = json.loads((Path(__file__).resolve().parents[2] / "environment.json").read_text())


def changed(**fields: object) -> dict:
    data = copy.deepcopy(GOOD)
    for key, value in fields.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_the_shipped_environment_is_valid() -> None:
    env = spec.validate(GOOD)
    assert env.name == "mwaa-local"
    assert env.bucket == "airflow-mwaa-local"


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"Name": "9starts-with-digit"}, "Name", "must match"),
        ({"Name": "x" * 81}, "Name", "at most 80"),
        ({"Name": None}, "Name", "is required"),
        ({"EnvironmentClass": "mw1.huge"}, "EnvironmentClass", "mw1.small, mw1.medium, mw1.large"),
        ({"MinWorkers": 0}, "MinWorkers", "at least 1"),
        ({"MinWorkers": 5, "MaxWorkers": 3}, "MinWorkers", "must not exceed MaxWorkers"),
        ({"MaxWorkers": 26}, "MaxWorkers", "at most 25"),
        ({"MaxWorkers": "3"}, "MaxWorkers", "must be an integer"),
        ({"SourceBucketArn": "arn:aws:s3:::my-bucket"}, "SourceBucketArn", "airflow-"),
        ({"AirflowVersion": "2.7.2"}, "AirflowVersion", "1.10.12"),
        ({"Schedulers": 2}, "Schedulers", "must be 1"),
        ({"Tags": {}}, "Tags", "at least 1"),
        ({"Colour": "blue"}, "Colour", "is not a CreateEnvironment field"),
        (
            {"LoggingConfiguration": {"TaskLogs": {"Enabled": True, "LogLevel": "LOUD"}}},
            "LoggingConfiguration.TaskLogs.LogLevel",
            "CRITICAL, ERROR, WARNING, INFO, DEBUG",
        ),
        (
            {"AirflowConfigurationOptions": {"Core.Parallelism": "4"}},
            "AirflowConfigurationOptions key 'Core.Parallelism'",
            "must match",
        ),
        (
            {"AirflowConfigurationOptions": {"parallelism": "4"}},
            "AirflowConfigurationOptions.parallelism",
            "section.key",
        ),
    ],
)
def test_a_broken_rule_names_field_and_rule(fields: dict, field: str, rule: str) -> None:
    with pytest.raises(spec.SpecError) as caught:
        spec.validate(changed(**fields))
    assert caught.value.field == field
    assert rule in caught.value.rule


@pytest.mark.parametrize(
    "key",
    [
        "core.executor",
        "core.sql_alchemy_conn",
        "celery.broker_url",
        "celery.result_backend",
        "core.fernet_key",
        "core.dags_folder",
        "core.plugins_folder",
        "webserver.secret_key",
        "webserver.enable_proxy_fix",
    ],
)
def test_essential_settings_cannot_be_overridden(key: str) -> None:
    with pytest.raises(spec.SpecError) as caught:
        spec.validate(changed(AirflowConfigurationOptions={key: "x"}))
    assert caught.value.field == f"AirflowConfigurationOptions.{key}"
    assert "cannot be overridden" in caught.value.rule


def test_missing_and_malformed_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(spec.SpecError, match="file not found"):
        spec.load(tmp_path / "nope.json")
    broken = tmp_path / "environment.json"
    broken.write_text('{"Name": ')
    with pytest.raises(spec.SpecError, match="not valid JSON"):
        spec.load(broken)


def test_local_defaults_fill_what_mwaa_requires_but_a_laptop_does_not_need() -> None:
    env = spec.validate({"Name": "n", "SourceBucketArn": "arn:aws:s3:::airflow-n"})
    assert env["ExecutionRoleArn"].startswith("arn:aws:iam::")
    assert (env["MinWorkers"], env["MaxWorkers"], env["EnvironmentClass"]) == (1, 10, "mw1.small")
