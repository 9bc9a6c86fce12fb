"""The compose file and the native runtime describe one topology and cannot drift apart."""

from __future__ import annotations

import yaml

from emulator import health
from emulator.config import settings
from emulator.runtime import servers, topology
from emulator.runtime.native import NativeRuntime
from emulator.services import ENTRYPOINTS


def test_native_sets_the_same_variables_as_compose() -> None:
    compose = yaml.safe_load(settings().compose_file.read_text())
    compose_keys = set(compose["x-airflow-common"]["environment"])
    native_keys = set(NativeRuntime().service_env())
    # Compose gets paths and listen addresses from the image's fixed layout; natively they vary.
    native_only = {
        "AIRFLOW_HOME",
        "MWAA_LOCAL_HOME",
        "MWAA_LOCAL_DAGS_FOLDER",
        "MWAA_LOCAL_WEB_HEALTH_URL",
        "MWAA_LOCAL_API_HEALTH_URL",
    }
    assert compose_keys == native_keys - native_only


def test_every_service_runs_natively_with_the_compose_command() -> None:
    programs = {p.name: p for p in NativeRuntime().programs()}
    for svc in topology.load(settings().compose_file):
        if svc.kind == "service":
            assert svc.name in programs, f"{svc.name} is in the compose file but not natively"
            assert programs[svc.name].argv[1:] == list(svc.command[1:])
            assert svc.command[:2] == ("mwaa-local", "run") and svc.command[2] in ENTRYPOINTS
        if svc.kind == "infra":
            assert svc.name in health.CHECKS
            assert svc.name in programs, f"no embedded server for {svc.name}"
            assert hasattr(servers, svc.name)
        if svc.kind == "oneshot":
            assert svc.command[2] in ENTRYPOINTS


def test_the_native_restart_policy_is_the_compose_files() -> None:
    """Compose restarts every long-running service; supervisord restarts every program."""
    compose = yaml.safe_load(settings().compose_file.read_text())["services"]
    programs = {p.name: p for p in NativeRuntime().programs()}
    for name, body in compose.items():
        if (body.get("labels") or {}).get("mwaa-local.kind") == "oneshot":
            assert name not in programs
            continue
        assert body.get("restart") == "unless-stopped", name
        assert name in programs, name  # every program is autorestart=true (processes.py)


def test_compose_ports_come_from_env_file() -> None:
    text = settings().compose_file.read_text()
    env = (settings().project_dir / ".env").read_text()
    for var in (
        "MWAA_LOCAL_WEB_PORT",
        "MWAA_LOCAL_S3_PORT",
        "MWAA_LOCAL_POSTGRES_PORT",
        "MWAA_LOCAL_REDIS_PORT",
        "MWAA_LOCAL_LOGS_PORT",
    ):
        assert f"${{{var}}}" in text
        assert f"{var}=" in env
