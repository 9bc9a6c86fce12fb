"""Load and validate `environment.json`, the CreateEnvironment input of the environment.

Shapes (types, lengths, patterns, enums) are checked against botocore's own MWAA model, so
they follow the real API; MWAA's service-side rules for Airflow 1.10.12 come after.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore

from emulator.environment import option_values
from emulator.environment.classes import CLASSES, MAX_WORKERS_QUOTA
from emulator.environment.essentials import ESSENTIALS
from emulator.errors import MwaaLocalError

SUPPORTED_AIRFLOW_VERSIONS = ("1.10.12",)
# The bucket rule MWAA enforced at launch (dropped in March 2021, kept for 1.10.12).
LAUNCH_BUCKET_ARN = re.compile(r"arn:aws:s3:::airflow-[a-z0-9.-]+")
# CreateEnvironment requires these; they mean nothing on one machine, so they get defaults.
LOCAL_DEFAULTS: dict[str, Any] = {
    "ExecutionRoleArn": "arn:aws:iam::000000000000:role/mwaa-local-execution",
    "NetworkConfiguration": {},
    "EnvironmentClass": "mw1.small",
    "MinWorkers": 1,
    "MaxWorkers": 10,
    "Schedulers": 1,
    "AirflowVersion": "1.10.12",
    "DagS3Path": "dags",
    "WebserverAccessMode": "PUBLIC_ONLY",
}
LOG_MODULES = ("DagProcessingLogs", "SchedulerLogs", "WebserverLogs", "WorkerLogs", "TaskLogs")


class SpecError(MwaaLocalError, ValueError):
    """An environment definition that breaks a rule; `field` names where."""

    exit_code = 2

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class EnvironmentSpec:
    """A validated CreateEnvironment input with local defaults filled in."""

    data: dict[str, Any] = field(repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def name(self) -> str:
        return self.data["Name"]

    @property
    def bucket(self) -> str:
        return self.data["SourceBucketArn"].split(":::", 1)[1]

    @property
    def config_options(self) -> dict[str, str]:
        return dict(self.data.get("AirflowConfigurationOptions") or {})


@cache
def _model() -> dict[str, Any]:
    """botocore's MWAA model, from the file botocore ships (its latest API version). Read
    directly: botocore.loaders would bring most of botocore into every service process (about
    4.5 MiB each, and 45 ms on each `mwaa-local` command) to read this one file."""
    folder = Path(botocore.__file__).parent / "data" / "mwaa"
    version = max(p.name for p in folder.iterdir() if p.is_dir())  # versions are dates
    plain = folder / version / "service-2.json"
    if plain.exists():
        return json.loads(plain.read_text())
    with gzip.open(f"{plain}.gz", "rt", encoding="utf-8") as model:
        return json.load(model)


def _pattern(raw: str) -> re.Pattern[str]:
    # Python's re has no \p{...} classes; these two stand for letters, digits and spaces.
    raw = raw.replace(r"\p{L}\p{Z}\p{N}", r"\w\s")
    return re.compile(raw)


def _check_shape(value: Any, shape_name: str, where: str) -> None:
    shapes = _model()["shapes"]
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            raise SpecError(where, "must be an object")
        members = shape.get("members", {})
        for key in shape.get("required", []):
            if key not in value:
                raise SpecError(f"{where}.{key}".lstrip("."), "is required")
        for key, item in value.items():
            if key not in members:
                raise SpecError(f"{where}.{key}".lstrip("."), "is not a CreateEnvironment field")
            _check_shape(item, members[key]["shape"], f"{where}.{key}".lstrip("."))
        return
    if kind == "map":
        if not isinstance(value, dict):
            raise SpecError(where, "must be an object")
        _check_length(len(value), shape, where, "entries")
        for key, item in value.items():
            _check_shape(key, shape["key"]["shape"], f"{where} key {key!r}")
            _check_shape(item, shape["value"]["shape"], f"{where}.{key}")
        return
    if kind == "list":
        if not isinstance(value, list):
            raise SpecError(where, "must be a list")
        _check_length(len(value), shape, where, "items")
        for index, item in enumerate(value):
            _check_shape(item, shape["member"]["shape"], f"{where}[{index}]")
        return
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpecError(where, "must be an integer")
        if "min" in shape and value < shape["min"]:
            raise SpecError(where, f"must be at least {shape['min']} (got {value})")
        if "max" in shape and value > shape["max"]:
            raise SpecError(where, f"must be at most {shape['max']} (got {value})")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SpecError(where, "must be true or false")
        return
    if kind == "string":
        if not isinstance(value, str):
            raise SpecError(where, "must be a string")
        if "enum" in shape and value not in shape["enum"]:
            raise SpecError(where, f"must be one of {', '.join(shape['enum'])} (got {value!r})")
        _check_length(len(value), shape, where, "characters")
        if "pattern" in shape and not _pattern(shape["pattern"]).fullmatch(value):
            raise SpecError(where, f"must match {shape['pattern']} (got {value!r})")


def _check_length(n: int, shape: dict[str, Any], where: str, unit: str) -> None:
    if "min" in shape and n < shape["min"]:
        raise SpecError(where, f"must have at least {shape['min']} {unit}")
    if "max" in shape and n > shape["max"]:
        raise SpecError(where, f"must have at most {shape['max']} {unit}")


def validate(raw: Any) -> EnvironmentSpec:
    """Check a CreateEnvironment input with the API model and MWAA's 1.10.12 rules."""
    if not isinstance(raw, dict):
        raise SpecError("(top level)", "must be a JSON object")
    data = {**LOCAL_DEFAULTS, **raw}
    for key in ("Name", "SourceBucketArn"):
        if key not in data:
            raise SpecError(key, "is required")
    _check_shape(data, "CreateEnvironmentInput", "")

    if data["AirflowVersion"] not in SUPPORTED_AIRFLOW_VERSIONS:
        raise SpecError(
            "AirflowVersion",
            f"must be one of {', '.join(SUPPORTED_AIRFLOW_VERSIONS)} "
            f"(got {data['AirflowVersion']!r})",
        )
    if data["EnvironmentClass"] not in CLASSES:
        raise SpecError(
            "EnvironmentClass",
            f"must be one of {', '.join(CLASSES)} (got {data['EnvironmentClass']!r})",
        )
    if data["MaxWorkers"] > MAX_WORKERS_QUOTA:
        raise SpecError(
            "MaxWorkers", f"must be at most {MAX_WORKERS_QUOTA} (got {data['MaxWorkers']})"
        )
    if data["MinWorkers"] > data["MaxWorkers"]:
        raise SpecError(
            "MinWorkers",
            f"must not exceed MaxWorkers (got {data['MinWorkers']} > {data['MaxWorkers']})",
        )
    if data["Schedulers"] != 1:
        raise SpecError("Schedulers", f"must be 1 for Airflow 1.10.12 (got {data['Schedulers']})")
    if not LAUNCH_BUCKET_ARN.fullmatch(data["SourceBucketArn"]):
        raise SpecError(
            "SourceBucketArn",
            "must be arn:aws:s3:::airflow-<name> for Airflow 1.10.12 "
            f"(got {data['SourceBucketArn']!r})",
        )
    for key, value in (data.get("AirflowConfigurationOptions") or {}).items():
        where = f"AirflowConfigurationOptions.{key}"
        if key.count(".") != 1 or not all(key.split(".")):
            raise SpecError(where, "keys must be of the form section.key")
        if key in ESSENTIALS:
            raise SpecError(
                where,
                f"{ESSENTIALS[key]} is set by the service and cannot be overridden",
            )
        problem = option_values.problem(key, value)
        if problem:
            raise SpecError(where, problem)
    return EnvironmentSpec(data)


def load(path: Path) -> EnvironmentSpec:
    """Read and validate an environment file; every problem is a SpecError naming the field."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(str(path), "file not found") from None
    except json.JSONDecodeError as exc:
        raise SpecError(str(path), f"is not valid JSON ({exc})") from None
    return validate(raw)


def check_tags(tags: dict[str, str]) -> None:
    """Tags as TagResource takes them (1 to 50, keys and values per the model)."""
    if tags:
        _check_shape(tags, "TagMap", "Tags")
