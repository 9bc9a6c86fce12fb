"""Where things are: the project folder, the state folder, ports and images.

Versions, ports and images have one source of truth, the project's `.env` file, which Docker
Compose reads by itself; a variable set in the process environment wins, as with Compose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Inside the Airflow image and on MWAA these paths are fixed.
CONTAINER_AIRFLOW_HOME = "/usr/local/airflow"


def project_dir() -> Path:
    return Path(os.environ.get("MWAA_LOCAL_PROJECT_DIR", PROJECT_DIR))


def setting(name: str, default: str | None = None) -> str:
    """A value from the process environment, else from `.env`, else `default`."""
    if name in os.environ:
        return os.environ[name]
    value = dotenv_values(project_dir() / ".env").get(name)
    if value is None:
        if default is None:
            raise KeyError(f"{name} is not set in the environment nor in .env")
        return default
    return value


@dataclass(frozen=True)
class Ports:
    web: int
    https: int
    airflow: int
    s3: int
    postgres: int
    redis: int

    @classmethod
    def load(cls) -> Ports:
        return cls(
            web=int(setting("MWAA_LOCAL_WEB_PORT")),
            https=int(setting("MWAA_LOCAL_HTTPS_PORT")),
            airflow=int(setting("MWAA_LOCAL_AIRFLOW_PORT")),
            s3=int(setting("MWAA_LOCAL_S3_PORT")),
            postgres=int(setting("MWAA_LOCAL_POSTGRES_PORT")),
            redis=int(setting("MWAA_LOCAL_REDIS_PORT")),
        )


def state_dir() -> Path:
    """The native runtime keeps everything here; `make clean` removes it."""
    return Path(os.environ.get("MWAA_LOCAL_HOME", project_dir() / ".mwaa-local")).resolve()


def environment_file() -> Path:
    return Path(os.environ.get("MWAA_LOCAL_ENVIRONMENT_FILE", project_dir() / "environment.json"))


def compose_file() -> Path:
    return project_dir() / "docker-compose.yml"
