"""`mwaa-local check-dags` for real: Airflow 1.10.12 parses the files, with the project's
plugins and requirements (a wheel shipped in plugins/, as MWAA's guide does it), and no
environment running."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import MWAA_LOCAL
from tests.unit.test_requirements import make_wheel

HEADER = """from datetime import datetime

from airflow import DAG
from airflow.operators.dummy_operator import DummyOperator

"""
OWNED = '{"owner": "data-team"}'
GOOD = (
    HEADER
    + f"""with DAG("good", start_date=datetime(2020, 1, 1), schedule_interval=None,
         default_args={OWNED}) as dag:
    DummyOperator(task_id="first") >> DummyOperator(task_id="second")
"""
)
BROKEN = (
    HEADER
    + """from airflow.operators.bash_operator import BashOperater  # line 6: a typo

with DAG("broken", start_date=datetime(2020, 1, 1)) as dag:
    BashOperater(task_id="t", bash_command="true")
"""
)
SYNTAX = "from airflow import DAG\n\n\ndef broken(:\n    pass\n"
CYCLIC = (
    HEADER
    + f"""with DAG("cyclic", start_date=datetime(2020, 1, 1), default_args={OWNED}) as dag:
    a, b, c = (DummyOperator(task_id=t) for t in "abc")
    a >> b >> c >> a
"""
)
DUPLICATE = (
    HEADER
    + f"""dag = DAG("reports", start_date=datetime(2020, 1, 1), default_args={OWNED})
DummyOperator(task_id="TASK", dag=dag)
same_dag_again = dag  # one DAG under two names is not a duplicate
"""
)
NO_OWNER = (
    HEADER
    + """with DAG("ownerless", start_date=datetime(2020, 1, 1)) as dag:
    DummyOperator(task_id="nobody") >> DummyOperator(task_id="someone", owner="ops")
"""
)
USES_REQUIREMENT = (
    HEADER
    + f"""import mwaa_check_probe  # from requirements.txt

with DAG("uses_requirement_" + mwaa_check_probe.VERSION.replace(".", "_"),
         start_date=datetime(2020, 1, 1), default_args={OWNED}) as dag:
    DummyOperator(task_id="t")
