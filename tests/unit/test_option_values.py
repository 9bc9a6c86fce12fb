"""Values Airflow cannot read are refused, naming the option (option_values.py); what Airflow
expects is what its own code reads (getint, getfloat, getboolean)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from emulator.environment import option_values
from emulator.environment.spec import SpecError, validate

BASE = {"Name": "env", "SourceBucketArn": "arn:aws:s3:::airflow-env"}
AIRFLOW = Path(sys.executable).parent.parent / "lib"


def _with(options: dict[str, str]) -> dict:
    return {**BASE, "AirflowConfigurationOptions": options}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("celery.worker_autoscale", "abc"),
        ("celery.worker_autoscale", "5"),
        ("celery.worker_autoscale", "1,5"),
        ("celery.worker_autoscale", "0,0"),
        ("celery.worker_autoscale", "5,1,2"),
        ("celery.worker_concurrency", "lots"),
        ("core.parallelism", "3.5"),
        ("core.dag_concurrency", "16 tasks"),
        ("scheduler.dag_dir_list_interval", "five minutes"),
        ("scheduler.processor_poll_interval", "often"),
        ("core.load_examples", "yes"),
        ("webserver.expose_config", "maybe"),
        ("webserver.workers", "two"),
    ],
)
def test_values_airflow_cannot_read_are_refused_naming_the_option(key, value) -> None:
    with pytest.raises(SpecError) as caught:
        validate(_with({key: value}))
    assert caught.value.field == f"AirflowConfigurationOptions.{key}"
    assert repr(value) in str(caught.value) or "max" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("celery.worker_autoscale", "5,1"),
        ("celery.worker_autoscale", " 10 , 0 "),
        ("celery.worker_concurrency", "8"),
        ("scheduler.processor_poll_interval", "0.5"),
        ("core.load_examples", "False"),
        ("core.load_examples", "t"),
        ("webserver.expose_config", "0 # off"),
        ("webserver.navbar_color", "#ab12cd"),
        ("myplugin.anything", "whatever"),
    ],
)
def test_values_airflow_reads_are_accepted(key, value) -> None:
    assert validate(_with({key: value})).config_options[key] == value


def _airflow_reads() -> dict[str, set[str]]:
    """Every `conf.getint/getfloat/getboolean('section', 'key')` in Airflow's own code."""
    package = next(AIRFLOW.glob("python3*/site-packages/airflow"), None)
    if package is None:
        pytest.skip("Airflow is not installed here")
    call = re.compile(r"\.get(int|float|boolean)\(\s*['\"](\w+)['\"],\s*['\"](\w+)['\"]")
    reads: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        for kind, section, key in call.findall(path.read_text(errors="replace")):
            reads.setdefault(f"{section.lower()}.{key.lower()}", set()).add(kind)
    return reads


def test_the_kinds_agree_with_how_airflow_reads_its_options() -> None:
    names = {"int": "integer", "float": "float", "boolean": "boolean"}
    kinds = option_values.kinds()
    assert kinds, "Airflow's default configuration was not found"
    disagree = {
        key: (sorted(how), kinds[key])
        for key, how in _airflow_reads().items()
        if key in kinds and {names[h] for h in how} != {kinds[key]}
    }
    assert disagree == {}
