"""Every setting of mwaa-local, in one typed object loaded once per process.

Each field is the variable `MWAA_LOCAL_{FIELD}` (plus Compose's own `COMPOSE_PROJECT_NAME`).
Values come, strongest first, from the process environment, then the project's `.env`, then
the installation's `.env` (the defaults; the same file in a checkout, which Docker Compose reads
by itself too), then the defaults here. python-dotenv reads the files and msgspec converts and
checks the types, so a bad value names its variable. (pydantic-settings did both, but it costs
every service process about 20 MiB more than these two: memory the idle figure of
bench/startup counts six times over, natively and in Docker.) The README's "Settings" table
documents every variable; `tests/unit/test_architecture.py` fails when code reads one it does not.

Two kinds of settings live here: the user's (ports, images, timing, credentials), and those a
runtime sets for the service processes it starts (addresses of the database, broker and S3, the
state folder), which Compose sets from docker-compose.yml and the native runtime from its
layout.
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from dotenv import dotenv_values

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


Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
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
    web_port: Port | None = None
    https_port: Port | None = None
    airflow_port: Port | None = None
    s3_port: Port | None = None
    postgres_port: Port | None = None
    redis_port: Port | None = None
    logs_port: Port | None = None

    # -- behaviour ------------------------------------------------------------------------
    timing: Literal["fast", "mwaa"] = "fast"
    region: str = "us-east-1"
    account_id: Annotated[str, msgspec.Meta(pattern=r"^\d{12}$")] = "000000000000"
    strict_auth: bool = False
    access_file: Path | None = None
    # Host names the API answers besides the loopback ones (comma-separated; ".x" = *.x).
    allowed_hosts: str = ""
    scale_in_idle_s: Seconds = 120.0
    scale_in_grace_s: Seconds = 120.0
    # How long the CLI endpoint keeps its warm Airflow (about 100 MiB) after the last command;
    # 0 keeps it always.
    cli_warm_s: Seconds = 120.0
    autoscale_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
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
    compose_project_name: str = "mwaa-local"
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
    airflow_home: Path | None = None

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

    def replace(self, **fields: Any) -> Settings:
        """A copy with `fields` changed (the object itself is frozen)."""
        return msgspec.structs.replace(self, **fields)

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


FIELDS: tuple[str, ...] = Settings.__struct_fields__
# Fields read from another program's variable, without the prefix.
_ALIASES = {"compose_project_name": "COMPOSE_PROJECT_NAME", "airflow_home": "AIRFLOW_HOME"}


def variable(field: str) -> str:
    """The environment variable behind a field of Settings."""
    if field in _ALIASES:
        return _ALIASES[field]
    if field not in FIELDS:
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
    values = _raw_values(files)
    problems = []
    # msgspec stops at the first wrong field: convert each alone, to name every one at once.
    for field, text in values.items():
        try:
            msgspec.convert({field: text}, Settings, strict=False, dec_hook=_to_path)
        except msgspec.ValidationError as exc:
            problems.append(_describe(field, text, exc))
    if problems:
        raise ConfigError(
            "; ".join(problems)
            + f". Fix it in {files[-1]} or in your shell (a variable in the shell wins)."
        )
    return msgspec.convert(values, Settings, strict=False, dec_hook=_to_path)


def _raw_values(files: tuple[Path, ...]) -> dict[str, str]:
    """Each field's text from the strongest source that has it: the process environment, then
    the `.env` files (the later ones stronger). Names are matched without regard to case, as
    pydantic-settings did; a variable that names no field is ignored."""
    by_variable = {variable(field).upper(): field for field in FIELDS}
    sources: list[Mapping[str, str | None]] = [dotenv_values(f) for f in files if f.is_file()]
    values: dict[str, str] = {}
    for source in [*sources, os.environ]:
        for name, text in source.items():
            field = by_variable.get(name.upper())
            if field in _BOOLS and text is not None:
                text = _BOOL_WORDS.get(text.strip().lower(), text)
            if field is not None and text is not None:
                values[field] = text
    return values


# The words a yes/no setting accepts besides true/false/1/0 (those pydantic-settings accepted).
_BOOL_WORDS = {
    "yes": "true",
    "y": "true",
    "on": "true",
    "t": "true",
    "no": "false",
    "n": "false",
    "off": "false",
    "f": "false",
}
_BOOLS = frozenset(f for f, kind in Settings.__annotations__.items() if kind in (bool, "bool"))


def _to_path(kind: type, text: object) -> object:
    if kind is Path and isinstance(text, str):
        return Path(text)
    raise NotImplementedError


_KINDS = {"`int`": "an integer", "`float`": "a number", "`bool`": "true or false", "`str`": "text"}


def _describe(field: str, given: str, exc: msgspec.ValidationError) -> str:
    # "Expected `int | null`, got `str` - at `$.web_port`": the reason without where it is,
    # in words ("Expected `int` >= 1" -> "should be an integer >= 1").
    reason = str(exc).split(" - at `", 1)[0].replace(" | null", "").split(", got `", 1)[0]
    if reason.startswith("Invalid enum value"):
        choices = typing.get_args(typing.get_type_hints(Settings)[field])
        reason = "should be one of " + ", ".join(repr(c) for c in choices)
    elif reason.startswith("Expected "):
        reason = "should be " + reason.removeprefix("Expected ")
        for kind, words in _KINDS.items():
            reason = reason.replace(kind, words)
    return f"{variable(field)}: {reason[:1].lower()}{reason[1:]} (got {given!r})"


@functools.cache
def settings() -> Settings:
    """This process's settings, read once."""
    return load()
