"""What a service process knows about its environment, read from the variables its runtime
sets (docker-compose.yml's `x-airflow-common`, or the native supervisor)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from emulator.environment import spec as spec_module
from emulator.environment import state
from emulator.environment.airflow_config import (
    Infrastructure,
    Paths,
    airflow_environment,
)
from emulator.environment.spec import EnvironmentSpec

# Where requirements.txt's packages are installed (MWAA 1.10.12: not the web server).
REQUIREMENTS_SERVICES = frozenset({"scheduler", "worker", "airflow"})


def _required(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise SystemExit(
            f"mwaa-local: {name} is not set; services are started by `mwaa-local up` "
            "or docker compose, which set it"
        ) from None


@dataclass(frozen=True)
class ServiceContext:
    spec: EnvironmentSpec
    state_dir: Path
    infra: Infrastructure
    paths: Paths
    timing: str

    @classmethod
    def from_environ(cls) -> ServiceContext:
        home = _required("AIRFLOW_HOME")
        return cls(
            spec=spec_module.load(Path(_required("MWAA_LOCAL_ENVIRONMENT_FILE"))),
            state_dir=Path(_required("MWAA_LOCAL_STATE_DIR")),
            infra=Infrastructure(
                db_url=_required("MWAA_LOCAL_DB_URL"),
                broker_url=_required("MWAA_LOCAL_BROKER_URL"),
                s3_endpoint=_required("MWAA_LOCAL_S3_ENDPOINT"),
                s3_access_key=_required("MWAA_LOCAL_S3_ACCESS_KEY"),
                s3_secret_key=_required("MWAA_LOCAL_S3_SECRET_KEY"),
                region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            ),
            paths=Paths(
                airflow_home=home,
                dags_folder=os.environ.get("MWAA_LOCAL_DAGS_FOLDER", f"{home}/dags"),
                plugins_folder=f"{home}/plugins",  # replaced by the staged version
            ),
            timing=os.environ.get("MWAA_LOCAL_TIMING", "fast"),
        )

    def airflow_env(self, service: str | None = None) -> dict[str, str]:
        """This process's environment plus the computed Airflow configuration for `service`.

        The plugins folder is the staged version the definition names, for every component;
        requirements.txt's packages go on PYTHONPATH of the scheduler and the workers only,
        as on MWAA with Airflow 1.10.12 (not the web server, nor the CLI endpoint behind it).
        """
        from emulator.watcher import artifacts

        secrets = state.load(self.state_dir)
        plugins = artifacts.staged_plugins(self.spec, self.state_dir)
        if plugins is None:
            plugins = self.state_dir / "plugins" / "none"
            plugins.mkdir(parents=True, exist_ok=True)
        paths = dataclasses.replace(self.paths, plugins_folder=str(plugins))
        computed = airflow_environment(self.spec, secrets, self.infra, paths, self.timing)
        env = {**os.environ, **computed}
        packages = artifacts.staged_requirements(self.spec, self.state_dir)
        if packages is not None and service in REQUIREMENTS_SERVICES:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(packages), os.environ.get("PYTHONPATH", "")) if p
            )
        return env
