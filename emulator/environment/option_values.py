"""Values that Airflow can read for its configuration options, checked before an environment
definition is accepted: a value Airflow cannot read stops its services at start (e.g.
`celery.worker_autoscale: "abc"`), so it is refused with the option named instead.

What Airflow expects comes from Airflow itself: its default configuration file (read as data
through the package's metadata, without importing Airflow) gives each option's default, and a
default of `True`/`False` or a whole number means Airflow reads it with `getboolean` or
`getint` (tests/unit/test_option_values.py checks that against Airflow's own calls). Options
it does not list (a plugin's own) are not checked.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
from functools import cache
from pathlib import Path

# Beside Airflow's package (found without importlib.metadata, which costs every service
# process some 4 MiB).
DEFAULTS_FILE = "config_templates/default_airflow.cfg"
# Whole-number defaults that Airflow reads with getfloat.
FLOATS = frozenset({"scheduler.processor_poll_interval", "scheduler.job_heartbeat_sec"})
# What Airflow 1.10.12's getboolean accepts (lowercased, before any `#` comment).
BOOLEANS = ("t", "true", "1", "f", "false", "0")
_INTEGER = re.compile(r"-?\d+")
_AUTOSCALE = re.compile(r"\s*(\d+)\s*,\s*(\d+)\s*")


@cache
def kinds() -> dict[str, str]:
    """`section.key` -> "boolean" | "integer" | "float" for the options Airflow reads so."""
    spec = importlib.util.find_spec("airflow")
    if spec is None or spec.origin is None:
        return {}
    try:
        text = (Path(spec.origin).parent / DEFAULTS_FILE).read_text()
    except OSError:
        return {}
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    found = {}
    for section in parser.sections():
        for key, default in parser.items(section):
            name, default = f"{section}.{key}", default.strip()
            if default in ("True", "False"):
                found[name] = "boolean"
            elif name in FLOATS:
                found[name] = "float"
            elif _INTEGER.fullmatch(default):
                found[name] = "integer"
    return found


def _number(value: str, convert: type) -> bool:
    try:
        convert(value.strip())
    except ValueError:
        return False
    return True


def worker_autoscale_problem(value: str) -> str | None:
    """Celery's `--autoscale max,min`, which the workers start with."""
    match = _AUTOSCALE.fullmatch(value)
    if match is None:
        return f'must be "max,min" (two whole numbers, e.g. "5,1"); got {value!r}'
    most, least = int(match[1]), int(match[2])
    if most < 1 or least > most:
        return f"must have 1 <= max and min <= max (got max {most}, min {least})"
    return None


def problem(key: str, value: str) -> str | None:
    """Why Airflow could not read `value` for option `key` (`section.key`), or None."""
    if key == "celery.worker_autoscale":
        return worker_autoscale_problem(value)
    kind = kinds().get(key)
    if kind == "boolean":
        word = value.lower().strip().split("#", 1)[0].strip()
        if word not in BOOLEANS:
            return f"must be True or False, as Airflow reads it (got {value!r})"
    elif kind == "integer" and not _number(value, int):
        return f"must be a whole number, as Airflow reads it (got {value!r})"
    elif kind == "float" and not _number(value, float):
        return f"must be a number, as Airflow reads it (got {value!r})"
    return None