"""
)
REQUIREMENTS = "--no-index\n--find-links /usr/local/airflow/plugins\nmwaa_check_probe==1.0\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def check_dags(project: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MWAA_LOCAL, "check-dags", *args],
        cwd=project,
        env={**os.environ, "MWAA_LOCAL_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_a_good_project_passes(tmp_path: Path, home: Path) -> None:
    project = write(
        tmp_path / "good",
        {"dags/good.py": GOOD, "dags/nested/also.py": GOOD.replace('"good"', '"also"')},
    )
    result = check_dags(project, ".", home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 DAG files in dags (Airflow 1.10.12, safe mode on)" in result.stdout
    assert "OK: no problems; 2 DAGs" in result.stdout


def test_every_kind_of_problem_is_reported_with_file_and_line(tmp_path: Path, home: Path) -> None:
    project = write(
        tmp_path / "bad",
        {
            "dags/good.py": GOOD,
            "dags/broken.py": BROKEN,
            "dags/syntax.py": SYNTAX,
            "dags/cyclic.py": CYCLIC,
            "dags/reports_a.py": DUPLICATE.replace("TASK", "a"),
            "dags/team/reports_b.py": DUPLICATE.replace("TASK", "b"),
            "dags/ownerless.py": NO_OWNER,
        },
    )
    result = check_dags(project, ".", home=home)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert (
        "dags/broken.py:6: import error: ImportError: cannot import name 'BashOperater'" in out
    ), out
    assert "from airflow.operators.bash_operator import BashOperater" in out  # the traceback
    assert "dags/syntax.py:4: import error: SyntaxError: invalid syntax" in out, out
    assert "dags/cyclic.py: cycle: DAG 'cyclic' has a cycle: a -> b -> c -> a" in out, out
    assert (
        "duplicate DAG id: DAG id 'reports' is defined 2 times "
        "(dags/reports_a.py, dags/team/reports_b.py)" in out
    ), out
    assert "dags/ownerless.py: no owner: DAG 'ownerless': task nobody has no owner" in out, out
    assert "someone" not in out  # it names one
    assert "FAILED: 5 problems" in out

    as_json = check_dags(project, "--json", ".", home=home)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    kinds = sorted((p["kind"], p["path"], p["line"]) for p in report["problems"])
    assert kinds == [
        ("cycle", "dags/cyclic.py", None),
        ("duplicate_dag_id", "dags/reports_a.py", None),
        ("import_error", "dags/broken.py", 6),
        ("import_error", "dags/syntax.py", 4),
        ("task_without_owner", "dags/ownerless.py", None),
    ]
    owner = next(p for p in report["problems"] if p["kind"] == "task_without_owner")
    assert owner["dag_id"] == "ownerless" and owner["task_ids"] == ["nobody"]
    assert set(report["dag_ids"]) == {"good", "reports", "ownerless"}


def test_airflowignore_and_safe_mode_as_airflow_applies_them(tmp_path: Path, home: Path) -> None:
    project = write(
        tmp_path / "ignore",
        {
            "dags/good.py": GOOD,
            # Matched by .airflowignore's regular expression: never imported.
            "dags/scratch/experiment.py": BROKEN,
            "dags/.airflowignore": "scratch/\n# a comment\n",
            # No "DAG" and "airflow" in it: safe mode skips it, so its error never shows.
            "dags/helpers.py": "raise RuntimeError('imported')\n",
        },
    )
    result = check_dags(project, ".", home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ignored by .airflowignore: dags/scratch/experiment.py" in result.stdout
    assert "skipped by safe mode" in result.stdout and "dags/helpers.py" in result.stdout

    # The environment's configuration applies: with safe mode off the helper is imported.
    (project / "environment.json").write_text(
        json.dumps(
            {
                "Name": "checks",
                "SourceBucketArn": "arn:aws:s3:::airflow-checks",
                "AirflowConfigurationOptions": {"core.dag_discovery_safe_mode": "False"},
            }
        )
    )
    result = check_dags(project, ".", home=home)
    assert result.returncode == 1
    assert "safe mode off" in result.stdout
    assert "dags/helpers.py:1: import error: RuntimeError: imported" in result.stdout


def test_a_package_from_requirements_txt_is_there_as_on_the_scheduler(
    tmp_path: Path, home: Path
) -> None:
    project = write(
        tmp_path / "requirements",
        {"dags/uses.py": USES_REQUIREMENT, "requirements.txt": REQUIREMENTS},
    )
    make_wheel(project / "plugins", "mwaa_check_probe", "1.0")

    result = check_dags(project, ".", home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installed 1 package: mwaa_check_probe 1.0" in result.stdout
    assert "OK: no problems (1 warning); 1 DAG" in result.stdout
    # The web server of MWAA 1.10.12 has no requirements: said, but not a failure.
    assert "dags/uses.py:6: warning: web server: parses only with requirements.txt's" in (
        result.stdout
    )
    report = json.loads(check_dags(project, "--json", ".", home=home).stdout)
    assert report["dag_ids"] == ["uses_requirement_1_0"]
    # Installed once: the second run found it in the state folder.
    assert len(list((home / "check-dags" / "requirements").iterdir())) == 1

    # Without requirements.txt the same DAG cannot import.
    (project / "requirements.txt").unlink()
    result = check_dags(project, ".", home=home)
    assert result.returncode == 1
    assert "dags/uses.py:6: import error: ModuleNotFoundError: No module named" in result.stdout


def test_requirements_that_do_not_install_fail_the_check(tmp_path: Path, home: Path) -> None:
    project = write(
        tmp_path / "badreq",
        {"dags/good.py": GOOD, "requirements.txt": "--no-index\nno-such-package-mwaa==1.0\n"},
    )
    result = check_dags(project, ".", home=home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "requirements.txt: requirements: pip could not install it" in result.stdout
    assert "no-such-package-mwaa" in result.stdout


def test_a_folder_that_is_not_there_is_a_usage_error(tmp_path: Path, home: Path) -> None:
    result = check_dags(tmp_path, "missing", home=home)
    assert result.returncode == 2
    assert "no such folder" in result.stderr
