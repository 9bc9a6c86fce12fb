"""The native runtime's processes, under supervisord (the `supervisor` package), driven through
its XML-RPC API on a Unix socket only this user can open.

supervisord restarts a process that dies, as Compose's `restart: unless-stopped` does: a
process that dies within `startsecs` of starting counts as a failed start, retried with
supervisord's growing backoff; after `startretries` failed starts it is FATAL, and the event
listener (emulator/services/process_events.py) tries again later with a longer backoff and
records every start and exit for `mwaa-local status`.

Why supervisord: it is the long-established, pure-Python process supervisor, installs from
the package index, runs a process as another user (PostgreSQL refuses root), stops process
groups, rotates logs, and has a documented RPC API and event protocol; circus, the other
candidate, has had no release for years.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from supervisor.xmlrpc import SupervisorTransport

from emulator import waiting
from emulator.errors import UpError

LOG = logging.getLogger(__name__)
# supervisord's process states (supervisor.states.ProcessStates).
RUNNING, STARTING, BACKOFF, STOPPING, STOPPED, EXITED, FATAL, UNKNOWN = (
    "RUNNING",
    "STARTING",
    "BACKOFF",
    "STOPPING",
    "STOPPED",
    "EXITED",
    "FATAL",
    "UNKNOWN",
)
ALIVE = {RUNNING, STARTING, BACKOFF, STOPPING}
# `mwaa-local down` stops everything within STOP_TIMEOUT_S; each tier after the first (the
# servers) is sure of SERVER_STOP_S of it.
STOP_TIMEOUT_S = 28.0
SERVER_STOP_S = 8.0
# A Unix socket's path must fit in sun_path (108 bytes on Linux).
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Program:
    """One supervised program (or, with `numprocs`, a group of like processes)."""

    name: str
    argv: list[str]
    priority: int  # lower starts first and stops last
    autostart: bool = True
    user: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    stopsignal: str = "TERM"
    stopwaitsecs: int = 30
    # Signal the whole process group on stop (off for Celery workers: only the leader may get
    # SIGTERM, or running tasks would be stopped with it); SIGKILL it after stopwaitsecs.
    stopasgroup: bool = True
    startsecs: int = 5
    startretries: int = 3
    numprocs: int = 0  # > 0: processes NAME-1 .. NAME-N, started on demand
    stop_tier: int = 0  # `shutdown` stops the highest tier first, each tier's at once


@dataclass(frozen=True)
class ProcessInfo:
    name: str  # "scheduler", or "worker-3" for a process of a group
    group: str
    state: str
    pid: int
    exitstatus: int
    description: str
    spawnerr: str
    start: float
    stop: float

    @property
    def alive(self) -> bool:
        return self.state in ALIVE

    @property
    def rpc_name(self) -> str:
        return f"{self.group}:{self.name}"


def _quote(value: str) -> str:
    # supervisord expands %(name)s in its values: a literal % is %%.
    return value.replace("%", "%%")


def _section(program: Program, logs: Path, cwd: Path) -> str:
    single = program.numprocs == 0
    lines = [
        f"[program:{program.name}]",
        "command=" + _quote(" ".join(shlex.quote(a) for a in program.argv)),
        f"priority={program.priority}",
        f"autostart={str(program.autostart).lower()}",
        "autorestart=true",
        f"startsecs={program.startsecs}",
        f"startretries={program.startretries}",
        f"stopsignal={program.stopsignal}",
        f"stopwaitsecs={program.stopwaitsecs}",
        f"stopasgroup={str(program.stopasgroup).lower()}",
        "killasgroup=true",
        "redirect_stderr=true",
        f"directory={_quote(str(cwd))}",
        "stdout_logfile_maxbytes=50MB",
        "stdout_logfile_backups=2",
    ]
    env = dict(program.env)
    if single:
        lines.append(f"stdout_logfile={_quote(str(logs / program.name))}.log")
    else:
        lines += [
            f"numprocs={program.numprocs}",
            "numprocs_start=1",
            f"process_name={program.name}-%(process_num)d",
            f"stdout_logfile={_quote(str(logs / program.name))}-%(process_num)d.log",
        ]
    if program.user:
        lines.append(f"user={program.user}")
    if env:
        pairs = []
        for key, value in sorted(env.items()):
            if '"' in value or "\n" in value:
                raise ValueError(f"{program.name}: {key} cannot be passed to supervisord")
            expanded = value if not single and "%(process_num)" in value else _quote(value)
            pairs.append(f'{key}="{expanded}"')
        lines.append("environment=" + ",".join(pairs))
    return "\n".join(lines) + "\n"


def render(
    programs: list[Program], run: Path, logs: Path, cwd: Path, listener: list[str] | None
) -> str:
    """supervisord's configuration for `programs`."""
    socket = socket_path(run)
    parts = [
        "; Made by mwaa-local's native runtime (emulator/runtime/processes.py); do not edit.",
        "[unix_http_server]",
        f"file={_quote(str(socket))}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={_quote(str(logs / 'supervisord.log'))}",
        "logfile_maxbytes=10MB",
        "logfile_backups=2",
        f"pidfile={_quote(str(run / 'supervisord.pid'))}",
        f"childlogdir={_quote(str(logs))}",
        f"directory={_quote(str(cwd))}",
        "nodaemon=false",
        "minfds=4096",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
    ]
    for program in programs:
        parts.append(_section(program, logs, cwd))
    if listener:
        parts += [
            "[eventlistener:process-events]",
            "command=" + _quote(" ".join(shlex.quote(a) for a in listener)),
            "events=PROCESS_STATE",
            "priority=1",
            "autorestart=true",
            "buffer_size=1024",
            f"stdout_logfile={_quote(str(logs / 'process-events.log'))}",
            "redirect_stderr=false",
            f"stderr_logfile={_quote(str(logs / 'process-events.log'))}",
            "",
        ]
    return "\n".join(parts)


