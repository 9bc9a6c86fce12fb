"""The compose file and the native runtime describe one topology and cannot drift apart."""

from __future__ import annotations

import yaml

from emulator.runtime import servers, topology
from emulator.runtime.native import NativeRuntime
from emulator.services import health
from emulator.settings import compose_file, project_dir


def test_native_sets_the_same_variables_as_compose() -> None:
    compose = yaml.safe_load(compose_file().read_text())
    compose_keys = set(compose["x-airflow-common"]["environment"])
    native_keys = set(NativeRuntime().service_env())
    # Compose gets paths and listen addresses from the image's fixed layout; natively they vary.
    native_only = {
        "AIRFLOW_HOME",
        "MWAA_LOCAL_DAGS_FOLDER",
        "MWAA_LOCAL_WEB_HEALTH_URL",
        "MWAA_LOCAL_API_HEALTH_URL",
    }
    assert compose_keys == native_keys - native_only


def test_every_service_runs_natively_with_the_compose_command() -> None:
    runtime = NativeRuntime()
    services = topology.load(compose_file())
    started = {name: argv for name, argv, _ in runtime._long_running()}
    for svc in services:
        if svc.kind == "service":
            names = [
                n for n in started if n == svc.name or (svc.name == "worker" and n[:7] == "worker-")
            ]
            assert names, f"{svc.name} is in the compose file but not started natively"
            assert started[names[0]][1:] == list(svc.command[1:])
        if svc.kind == "infra":
            assert svc.name in health.CHECKS
            assert hasattr(servers, svc.name), f"no embedded server for {svc.name}"


def test_compose_ports_come_from_env_file() -> None:
    text = compose_file().read_text()
    env = (project_dir() / ".env").read_text()
    for var in (
        "MWAA_LOCAL_WEB_PORT",
        "MWAA_LOCAL_S3_PORT",
        "MWAA_LOCAL_POSTGRES_PORT",
        "MWAA_LOCAL_REDIS_PORT",
    ):
        assert f"${{{var}}}" in text
        assert f"{var}=" in env
