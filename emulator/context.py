"""What a service process knows about its environment, from the settings its runtime gave it
(docker-compose.yml's `x-airflow-common`, or the native runtime)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from emulator.artifacts import staging
from emulator.config import Settings, settings
from emulator.environment import secrets as secrets_module
from emulator.environment import spec as spec_module
from emulator.environment.airflow_config import Infrastructure, Paths, airflow_environment
from emulator.environment.spec import EnvironmentSpec
from emulator.errors import ConfigError, ServiceError

# Where requirements.txt's packages are installed (MWAA 1.10.12: not the web server).
REQUIREMENTS_SERVICES = frozenset({"scheduler", "worker", "airflow"})
EXCHANGE = "exchange"
# What a runtime must give every service.
NEEDED = (
    "state_dir",
    "db_url",
    "broker_url",
    "s3_endpoint",
    "s3_access_key",
    "s3_secret_key",
    "logs_endpoint",
)


@dataclass(frozen=True)
class ServiceContext:
    spec: EnvironmentSpec
    state_dir: Path
    infra: Infrastructure
    paths: Paths
    timing: str

    @classmethod
    def from_settings(cls, config: Settings | None = None) -> ServiceContext:
        config = config or settings()
        try:
            config.require(*NEEDED, "airflow_home")
        except ConfigError as exc:
            raise ServiceError(
                f"{exc}. Services are started by `mwaa-local up` or docker compose."
            ) from None
        assert config.airflow_home and config.state_dir  # checked just above
        home = str(config.airflow_home)
        return cls(
            spec=spec_module.load(config.environment_path),
            state_dir=config.state_dir,
            infra=Infrastructure(
                db_url=str(config.db_url),
                broker_url=str(config.broker_url),
                s3_endpoint=str(config.s3_endpoint),
                s3_access_key=str(config.s3_access_key),
                s3_secret_key=str(config.s3_secret_key),
                region=config.region,
                logs_endpoint=str(config.logs_endpoint),
                account_id=config.account_id,
            ),
            paths=Paths(
                airflow_home=home,
                dags_folder=str(config.dags_folder or f"{home}/dags"),
                plugins_folder=f"{home}/plugins",  # replaced by the staged version
            ),
            timing=config.timing,
        )

    @property
    def exchange_folder(self) -> Path:
        """Where the CLI endpoint's commands run, and the only folder their file options may
        name (`variables -e vars.json` lands there): `~/exchange`, in the Airflow home."""
        return Path(self.paths.airflow_home) / EXCHANGE

    def with_spec(self, spec: EnvironmentSpec) -> ServiceContext:
        return dataclasses.replace(self, spec=spec)

    def airflow_env(
        self, service: str | None = None, log_spool: Path | None = None
    ) -> dict[str, str]:
        """This process's environment plus the computed Airflow configuration for `service`,
        whose log lines wait in `log_spool` for its CloudWatch shipper.

        The plugins folder is the staged version the definition names, for every component;
        requirements.txt's packages go on PYTHONPATH of the scheduler and the workers only,
        as on MWAA with Airflow 1.10.12 (not the web server, nor the CLI endpoint behind it).
        """
        secrets = secrets_module.load(self.state_dir)
        plugins = staging.staged_plugins(self.spec, self.state_dir)
        if plugins is None:
            plugins = self.state_dir / "plugins" / "none"
            plugins.mkdir(parents=True, exist_ok=True)
        paths = dataclasses.replace(self.paths, plugins_folder=str(plugins))
        computed = airflow_environment(
            self.spec,
            secrets,
            self.infra,
            paths,
            self.timing,
            service=service,
            log_spool=str(log_spool) if log_spool else None,
        )
        env = {**os.environ, **computed}
        packages = staging.staged_requirements(self.spec, self.state_dir)
        if packages is not None and service in REQUIREMENTS_SERVICES:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(packages), os.environ.get("PYTHONPATH", "")) if p
            )
        return env
