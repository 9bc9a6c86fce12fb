"""A warm Airflow CLI runner: commands answered by forks of a process that imported Airflow once.

``WarmRunner`` starts ``zygote.py`` with the environment's variables; the zygote runs the
imports of the ``airflow`` console script (its own code, in its order) and forks one child per
command, which runs the script as ``__main__`` with ``sys.argv = [script, *argv]``, its stdout
and stderr on temporary files handed over by this process and stdin on /dev/null. A command
costs a fork instead of Airflow's import (~1.2 s or more).

Compared with spawning ``airflow ARGV`` with the same environment (and stdin /dev/null):

- stdout and stderr are the same bytes, tracebacks included, except for times and process ids
  printed (log lines carry their time, as between two spawns).
- Output printed while importing Airflow (e.g. its warning about two ``airflow.cfg`` files) is
  printed once, when the zygote starts, and replayed at the start of every command's
  stdout/stderr: a timestamp in it is the zygote's start time, not the command's.
- What Airflow reads at import is read once: ``airflow.cfg``, ``airflow_local_settings`` and
  plugins. A change needs a new runner (MWAA restarts its web server for those too). DAG files
  are parsed by every command afresh: the zygote never imports them.
- The command runs in its own session (so a timeout stops its children too) and dies with the
  zygote.
- With a `Confinement`, commands run in its exchange folder (as its user, when the runner is
  root), and one that names a file outside it, or DAGs outside the DAGs folder, is refused
  before it starts (`CliResult.refused`); see confinement.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.privileges import User

LOG = logging.getLogger(__name__)

ZYGOTE = Path(__file__).resolve().with_name("zygote.py")
START_TIMEOUT = 180.0  # importing Airflow on a loaded 2-core machine can take several seconds
CONNECT_TIMEOUT = 10.0  # for the zygote to accept and fork; it is single-threaded but quick
STOP_TIMEOUT = 15.0  # after asking to stop a command: SIGTERM, SIGKILL 2 s later, reaped

_STREAMS = ("stdout", "stderr")
_TIMESTAMP = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]", re.MULTILINE)


def comparable(output: bytes) -> bytes:
    """Output with log-line timestamps masked: what "identical" means between two runs."""
    return _TIMESTAMP.sub(b"[TIMESTAMP]", output)


@dataclass
class CliResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    refused: str | None = None  # why the command was not run at all
    unavailable: str | None = None  # what it needs is down (the broker): not run, try later


@dataclass(frozen=True)
class Confinement:
    """Where commands run and may write (the exchange folder), and as whom (None: as this
    process's user)."""

    exchange: str
    user: User | None = None

    def zygote_arguments(self) -> list[str]:
        user = ["--user", self.user.name] if self.user is not None else []
        return ["--exchange", self.exchange, *user]


class ZygoteError(RuntimeError):
    """The zygote could not start. When importing Airflow failed, `stdout` and `stderr` hold
    what it printed: what `airflow` would print, and so what `run` answers then."""

    def __init__(self, message: str, stdout: bytes = b"", stderr: bytes = b""):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


class _NotStarted(Exception):
    """The zygote did not accept the command: it is safe to restart it and try again."""


class WarmRunner:
    """Runs Airflow CLI commands (argv without the word ``airflow``) in forks of a warm zygote.

    Thread-safe: at most ``max_concurrent`` commands run at once, further callers wait for a
    slot (the ``timeout`` of ``run`` counts from when the command starts). A zygote that died
    is restarted by the next call.

    With ``idle_stop_s``, the zygote (about 100 MiB) is stopped once no command has been asked
    for that long, as Celery's pool shrinks; the next call starts it again (a second or two).
    """

    def __init__(
        self,
        env: dict[str, str],
        python: str = sys.executable,
        max_concurrent: int = 2,
        confinement: Confinement | None = None,
        idle_stop_s: float | None = None,
    ):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._env = dict(env)
        self._python = python
        self._confinement = confinement
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._counting = threading.Lock()
        self._in_flight = 0  # commands the zygote runs now
        self.peak_in_flight = 0  # the most it ever ran at once
        self._lock = threading.Lock()  # guards the fields below
        self._proc: subprocess.Popen | None = None
        self._dir: str | None = None
        self._socket: str | None = None
        self._closed = False
        self._callers = 0  # run() calls under way, started or not (guarded by _counting)
        self._last_call = time.monotonic()
        self._idle_stop_s = idle_stop_s
        self._closing = threading.Event()
        if idle_stop_s:
            threading.Thread(target=self._stop_when_idle, name="cli-idle", daemon=True).start()

    # --- life cycle -----------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Commands running now (started by the zygote and not yet ended)."""
        return self._in_flight

    def _count(self, delta: int) -> None:
        with self._counting:
            self._in_flight += delta
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    @property
    def pid(self) -> int | None:
        """The zygote's process id, when one is running."""
        with self._lock:
            return self._proc.pid if self._proc and self._proc.poll() is None else None

    def start(self) -> None:
        """Spawn the zygote and wait until Airflow is imported; raises ZygoteError if not."""
        with self._lock:
            self._ensure_started()

    def close(self) -> None:
        """Stop the zygote and any command still running; later calls to run() raise."""
        self._closing.set()
        with self._lock:
            self._closed = True
            self._stop_zygote()

    def _stop_when_idle(self) -> None:
        assert self._idle_stop_s  # only started with one
        while not self._closing.wait(min(self._idle_stop_s / 4, 5.0)):
            with self._counting:
                idle = 0.0 if self._callers else time.monotonic() - self._last_call
            if idle < self._idle_stop_s:
                continue
            with self._lock:
                # Asked again under the lock: a call may have come, or a start (which holds the
                # lock while Airflow imports, often longer than the idle time) may have ended.
                with self._counting:
                    if self._callers or time.monotonic() - self._last_call < self._idle_stop_s:
                        continue
                if self._proc is not None and not self._closed:
                    LOG.info("no CLI command for %.0f s: stopping the warm Airflow", idle)
                    self._stop_zygote()

    def __enter__(self) -> WarmRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_started(self) -> tuple[subprocess.Popen, str]:
        if self._closed:
            raise ZygoteError("this runner was closed")
        if self._proc is not None and self._proc.poll() is None:
            assert self._socket is not None  # set together with _proc
            return self._proc, self._socket
        self._stop_zygote()
        self._dir = tempfile.mkdtemp(prefix="mwaa-cli-")
        self._socket = os.path.join(self._dir, "zygote.sock")
        ready_r, ready_w = os.pipe()
        try:
            confined = self._confinement.zygote_arguments() if self._confinement else []
            self._proc = subprocess.Popen(
                [self._python, str(ZYGOTE), self._socket, str(ready_w), *confined],
                env=self._env,
                stdin=subprocess.PIPE,  # its EOF tells the zygote that we are gone
                stdout=subprocess.DEVNULL,
                pass_fds=(ready_w,),
                # Same process group as the caller: a supervisor that stops the caller's group
                # stops the zygote too, and counts its memory.
            )
        except OSError as exc:
            os.close(ready_r)
            self._stop_zygote()
            raise ZygoteError(f"cannot run {self._python}: {exc}") from exc
        finally:
            os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            message = _read_ready(ready, START_TIMEOUT)
        if message.get("ready") != self._proc.pid:
            self._stop_zygote()
            out, err = (message.get(k, "").encode("utf-8", "surrogateescape") for k in _STREAMS)
            detail = message.get("error") or "it exited or did not answer in time"
            text = f"the Airflow CLI runner could not start: {detail}"
            if err:
                text += ":\n" + err.decode(errors="replace")
            raise ZygoteError(text, out, err)
        with self._counting:  # a zygote just started is not idle, however long it took
            self._last_call = time.monotonic()
        return self._proc, self._socket

    def _stop_zygote(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = self._socket = None

    def _restart_if(self, proc: subprocess.Popen) -> None:
        """Stop `proc` unless another thread replaced it already; the next call starts anew."""
        with self._lock:
            if self._proc is proc:
                self._stop_zygote()

    # --- commands -------------------------------------------------------------------------

    def run(self, argv: list[str], timeout: float = 60.0) -> CliResult:
        """Run `airflow ARGV`; stop it after `timeout` seconds (then `timed_out` is True)."""
        argv = [str(a) for a in argv]
        with self._counting:
            self._callers += 1
            self._last_call = time.monotonic()
        try:
            return self._run(argv, timeout)
        finally:
            with self._counting:
                self._callers -= 1
                self._last_call = time.monotonic()

    def _run(self, argv: list[str], timeout: float) -> CliResult:
        with self._slots:
            for _attempt in range(2):
                try:
                    with self._lock:
                        proc, path = self._ensure_started()
                except ZygoteError as exc:
                    if self._closed:
                        raise
                    if exc.stderr:  # Airflow's own error, as a spawned `airflow` prints it
                        return CliResult(1, exc.stdout, exc.stderr)
                    return CliResult(1, b"", f"mwaa-local: {exc}\n".encode())
                try:
                    return self._run_once(proc, path, argv, timeout)
                except _NotStarted:
                    # The command never started: safe to retry once with a fresh zygote.
                    self._restart_if(proc)
        return CliResult(1, b"", b"mwaa-local: the Airflow CLI runner does not accept commands\n")

    def _run_once(
        self, proc: subprocess.Popen, path: str, argv: list[str], timeout: float
    ) -> CliResult:
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock,
        ):
            sock.settimeout(CONNECT_TIMEOUT)
            try:
                sock.connect(path)
                request = json.dumps({"argv": argv}).encode()
                socket.send_fds(sock, [request], [out.fileno(), err.fileno()])
                started = _message(sock)
            except (OSError, ValueError) as exc:  # refused, reset, timed out, EOF
                raise _NotStarted() from exc
            if "error" in started:
                return CliResult(1, b"", f"mwaa-local: {started['error']}\n".encode())
            if "refused" in started:
                reason = str(started["refused"])
                return CliResult(1, b"", f"{reason}\n".encode(), refused=reason)
            if "unavailable" in started:
                reason = str(started["unavailable"])
                return CliResult(1, b"", f"{reason}\n".encode(), unavailable=reason)
            if "started" not in started:
                raise _NotStarted()
            group = int(started["started"])  # the command leads its own process group
            self._count(+1)
            try:
                return self._wait_for(proc, sock, out, err, group, timeout)
            finally:
                self._count(-1)

    def _wait_for(
        self,
        proc: subprocess.Popen,
        sock: socket.socket,
        out: Any,
        err: Any,
        group: int,
        timeout: float,
    ) -> CliResult:
        """The started command's end (or its stop after `timeout`), with its output."""
        timed_out = False
        note = b""
        try:
            sock.settimeout(max(timeout, 0.001))
            finished = _message(sock)
        except TimeoutError:
            timed_out = True
            note = f"mwaa-local: the command did not finish within {timeout:g} s".encode()
            try:
                sock.shutdown(socket.SHUT_WR)  # the zygote stops the command
                sock.settimeout(STOP_TIMEOUT)
                finished = _message(sock)
            except (OSError, ValueError):
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
                self._restart_if(proc)  # it did not confirm: do not trust it again
                finished = {"exit": -9}
            note += b" and was stopped\n"
        except (OSError, ValueError):
            # The zygote died: the kernel killed the command with it, not its children.
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
            self._restart_if(proc)
            finished = {"exit": -9}
            note = b"mwaa-local: the Airflow CLI runner stopped while the command ran\n"

        stdout, stderr = _contents(out), _contents(err)
        if note:
            if stderr and not stderr.endswith(b"\n"):
                stderr += b"\n"
            stderr += note
        return CliResult(int(finished.get("exit", 1)), stdout, stderr, timed_out)


def _message(sock: socket.socket) -> dict:
    data = sock.recv(65536)
    if not data:
        raise ValueError("connection closed")
    return json.loads(data)


def _contents(f) -> bytes:
    f.seek(0)
    return f.read()


def _read_ready(f, timeout: float) -> dict:
    """The zygote's one JSON message on its ready pipe, ended by EOF; {} if none in time."""
    deadline = time.monotonic() + timeout
    data = b""
    # A selector, not select(): the caller (a web server) may hold more than 1024 fds.
    with selectors.DefaultSelector() as selector:
        selector.register(f, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return {}
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                break
            data += chunk
    try:
        return json.loads(data)
    except ValueError:
        return {}