def socket_path(run: Path) -> Path:
    """The RPC socket: in the run folder, or (for a long path) in the temporary folder under a
    name derived from it."""
    path = run / "supervisor.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(run).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mwaa-local-{digest}.sock"


class Supervisor:
    """supervisord for one state folder: its configuration, its daemon and its RPC API."""

    def __init__(self, run: Path, logs: Path):
        self.run = run
        self.logs = logs
        self.conf = run / "supervisord.conf"
        self.socket = socket_path(run)

    # -- the daemon ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def rpc(self) -> Iterator[Any]:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        yield xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with self.rpc() as api:
                return api.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def ensure(
        self,
        programs: list[Program],
        env: Mapping[str, str],
        cwd: Path,
        listener: list[str] | None,
    ) -> bool:
        """supervisord running with exactly this configuration and environment; True when it
        was (re)started. A running one with another configuration is stopped first."""
        text = render(programs, self.run, self.logs, cwd, listener)
        digest = hashlib.sha256((text + json.dumps(dict(sorted(env.items())))).encode()).hexdigest()
        stamp = self.run / "supervisord.digest"
        if self.running():
            if stamp.exists() and stamp.read_text().strip() == digest:
                return False
            LOG.info("the processes' definition changed: restarting supervisord")
            self.shutdown({p.name: p.stop_tier for p in programs})
        self.run.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(text)
        self.conf.chmod(0o600)
        self.socket.unlink(missing_ok=True)
        result = subprocess.run(
            [str(Path(sys.executable).parent / "supervisord"), "--configuration", str(self.conf)],
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise UpError(
                f"supervisord did not start: {(result.stderr or result.stdout).strip()}\n"
                f"Its log: {self.logs / 'supervisord.log'}"
            )
        try:
            waiting.until(self.running, 30, "supervisord's RPC socket", interval=0.1)
        except waiting.WaitTimeout as exc:
            raise UpError(f"{exc}; see {self.logs / 'supervisord.log'}") from None
        stamp.write_text(digest + "\n")
        return True

    def shutdown(self, tiers: dict[str, int], timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every process within `timeout` seconds: the highest tier first (Airflow and
        the emulator's services), then the next (the servers they need) together, then
        supervisord itself. A tier gets what is left of `timeout` but SERVER_STOP_S for each
        tier after it; what outlives its share is killed with its process group."""
        if not self.running():
            return
        deadline = time.monotonic() + timeout
        groups: dict[int, list[str]] = {}
        for proc in self.processes():
            groups.setdefault(tiers.get(proc.group, 0), []).append(proc.rpc_name)
        order = sorted(groups, reverse=True)
        for index, tier in enumerate(order):
            later = len(order) - index - 1
            share = max(deadline - time.monotonic() - later * SERVER_STOP_S, 1.0)
            self._stop_group(set(groups[tier]), share)
        pid = self._daemon_pid()
        self._kill_leftovers(pid)
        with contextlib.suppress(OSError, xmlrpc.client.Error), self.rpc() as api:
            api.shutdown()
        if pid:
            with contextlib.suppress(waiting.WaitTimeout):
                left = max(deadline - time.monotonic(), 2.0)
                waiting.until(lambda: not _alive(pid), left, "supervisord to exit", interval=0.1)
        self.socket.unlink(missing_ok=True)

    def _stop_group(self, names: set[str], timeout: float) -> None:
        """Stop the processes (RPC names) at once; kill what outlives `timeout` seconds."""
        with self.rpc() as api:
            for name in names:
                with contextlib.suppress(xmlrpc.client.Fault):
                    api.stopProcess(name, False)

        def stopped() -> bool:
            return not any(p.alive for p in self.processes() if p.rpc_name in names)

        try:
            waiting.until(stopped, timeout, "processes to stop", interval=0.2)
        except waiting.WaitTimeout:
            for proc in self.processes():
                if proc.rpc_name in names and proc.alive and proc.pid:
                    LOG.warning("%s did not stop in %.0f s: killing it", proc.name, timeout)
                    _kill_group(proc.pid)

    def stop_now(self, names: list[str], timeout: float) -> None:
        """Stop these processes together (`worker-3` for one of a group), whatever their
        programs' own grace; kill what outlives `timeout` seconds. supervisord leaves them
        stopped until they are started again."""
        wanted = set(names)
        self._stop_group({p.rpc_name for p in self.processes() if p.name in wanted}, timeout)

    def orphans(self, known: Sequence[tuple[int, float]] = ()) -> list[psutil.Process]:
        """Processes a dead supervisord of this state folder left running: those `known`
        (pid, start time) as its programs, everything below them, and any process whose
        environment holds the address of its socket (supervisord gives it to every child,
        which pass it on; servers that rewrite their process title lose it)."""
        marker = f"unix://{self.socket}"
        found: dict[int, psutil.Process] = {}
        for pid, started in known:
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - started) < 0.01:
                    for each in [proc, *proc.children(recursive=True)]:
                        found[each.pid] = each
            except psutil.Error:
                continue
        for proc in psutil.process_iter():
            try:
                if proc.environ().get("SUPERVISOR_SERVER_URL") == marker:
                    found[proc.pid] = proc
            except (psutil.Error, OSError):
                continue
        found.pop(os.getpid(), None)
        return list(found.values())

    def _kill_leftovers(self, daemon: int | None) -> None:
        """SIGKILL what outlived its stopped program: a task's shell leads its own session
        (BashOperator's), so killing a worker's process group misses it, and it lives on
        under init with only supervisord's address in its environment to tell whose it is."""
        left = [p for p in self.orphans() if p.pid != daemon]
        for proc in left:
            with contextlib.suppress(psutil.Error):
                LOG.warning("killing %s (pid %d), left by a stopped program", proc.name(), proc.pid)
                proc.kill()
        psutil.wait_procs(left, timeout=5)

    def reap_orphans(self, known: Sequence[tuple[int, float]], timeout: float = 10) -> list[int]:
        """Stop what a crashed supervisord left running (SIGTERM, SIGKILL after `timeout`)."""
        found = self.orphans(known)
        for proc in found:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(found, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        return [p.pid for p in found]

    def _daemon_pid(self) -> int | None:
        try:
            return int((self.run / "supervisord.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    # -- processes ----------------------------------------------------------------------------
    def processes(self) -> list[ProcessInfo]:
        with self.rpc() as api:
            return [_info(raw) for raw in api.getAllProcessInfo()]

    def info(self, name: str) -> ProcessInfo | None:
        return next((p for p in self.processes() if p.name == name), None)

    def start(self, name: str, wait: bool = False) -> None:
        """Start a stopped process (`worker-3` for a process of the `worker` group)."""
        with self.rpc() as api:
            try:
                api.startProcess(self._rpc_name(name), wait)
            except xmlrpc.client.Fault as fault:
                if "ALREADY_STARTED" not in fault.faultString:
                    raise

    def stop(self, name: str, wait: bool = False) -> None:
        """SIGTERM (the program's stop signal) now, SIGKILL after its stopwaitsecs."""
        with self.rpc() as api:
            try:
                api.stopProcess(self._rpc_name(name), wait)
            except xmlrpc.client.Fault as fault:
                if "NOT_RUNNING" not in fault.faultString:
                    raise

    def start_all_stopped(self, names: list[str]) -> list[str]:
        """Start those of `names` that are not running; their names."""
        started = []
        for proc in self.processes():
            if proc.name in names and not proc.alive:
                self.start(proc.name)
                started.append(proc.name)
        return started

    def _rpc_name(self, name: str) -> str:
        found = self.info(name)
        return found.rpc_name if found else name


def _info(raw: dict[str, Any]) -> ProcessInfo:
    return ProcessInfo(
        name=raw["name"],
        group=raw["group"],
        state=raw["statename"],
        pid=int(raw["pid"]),
        exitstatus=int(raw["exitstatus"]),
        description=raw.get("description", ""),
        spawnerr=raw.get("spawnerr", ""),
        start=float(raw["start"]),
        stop=float(raw["stop"]),
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, 9)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, 9)
