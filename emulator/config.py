"""Every setting of mwaa-local, in one typed object loaded once per process.

Each field is the variable `MWAA_LOCAL_{FIELD}` (plus Compose's own `COMPOSE_PROJECT_NAME`).
Values come, strongest first, from the process environment, then the project's `.env`, then
the installation's `.env` (the defaults; the same file in a checkout, which Docker Compose reads
by itself too), then the defaults here; pydantic-settings does the reading and the type
checks, so a bad value names its variable. The README's "Settings" table
documents every variable; `tests/unit/test_config.py` fails when code reads one it does not.

Two kinds of settings live here: the user's (ports, images, timing, credentials), and those a
runtime sets for the service processes it starts (addresses of the database, broker and S3, the
state folder), which Compose sets from docker-compose.yml and the native runtime from its
layout.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from emulator.errors import ConfigError

# mwaa-local's own files: docker-compose.yml, .env (the defaults), images/, requirements/*.lock.
# A checkout, or the installation the tool makes on first use (emulator/tool/): the code and
# these files always sit side by side.
INSTALL_DIR = Path(__file__).resolve().parent.parent
# The project (environment.json, dags/, plugins/, requirements): by default the checkout itself;
# the tool points MWAA_LOCAL_PROJECT_DIR at the user's repository.
PROJECT_DIR = INSTALL_DIR
PREFIX = "MWAA_LOCAL_"
# Inside the Airflow image and on MWAA these paths are fixed.
CONTAINER_AIRFLOW_HOME = "/usr/local/airflow"


@dataclass(frozen=True)
class Ports:
    """The ports published on 127.0.0.1, the same in both runtimes."""

    NAMES: ClassVar[tuple[str, ...]] = (
        "web",
        "https",
        "airflow",
        "s3",
        "postgres",
        "redis",
        "logs",
    )
    web: int
    https: int
    airflow: int
    s3: int
    postgres: int
    redis: int
    logs: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    # -- where things are ---------------------------------------------------------------------
    project_dir: Path = PROJECT_DIR
    home: Path | None = None  # the native state folder; default: PROJECT_DIR/.mwaa-local
    environment_file: Path | None = None  # default: PROJECT_DIR/environment.json
    servers_venv: Path | None = None  # default: INSTALL_DIR/.venv-servers
    # The tool (emulator/tool/, which reads these itself: it runs before this library exists).
    tool_home: Path | None = None  # its platform installs; default ~/.cache/mwaa-local
    wheelhouse: Path | None = None  # wheels to install from instead of the package index
    platform_python: str | None = None  # the Python 3.11 the platform runs on
    dags_folder: Path | None = None  # the watcher's mirror; default: AIRFLOW_HOME/dags

    # -- ports on 127.0.0.1 (.env; needed on the host, not inside containers) -------------------
    web_port: int | None = Field(default=None, ge=1, le=65535)
    https_port: int | None = Field(default=None, ge=1, le=65535)
    airflow_port: int | None = Field(default=None, ge=1, le=65535)
    s3_port: int | None = Field(default=None, ge=1, le=65535)
    postgres_port: int | None = Field(default=None, ge=1, le=65535)
    redis_port: int | None = Field(default=None, ge=1, le=65535)
    logs_port: int | None = Field(default=None, ge=1, le=65535)

    # -- behaviour ------------------------------------------------------------------------
    timing: Literal["fast", "mwaa"] = "fast"
    region: str = "us-east-1"
    account_id: str = Field(default="000000000000", pattern=r"^\d{12}$")
    strict_auth: bool = False
    access_file: Path | None = None
    # Host names the API answers besides the loopback ones (comma-separated; ".x" = *.x).
    allowed_hosts: str = ""
    scale_in_idle_s: float = Field(default=120.0, ge=0)
    scale_in_grace_s: float = Field(default=120.0, ge=0)
    autoscale_interval_s: float = Field(default=1.0, gt=0)
    s3_access_key: str | None = None
    s3_secret_key: str | None = None

    # -- Docker (.env) --------------------------------------------------------------------
    postgres_image: str | None = None
    redis_image: str | None = None
    s3_image: str | None = None
    airflow_image: str | None = None
    logs_image: str | None = None
    offline: bool = False
    compose: Literal["", "docker compose", "docker-compose"] = ""
    compose_project_name: str = Field(
        default="mwaa-local", validation_alias=AliasChoices("COMPOSE_PROJECT_NAME")
    )
    debian_mirror: str | None = None
    wheel_python: str | None = None

    # -- set by a runtime for the services it starts ------------------------------------------
    state_dir: Path | None = None
    db_url: str | None = None
    broker_url: str | None = None
    s3_endpoint: str | None = None
    logs_endpoint: str | None = None
    listen: str = "0.0.0.0:8080"
    tls_listen: str = "0.0.0.0:8443"
    airflow_url: str = "http://127.0.0.1:8081"
    web_hostname: str = "localhost:8443"
    web_health_url: str = "http://127.0.0.1:8080/health"
    api_health_url: str = "http://127.0.0.1:8080/aws_mwaa/aws-console-sso"
    seed_dir: Path | None = None
    worker_id: str | None = None
    autoscaler_backend: Literal["docker", "process"] = "docker"
    # Airflow's own variable, which the image and the native runtime set.
    airflow_home: Path | None = Field(default=None, validation_alias=AliasChoices("AIRFLOW_HOME"))

    def require(self, *fields: str) -> None:
        """Raise ConfigError naming each of `fields` that has no value."""
        missing = [variable(f) for f in fields if getattr(self, f) is None]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set: they belong in {self.project_dir / '.env'} "
                "(or the shell); services get them from `mwaa-local up` or docker compose"
            )

    @property
    def ports(self) -> Ports:
        self.require(*(f"{name}_port" for name in Ports.NAMES))
        return Ports(**{name: getattr(self, f"{name}_port") for name in Ports.NAMES})

    # -- derived ---------------------------------------------------------------------------
    @property
    def state_root(self) -> Path:
        """The native runtime keeps everything here; `make clean` removes it."""
        return (self.home or self.project_dir / ".mwaa-local").resolve()

    @property
    def environment_path(self) -> Path:
        return self.environment_file or self.project_dir / "environment.json"

    @property
    def compose_file(self) -> Path:
        return INSTALL_DIR / "docker-compose.yml"

    @property
    def servers_venv_path(self) -> Path:
        return self.servers_venv or INSTALL_DIR / ".venv-servers"


def variable(field: str) -> str:
    """The environment variable behind a field of Settings."""
    aliases = {"compose_project_name": "COMPOSE_PROJECT_NAME", "airflow_home": "AIRFLOW_HOME"}
    if field in aliases:
        return aliases[field]
    if field not in Settings.model_fields:
        raise KeyError(field)
    return PREFIX + field.upper()


def env_files(project: Path) -> tuple[Path, ...]:
    """The `.env` files settings are read from, the stronger last: the installation's (the
    defaults), then the project's when it is another folder."""
    files = [INSTALL_DIR / ".env"]
    if project.resolve() != INSTALL_DIR:
        files.append(project / ".env")
    return tuple(files)


def load() -> Settings:
    """Read the settings now (for tests and objects that must see a changed environment);
    most code asks `settings()`, which reads them once."""
    project = Path(os.environ.get(variable("project_dir"), PROJECT_DIR))
    files = env_files(project)
    try:
        return Settings(_env_file=files)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_describe(exc, files[-1])) from None


def _describe(exc: ValidationError, env_file: Path) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = variable(field) if field in Settings.model_fields else field
        given = error.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        problems.append(f"{name}: {error['msg']}{shown}")
    return (
        "; ".join(problems)
        + f". Fix it in {env_file} or in your shell (a variable in the shell wins)."
    )


@functools.cache
def settings() -> Settings:
    """This process's settings, read once."""
    return load()
