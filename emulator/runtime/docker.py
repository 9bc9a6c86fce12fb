"""The Docker runtime: docker-compose.yml run by Docker Compose (v2 `docker compose`, else v1
`docker-compose`), with each component's health read from Docker's healthchecks."""

from __future__ import annotations

import functools
import io
import json
import os
import queue
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from emulator import waiting
from emulator.artifacts.staging import requirements_log
from emulator.config import FIELDS, Ports, Settings, settings, variable
from emulator.environment import database
from emulator.environment import spec as spec_module
from emulator.environment.secrets import STATE_FILE, Secrets
from emulator.errors import HistoryError, UpError, UsageError
from emulator.runtime import images, port_conflict, readiness, topology
from emulator.runtime.base import (
    UP_TIMEOUT_S,
    ComponentHealth,
    EnvironmentStatus,
    Progress,
    overall_status,
    run_client,
)
from emulator.runtime.docker_engine import docker_engine_answers

if TYPE_CHECKING:
    import docker

DEFAULT_PROJECT = "mwaa-local"
# The one service `up` scales (MinWorkers of it); its replicas are worker-1, worker-2, ...
SCALED = "worker"
# The images `up` chose (stand-ins or not), so later compose commands see the same file.
IMAGES_FILE = "docker-images.json"
REPORT_EVERY_S = 5
# A port the engine's record still holds with no container publishing it is asked for again
# this many times, this far apart (see port_conflict.py).
PORT_RETRIES = 3
PORT_RETRY_S = 5.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Compose's line per network, volume or container and step (v2: "Container x  Healthy", v1:
# "Creating x ... done"): `up` folds them into its own "waiting for" line.
_COMPOSE_STEP = re.compile(
    r"""^(?:
        (?:Network|Volume|Container)\s+\S+\s+
        (?:Creating|Created|Starting|Started|Waiting|Healthy|Running|Recreated?|Exited)
      | (?:Creating|Starting|Recreating)\s+(?:network\s+|volume\s+)?\S+.*?
        (?:\.\.\.\s*(?:done)?|driver)
    )$""",
    re.VERBOSE,
)
_LABEL_PROJECT = "com.docker.compose.project"
_LABEL_SERVICE = "com.docker.compose.service"
_LABEL_NUMBER = "com.docker.compose.container-number"
_LABEL_VOLUME = "com.docker.compose.volume"
# The volumes behind base.FILE_PARTS.
VOLUMES = {"state": "mwaa-state", "dags": "dags", "logs": "airflow-logs"}
# Run as root in a throwaway container: GNU tar as root keeps the owners the tar records.
RESTORE_SCRIPT = "find /data -mindepth 1 -delete && tar -x -p -f /tmp/snapshot.tar -C /data"


def compose_command(config: Settings) -> tuple[str, ...]:
    return _compose_command(config.compose)


@functools.cache
def _compose_command(chosen: str) -> tuple[str, ...]:
    """`docker compose` (v2) when it works, else `docker-compose` (v1); MWAA_LOCAL_COMPOSE
    (`docker compose` or `docker-compose`) chooses when both are installed."""
    if chosen:
        return tuple(chosen.split())
    if shutil.which("docker"):
        try:
            v2 = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
            )
        except subprocess.TimeoutExpired:
            v2 = None
        if v2 is not None and v2.returncode == 0:
            return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    raise UpError(
        "Docker Compose is not installed (neither `docker compose` nor `docker-compose` runs); "
        "install it, or run `mwaa-local up --runtime native`"
    )


