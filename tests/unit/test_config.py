"""Where a setting comes from, and what a wrong one says (emulator/config.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dotenv import dotenv_values

from emulator import config
from emulator.errors import ConfigError

OTHER_PROGRAMS = ("COMPOSE_PROJECT_NAME", "AIRFLOW_HOME")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder of its own, and a shell without mwaa-local's variables."""
    for name in list(os.environ):
        if name.upper().startswith(config.PREFIX) or name in OTHER_PROGRAMS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("MWAA_LOCAL_PROJECT_DIR", str(tmp_path))
    return tmp_path


def test_the_shell_beats_the_projects_env_file_which_beats_the_installations(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = dotenv_values(config.INSTALL_DIR / ".env")
    assert installed["MWAA_LOCAL_WEB_PORT"]  # the defaults come from the installation's file

    (project / ".env").write_text("MWAA_LOCAL_WEB_PORT=18080\nMWAA_LOCAL_REGION=eu-west-1\n")
    monkeypatch.setenv("MWAA_LOCAL_REGION", "ap-south-1")
    loaded = config.load()

    assert loaded.web_port == 18080
    assert loaded.region == "ap-south-1"
    assert loaded.s3_port == int(installed["MWAA_LOCAL_S3_PORT"] or 0)
    assert loaded.project_dir == project


def test_other_programs_variables_fill_their_fields(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "team-a")
    monkeypatch.setenv("AIRFLOW_HOME", "/srv/airflow")
    monkeypatch.setenv("MWAA_LOCAL_STRICT_AUTH", "yes")

    loaded = config.load()

    assert loaded.compose_project_name == "team-a"
    assert loaded.airflow_home == Path("/srv/airflow")
    assert loaded.strict_auth is True


def test_a_bad_value_in_the_env_file_names_its_variable_and_the_file(project: Path) -> None:
    (project / ".env").write_text("MWAA_LOCAL_WEB_PORT=eighty\nMWAA_LOCAL_ACCOUNT_ID=12\n")

    with pytest.raises(ConfigError) as raised:
        config.load()

    message = str(raised.value)
    assert "MWAA_LOCAL_WEB_PORT: should be an integer (got 'eighty')" in message
    assert "MWAA_LOCAL_ACCOUNT_ID" in message
    assert str(project / ".env") in message


def test_an_out_of_range_port_from_the_shell_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MWAA_LOCAL_S3_PORT", "70000")

    with pytest.raises(ConfigError, match="MWAA_LOCAL_S3_PORT"):
        config.load()


def test_a_variable_that_names_no_setting_is_ignored(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MWAA_LOCAL_NO_SUCH_THING", "1")
    (project / ".env").write_text("SOMETHING_ELSE=2\n")

    assert config.load().region == "us-east-1"


def test_a_choice_outside_the_list_is_told_the_choices(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MWAA_LOCAL_TIMING", "slow")

    with pytest.raises(ConfigError, match="MWAA_LOCAL_TIMING: should be one of 'fast', 'mwaa'"):
        config.load()
