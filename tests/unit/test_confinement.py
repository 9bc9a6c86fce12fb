"""Which options of the CLI endpoint's commands name files, read from Airflow's own argument
parser, and where each may point (emulator/airflow_side/confinement.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.airflow_side import allowlist
from emulator.airflow_side.confinement import Folders, file_refusal, subdir_refusal

AIRFLOW = Path(sys.executable).parent / "airflow"


def test_the_path_options_of_the_allowed_commands_come_from_airflows_parser(tmp_path) -> None:
    if not AIRFLOW.exists():
        pytest.skip("Airflow is not installed here")
    script = f"""
import json
from airflow.bin.cli import CLIFactory
from emulator.airflow_side.confinement import path_options
options = path_options(CLIFactory.get_parser())
print(json.dumps({{c: options[c] for c in {sorted(allowlist.ALLOWED)!r}}}))
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    found = {c: o for c, o in json.loads(out.splitlines()[-1]).items() if o}
    dag_commands = allowlist.ALLOWED - {
        "delete_dag",
        "list_dag_runs",
        "pool",
        "variables",
        "version",
    }
    expected = {c: {"subdir": "--subdir"} for c in dag_commands}
    expected["run"]["cfg_path"] = "--cfg_path"
    expected["show_dag"]["save"] = "--save"
    expected["pool"] = {"import": "--import", "export": "--export"}
    expected["variables"] = {"import": "--import", "export": "--export"}
    assert found == expected


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    (tmp_path / "airflow" / "exchange").mkdir(parents=True)
    (tmp_path / "airflow" / "dags" / "team").mkdir(parents=True)
    return Folders(str(tmp_path / "airflow" / "exchange"), str(tmp_path / "airflow" / "dags"))


# Airflow opens these paths as given: `~/x` is a folder named ~ in the exchange folder.
@pytest.mark.parametrize(
    "value", ["vars.json", "./sub/../vars.json", "{exchange}/vars.json", "~/x"]
)
def test_files_in_the_exchange_folder_are_allowed(folders, value) -> None:
    assert file_refusal("variables", "--export", value.format(**vars(folders)), folders) is None


@pytest.mark.parametrize(
    "value", ["/etc/passwd", "../vars.json", "{exchange}/../x.json", "{dags}/x.json", "~/../../x"]
)
def test_files_anywhere_else_are_refused(folders, value) -> None:
    refusal = file_refusal("variables", "--export", value.format(**vars(folders)), folders)
    assert refusal and folders.exchange in refusal


def test_a_link_out_of_the_exchange_folder_is_followed_and_refused(folders, tmp_path) -> None:
    (Path(folders.exchange) / "out").symlink_to(tmp_path)
    assert file_refusal("variables", "--export", "out/x.json", folders)
    (Path(folders.exchange) / "bashrc.json").symlink_to(tmp_path / ".bashrc")
    assert file_refusal("variables", "--export", "bashrc.json", folders)


def test_show_dag_save_checks_the_file_graphviz_writes_beside(folders, tmp_path) -> None:
    assert file_refusal("show_dag", "--save", "graph.png", folders) is None
    (Path(folders.exchange) / "graph").symlink_to(tmp_path / ".profile")
    assert file_refusal("show_dag", "--save", "graph.png", folders)


@pytest.mark.parametrize(
    "value", [None, "", "DAGS_FOLDER", "DAGS_FOLDER/team", "{dags}/team/x.py", "~/dags"]
)
def test_subdir_may_name_the_dags_folder_or_below(folders, value, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(Path(folders.dags).parent))  # ~ is the Airflow home
    given = value.format(**vars(folders)) if value else value
    assert subdir_refusal("list_dags", given, folders) is None


@pytest.mark.parametrize(
    "value", ["/tmp", "DAGS_FOLDER/..", "{exchange}", "dags", "DAGS_FOLDER/../exchange/x.py"]
)
def test_subdir_anywhere_else_is_refused(folders, value) -> None:
    refusal = subdir_refusal("list_dags", value.format(**vars(folders)), folders)
    assert refusal and "DAGs folder" in refusal