def interpolation_env(config: Settings) -> dict[str, str]:
    """The settings docker-compose.yml interpolates (`${MWAA_LOCAL_...}`), as variables.

    Compose reads `.env` from the project folder only; a user's project may have none, or one
    with a few overrides, while the settings also hold the installation's defaults."""
    names = set(re.findall(r"\$\{(MWAA_LOCAL_[A-Z0-9_]+)", config.compose_file.read_text()))
    env = {}
    for field_name in FIELDS:
        name = variable(field_name)
        value = getattr(config, field_name)
        if name in names and value is not None:
            env[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def project_name(config: Settings) -> str:
    """The compose project: COMPOSE_PROJECT_NAME, which Compose itself reads from `.env` too,
    so that `docker compose ps` in the project folder shows the environment."""
    raw = config.compose_project_name or DEFAULT_PROJECT
    # Compose keeps only these characters of a project name; labels carry the kept form.
    return re.sub(r"[^a-z0-9_-]", "", raw.lower()) or DEFAULT_PROJECT


@dataclass(frozen=True)
class _Container:
    id: str
    service: str
    number: int
    state: str  # Docker's: created, running, restarting, exited, ...
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    exit_code: int
    health_output: str
    restarts: int = 0
    # Docker says "healthy" until `retries` probes in a row have failed; a person asking now
    # wants to know that the last one failed (or timed out).
    last_probe_ok: bool = True
    finished_at: str = ""  # when it last exited ("0001-01-01..." when it never did)
    hostname: str = ""  # what its log streams carry

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.health in (None, "healthy") and self.last_probe_ok

    def describe(self) -> str:
        if self.state == "exited":
            return f"exited with code {self.exit_code}"
        if self.state != "running":
            return self.state
        if self.health == "healthy" and not self.last_probe_ok:
            return "health check failing"
        return self.health or "running"

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> _Container:
        labels = attrs["Config"]["Labels"] or {}
        state = attrs["State"]
        health = state.get("Health") or {}
        log = health.get("Log") or []
        output = log[-1].get("Output", "").strip().splitlines() if log else []
        # `mwaa-local health NAME` says "NAME: healthy: DETAIL"; the state column says the rest.
        output = [re.sub(r"^[\w-]+: (?:un)?healthy: ", "", line) for line in output]
        return cls(
            id=attrs["Id"],
            service=labels.get(_LABEL_SERVICE, "?"),
            number=int(labels.get(_LABEL_NUMBER) or 1),
            state=state.get("Status", "?"),
            health=health.get("Status"),
            exit_code=int(state.get("ExitCode") or 0),
            health_output=(output[-1] if output else "")[:160],
            restarts=int(attrs.get("RestartCount") or 0),
            # A probe that timed out has ExitCode -1 ("Health check exceeded timeout").
            last_probe_ok=not log or log[-1].get("ExitCode") == 0,
            finished_at=state.get("FinishedAt") or "",
            hostname=attrs["Config"].get("Hostname") or "",
        )

    @property
    def last_exit(self) -> str:
        if not self.finished_at or self.finished_at.startswith("0001-"):
            return ""
        return f"exit {self.exit_code} at {self.finished_at[11:19]}"


def _services(config: Settings) -> tuple[list[str], list[str]]:
    """(long-running services but the scaled one, one-shot services) of docker-compose.yml."""
    defs = topology.load(config.compose_file)
    running = [d.name for d in defs if d.kind != "oneshot" and d.name != SCALED]
    return running, [d.name for d in defs if d.kind == "oneshot"]


def _spec_name(config: Settings) -> str:
    try:
        return spec_module.load(config.environment_path).name
    except spec_module.SpecError:
        return DEFAULT_PROJECT


class DockerRuntime:
    """docker-compose.yml as one MWAA environment; volumes hold its state between `up`s."""

    name = "docker"

    def __init__(self, config: Settings | None = None) -> None:
        self.config = config or settings()

    # --- plumbing -------------------------------------------------------------------------

    def _compose_argv(self, *args: str) -> list[str]:
        compose = compose_command(self.config)
        return [
            *compose,
            "--project-name",
            project_name(self.config),
            "--file",
            str(self.config.compose_file),
            "--project-directory",
            str(self.config.project_dir),
            *args,
        ]

    def _remembered_images(self) -> dict[str, str]:
        try:
            return json.loads((self.config.state_root / IMAGES_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _remember_images(self, chosen: dict[str, str]) -> None:
        path = self.config.state_root / IMAGES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(chosen, indent=2) + "\n")

    def _env(self) -> dict[str, str]:
        return {**os.environ, **interpolation_env(self.config), **self._remembered_images()}

    def _client(self) -> docker.DockerClient:
        import docker

        return docker.from_env(timeout=30)

    def _containers(self) -> list[_Container]:
        client = self._client()
        try:
            found = client.containers.list(
                all=True,
                filters={"label": f"{_LABEL_PROJECT}={project_name(self.config)}"},
                ignore_removed=True,
            )
            return [_Container.from_attrs(c.attrs) for c in found]
        finally:
            client.close()

    def _has_volumes(self) -> bool:
        client = self._client()
        try:
            return bool(
                client.volumes.list(
                    filters={"label": f"{_LABEL_PROJECT}={project_name(self.config)}"}
                )
            )
        finally:
            client.close()

    def _log_tail(self, container_id: str, lines: int = 40) -> str:
        client = self._client()
        try:
            raw = client.containers.get(container_id).logs(tail=lines)
        finally:
            client.close()
        return raw.decode(errors="replace").rstrip()

    def _compose(self, args: list[str], progress: Progress, what: str) -> None:
        """Run a compose command to its end, its output going to progress."""
        process = subprocess.Popen(
            self._compose_argv(*args),
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        for line in process.stdout:
            line = _ANSI.sub("", line).strip()
            if line:
                progress(f"compose: {line}")
        if process.wait() != 0:
            raise UpError(f"{what} failed (compose exit {process.returncode})")

    # --- up -------------------------------------------------------------------------------

    def up(self, progress: Progress, timeout: float = UP_TIMEOUT_S) -> None:
        workers = int(spec_module.load(self.config.environment_path)["MinWorkers"])
        if not docker_engine_answers():
            raise UpError(
                "no Docker engine answers (is the Docker daemon running, and may this user use "
                "it?); start it, or run `mwaa-local up --runtime native`"
            )
        compose = compose_command(self.config)
        self._prepare_images(progress)
        progress(
            f"starting compose project {project_name(self.config)} with `{' '.join(compose)}` "
            f"({workers} worker{'s' if workers != 1 else ''})"
        )
        # The time counts from here: images are built (once) before, with their own progress.
        deadline = time.monotonic() + timeout
        for attempt in range(PORT_RETRIES + 1):
            try:
                self._compose_up(workers, progress, max(deadline - time.monotonic(), 1.0))
                return
            except _PortTaken as taken:
                stale = taken.conflict.by_engine and not taken.holders
                if not stale or attempt == PORT_RETRIES:
                    raise
                progress(
                    f"the Docker engine says {taken.conflict.address}:{taken.conflict.port} is "
                    "taken, but no container publishes it: asking again in "
                    f"{PORT_RETRY_S:.0f} s ({attempt + 1} of {PORT_RETRIES})"
                )
                time.sleep(PORT_RETRY_S)  # a back-off between attempts, not a readiness wait

    def _compose_up(self, workers: int, progress: Progress, timeout: float) -> None:
        process = subprocess.Popen(
            self._compose_argv(
                "up", "--detach", "--no-build", "--remove-orphans", "--scale", f"{SCALED}={workers}"
            ),
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        try:
            self._wait_available(process, workers, progress, timeout)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _prepare_images(self, progress: Progress) -> None:
        offline = images.offline_requested()
        if offline:
            progress("MWAA_LOCAL_OFFLINE=1: using the offline stand-in images")
        chosen = images.infrastructure_images(progress, offline=offline, allow_pull=not offline)
        chosen["MWAA_LOCAL_AIRFLOW_IMAGE"] = images.ensure_airflow_image(
            progress, allow_pull=not offline
        )
        chosen["MWAA_LOCAL_LOGS_IMAGE"] = images.ensure_logs_image(progress, allow_pull=not offline)
        self._remember_images(chosen)

    def _wait_available(
        self, process: subprocess.Popen, workers: int, progress: Progress, timeout: float
    ) -> None:
        """Follow `compose up` and the containers until everything is healthy."""
        lines: queue.Queue[str] = queue.Queue()
        output: deque[str] = deque(maxlen=30)

        def pump() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                line = _ANSI.sub("", raw).strip()
                if line:
                    lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        containers: list[_Container] = []
        pending: list[str] = []
        reported = [time.monotonic()]

        def available() -> bool:
            while not lines.empty():
                line = lines.get()
                output.append(line)
                if not _COMPOSE_STEP.match(line):  # the "waiting for" line says those
                    progress(f"compose: {line}")
            compose_rc = process.poll()
            try:
                containers[:] = self._containers()
            except Exception as exc:  # noqa: BLE001 - a hiccup of the engine: ask again
                progress(f"cannot list the containers yet ({type(exc).__name__}); retrying")
            if compose_rc not in (None, 0):
                time.sleep(0.5)  # let the reader pass on compose's last words
                while not lines.empty():
                    output.append(lines.get())
                raise self._compose_failure(compose_rc, output, containers)
            crashing = [
                c
                for c in containers
                if c.restarts >= readiness.CRASH_LOOP_RESTARTS and not c.healthy
            ]
            if crashing:
                raise self._crash_loop(crashing[0])
            pending[:] = _waiting(containers, workers, self.config)
            if compose_rc == 0 and not pending:
                return True
            if time.monotonic() - reported[0] >= REPORT_EVERY_S:
                progress(f"waiting for: {', '.join(pending) or 'docker compose'}")
                reported[0] = time.monotonic()
            return False

        try:
            waiting.until(available, timeout, "the environment", interval=1)
        except waiting.WaitTimeout:
            raise self._timeout(pending, containers, timeout) from None

    def _compose_failure(
        self, rc: int, output: deque[str], containers: list[_Container]
    ) -> UpError:
        oneshots = _services(self.config)[1]
        for c in containers:
            if c.service in oneshots and c.state == "exited" and c.exit_code != 0:
                log = "\n".join(f"    {line}" for line in self._log_tail(c.id).splitlines())
                return UpError(
                    f"{c.service} failed (exit {c.exit_code}), so Airflow was not started. "
                    f"The end of its log:\n{log}\n"
                    f"Fix the cause shown above, then run `mwaa-local up` again; `mwaa-local "
                    f"logs {c.service}` shows the whole log, and `mwaa-local clean` starts over "
                    "from an empty state (it deletes the metadata database)."
                )
        said = "\n".join(f"    {line}" for line in output)
        conflict = port_conflict.find(output)
        if conflict is not None:
            holders = self._publishers(conflict.port)
            mine = {
                getattr(self.config, f"{name}_port"): variable(f"{name}_port")
                for name in Ports.NAMES
            }
            return _PortTaken(
                f"{port_conflict.explain(conflict, mine, holders)}\n"
                f"The end of `compose up`'s output:\n{said}",
                conflict,
                holders,
            )
        return UpError(
            f"`compose up` failed (exit {rc}); the end of its output:\n{said}\n"
            "`mwaa-local status` shows each component; `mwaa-local logs NAME` shows its log."
        )

    def _publishers(self, port: int) -> list[str]:
        """The running containers that publish `port` on the host (any project)."""
        try:
            client = self._client()
            try:
                running = client.containers.list()
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - the answer is only advice: none known
            return []
        return [
            c.name
            for c in running
            if any(
                str(binding.get("HostPort")) == str(port)
                for bindings in (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).values()
                for binding in bindings or ()
            )
        ]

    def _crash_loop(self, container: _Container) -> UpError:
        name = f"{container.service}-{container.number}"
        log = "\n".join(f"    {line}" for line in self._log_tail(container.id).splitlines())
        return UpError(
            f"{name} keeps crashing (Docker restarted it {container.restarts} times). "
            f"The end of its log:\n{log}\n"
            f"Fix the cause shown above, then run `mwaa-local up` again; `mwaa-local logs "
            f"{container.service}` shows the whole log."
        )

    def _timeout(self, pending: list[str], containers: list[_Container], timeout: float) -> UpError:
        oneshots = _services(self.config)[1]
        stuck = [
            _health(f"{c.service}-{c.number}" if c.service == SCALED else c.service, c)
            for c in containers
            if not c.healthy and not (c.service in oneshots and c.exit_code == 0)
        ]
        if not stuck:  # nothing created yet: only compose's own words
            return UpError(
                f"not AVAILABLE after {timeout:.0f} s; still waiting for {', '.join(pending)}. "
                "`mwaa-local down` stops what did start."
            )
        by_name = {
            (f"{c.service}-{c.number}" if c.service == SCALED else c.service): c.id
            for c in containers
        }
        tails = {
            h.name: self._log_tail(by_name[h.name], readiness.TAIL_LINES).splitlines()
            for h in stuck
        }
        return UpError(readiness.timeout_message(timeout, stuck, tails))

    def read_state(self, name: str) -> dict[str, Any] | None:
        """From the state volume, through the watcher's container (it mounts the volume)."""
        watcher = next(s for s in topology.load(self.config.compose_file) if s.name == "watcher")
        path = f"{watcher.environment['MWAA_LOCAL_STATE_DIR']}/{name}"
        argv = self._compose_argv("exec", "-T", "watcher", "cat", path)
        done = subprocess.run(argv, env=self._env(), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return None
        try:
            record = json.loads(done.stdout)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def log_tail(self, component: str, lines: int = readiness.TAIL_LINES) -> list[str]:
        """The last lines of a component's log (`worker-2` is the worker service's second)."""
        service, _, number = component.rpartition("-")
        if not number.isdigit():
            service, number = component, "1"
        for c in self._containers():
            if c.service == service and c.number == int(number):
                return self._log_tail(c.id, lines).splitlines()
        return []

    # --- the rest of the protocol ---------------------------------------------------------

    def down(self, progress: Progress) -> None:
        progress(
            f"stopping compose project {project_name(self.config)} (the state stays in its volumes)"
        )
        # `rm -v` first: it removes the containers' anonymous volumes (the redis image declares
        # VOLUME /data), which a plain `down` would leave behind at every stop; named volumes,
        # the environment's state, stay.
        self._compose(["rm", "--stop", "--force", "-v"], progress, "compose rm")
        self._compose(["down", "--remove-orphans"], progress, "compose down")

    def clean(self, progress: Progress) -> None:
        progress(f"removing compose project {project_name(self.config)} and its volumes")
        self._compose(["down", "--volumes", "--remove-orphans"], progress, "compose down -v")
        (self.config.state_root / IMAGES_FILE).unlink(missing_ok=True)

    def status(self) -> EnvironmentStatus:
        name = _spec_name(self.config)
        try:
            containers = self._containers()
            created = bool(containers) or self._has_volumes()
        except Exception as exc:  # noqa: BLE001 - no engine, no socket, no permission
            down = ComponentHealth("docker", "unreachable", False, f"{type(exc).__name__}: {exc}")
            return EnvironmentStatus(name, "UNAVAILABLE", self.name, [down])
        components: list[ComponentHealth] = []
        if created:
            for service in _services(self.config)[0]:
                found = [c for c in containers if c.service == service]
                components.append(self._component(service, found[0] if found else None))
            found_workers = sorted(
                (c for c in containers if c.service == SCALED), key=lambda c: c.number
            )
            try:
                expected = int(spec_module.load(self.config.environment_path)["MinWorkers"])
            except spec_module.SpecError:
                expected = 1
            numbers = sorted({c.number for c in found_workers} | set(range(1, expected + 1)))
            by_number = {c.number: c for c in found_workers}
            for number in numbers:
                components.append(self._component(f"{SCALED}-{number}", by_number.get(number)))
        return EnvironmentStatus(
            name=name,
            status=overall_status(components, created),
            runtime=self.name,
            components=components,
        )

    def _component(self, name: str, container: _Container | None) -> ComponentHealth:
        health = _health(name, container)
        if container is not None and container.restarts:
            health.last_exit = self._last_death(container.id) or health.last_exit
            if not container.healthy:
                # Crashing: the last lines of its log say why (as natively).
                health.log_tail = self._log_tail(container.id, 15).splitlines()
        return health

    def _last_death(self, container_id: str) -> str:
        """How the container last ended, from Docker's `die` events: once it has been
        restarted its state says exit code 0 again."""
        client = self._client()
        try:
            events = client.events(
                since=int(time.time()) - 86400,
                until=int(time.time()),
                filters={"container": container_id, "event": "die"},
                decode=True,
            )
            last = None
            for event in events:
                last = event
        except Exception:  # noqa: BLE001 - the count still says it restarted
            return ""
        finally:
            client.close()
        if last is None:
            return ""
        code = last.get("Actor", {}).get("Attributes", {}).get("exitCode", "?")
        when = time.strftime("%H:%M:%S", time.localtime(last.get("time", 0)))
        return f"exit {code} at {when}"

    def logs(self, component: str | None, follow: bool) -> int:
        if component == "requirements":
            # Kept in the state volume by whichever service installed it; the api sees it.
            api = next(svc for svc in topology.load(self.config.compose_file) if svc.name == "api")
            log = requirements_log(Path(api.environment["MWAA_LOCAL_STATE_DIR"]))
            argv = ["exec", "-T", "api", "tail", "-n", "200", *(["-F"] if follow else []), str(log)]
            return subprocess.run(self._compose_argv(*argv), env=self._env()).returncode
        args = ["logs"]
        if follow:
            args.append("--follow")
        if component:
            # Compose shows a service's replicas together: worker-2 means the worker service.
            args.append(re.sub(r"-\d+$", "", component))
        return subprocess.run(self._compose_argv(*args), env=self._env()).returncode

    def log_instance(self, component: str) -> str:
        service, _, number = component.rpartition("-")
        for container in self._containers():
            if container.service == service and str(container.number) == number:
                return container.hostname
        raise UsageError(f"no container for {component}; `mwaa-local status` lists them")

    def airflow(self, args: list[str], capture: bool = True) -> subprocess.CompletedProcess:
        argv = self._compose_argv("exec", "-T", "scheduler", "mwaa-local", "run", "airflow", *args)
        return subprocess.run(argv, env=self._env(), capture_output=capture, text=True)

    # --- what history and snapshots reach -------------------------------------------------

    def _service_def(self, name: str) -> topology.ServiceDef:
        return next(s for s in topology.load(self.config.compose_file) if s.name == name)

    def metadata_db_url(self) -> str:
        """The services' database address, through the port published on 127.0.0.1."""
        inside = urlsplit(
            database.libpq_url(self._service_def("api").environment["MWAA_LOCAL_DB_URL"])
        )
        netloc = f"{inside.username}:{inside.password}@127.0.0.1:{self.config.ports.postgres}"
        return urlunsplit(inside._replace(netloc=netloc))

    def postgres_tool(
        self, argv: list[str], stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
    ) -> None:
        """The postgres container's own client programs: always its server's version."""
        user = self._service_def("postgres").environment["POSTGRES_USER"]
        exec_argv = ["exec", "-T", "postgres", argv[0], f"--username={user}", *argv[1:]]
        run_client(self._compose_argv(*exec_argv), self._env(), stdin, stdout)

    def start_infrastructure(self, progress: Progress) -> None:
        if not docker_engine_answers():
            raise UpError("no Docker engine answers (is the Docker daemon running?)")
        if not self._remembered_images():
            self._prepare_images(progress)
        infra = [s.name for s in topology.load(self.config.compose_file) if s.kind == "infra"]
        self._compose(["up", "--detach", "--no-build", *infra], progress, "compose up")

        def healthy() -> bool:
            up = {c.service for c in self._containers() if c.healthy and c.service in infra}
            return up == set(infra)

        try:
            waiting.until(healthy, 120, ", ".join(infra), interval=1)
        except waiting.WaitTimeout as exc:
            raise UpError(f"{exc}; `mwaa-local status` shows each of them") from None

    def stop_services(self, progress: Progress) -> None:
        services = [s.name for s in topology.load(self.config.compose_file) if s.kind == "service"]
        self._compose(["stop", "--timeout", "25", *services], progress, "compose stop")

    def _volume(self, part: str) -> str | None:
        client = self._client()
        try:
            found = client.volumes.list(
                filters={
                    "label": [
                        f"{_LABEL_PROJECT}={project_name(self.config)}",
                        f"{_LABEL_VOLUME}={VOLUMES[part]}",
                    ]
                }
            )
        finally:
            client.close()
        return found[0].name if found else None

    def _helper_image(self) -> str:
        image = (
            self._remembered_images().get("MWAA_LOCAL_AIRFLOW_IMAGE") or self.config.airflow_image
        )
        if not image:
            raise HistoryError("no Airflow image is known yet: run `mwaa-local up` once")
        return image

    def environment_secrets(self) -> Secrets:
        buffer = io.BytesIO()
        self.save_files("state", buffer, only=f"./{STATE_FILE}")
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as tar:
            member = next((m for m in tar if m.name.lstrip("./") == STATE_FILE), None)
            body = tar.extractfile(member) if member is not None else None
            if body is None:
                raise HistoryError(
                    "the environment's secrets are not in its state volume: it was never "
                    "initialised (run `mwaa-local up`)"
                )
            return Secrets(**json.loads(body.read()))

    def save_files(self, part: str, out: IO[bytes], only: str = ".") -> None:
        """The volume's content, read through a container that never starts."""
        volume = self._volume(part)
        if volume is None:
            with tarfile.open(fileobj=out, mode="w|"):
                return  # no volume yet: nothing in it
        client = self._client()
        container = client.containers.create(
            self._helper_image(),
            entrypoint=["true"],
            user="0",
            network_disabled=True,
            volumes={volume: {"bind": "/data", "mode": "ro"}},
            labels={"mwaa-local.kind": "helper"},
        )
        try:
            path = "/data/." if only == "." else f"/data/{only.removeprefix('./')}"
            stream, _stat = container.get_archive(path)
            for chunk in stream:
                out.write(chunk)
        finally:
            container.remove(force=True)
            client.close()

    def restore_files(self, part: str, tar: Path) -> None:
        """Empty the volume, then unpack the tar into it as root, owners and modes kept."""
        client = self._client()
        volume = self._volume(part)
        if volume is None:
            volume = client.volumes.create(
                f"{project_name(self.config)}_{VOLUMES[part]}",
                labels={_LABEL_PROJECT: project_name(self.config), _LABEL_VOLUME: VOLUMES[part]},
            ).name
        container = client.containers.create(
            self._helper_image(),
            entrypoint=["sh", "-c", RESTORE_SCRIPT],
            user="0",
            network_disabled=True,
            volumes={volume: {"bind": "/data", "mode": "rw"}},
            labels={"mwaa-local.kind": "helper"},
        )
        try:
            with tempfile.TemporaryFile() as carrier:
                # put_archive unpacks what it gets: the snapshot's tar travels inside another.
                with tarfile.open(fileobj=carrier, mode="w") as outer:
                    outer.add(tar, arcname="snapshot.tar")
                carrier.seek(0)
                container.put_archive("/tmp", carrier)
            container.start()
            result = container.wait(timeout=600)
            if result.get("StatusCode") != 0:
                said = container.logs().decode(errors="replace").strip()
                raise HistoryError(f"restoring the {VOLUMES[part]} volume failed: {said}")
        finally:
            container.remove(force=True)
            client.close()


class _PortTaken(UpError):
    """`compose up` failed on a published port; `holders` are the containers publishing it."""

    def __init__(self, message: str, conflict: port_conflict.PortConflict, holders: list[str]):
        super().__init__(message)
        self.conflict = conflict
        self.holders = holders


def _health(name: str, container: _Container | None) -> ComponentHealth:
    if container is None:
        return ComponentHealth(name, "stopped", False, "no container")
    crash_loop = container.restarts >= readiness.CRASH_LOOP_RESTARTS and not container.healthy
    return ComponentHealth(
        name,
        readiness.FAILING if crash_loop else container.state,
        container.healthy,
        container.health_output or container.describe(),
        restarts=container.restarts,
        last_exit=container.last_exit,
    )


def _waiting(containers: list[_Container], workers: int, config: Settings) -> list[str]:
    """What is not yet as `up` wants it, e.g. ["init (running)", "webserver (starting)"]:
    one-shot services exited 0, the others (and `workers` replicas) running and healthy."""
    running, oneshots = _services(config)
    waiting = []
    for service in oneshots:
        found = [c for c in containers if c.service == service]
        if not found:
            waiting.append(f"{service} (not created)")
        elif found[0].state != "exited" or found[0].exit_code != 0:
            waiting.append(f"{service} ({found[0].describe()})")
    for service in running:
        found = [c for c in containers if c.service == service]
        if not found:
            waiting.append(f"{service} (not created)")
        elif not found[0].healthy:
            waiting.append(f"{service} ({found[0].describe()})")
    replicas = [c for c in containers if c.service == SCALED]
    ready = sum(c.healthy for c in replicas)
    if ready < workers or ready < len(replicas):
        waiting.append(f"{SCALED} ({ready}/{max(workers, len(replicas))} healthy)")
    return waiting
