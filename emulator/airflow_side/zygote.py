"""The zygote: a process that imports Airflow once, then forks one child per CLI command.

Run as a script (``python zygote.py SOCKET READY_FD [--exchange DIR] [--user NAME]``) by
:class:`runner.WarmRunner`, with the environment's variables as its environment. Standard
library only, so that nothing of the emulator is imported into the process Airflow commands
run in (confinement.py, a sibling of the same kind, is loaded from its file).

With ``--exchange DIR`` commands run in DIR, and a command that names a file outside it (or
DAGs outside the DAGs folder) is refused before it starts (see confinement.py). With
``--user NAME`` (when the zygote runs as root) each command runs as that user, who gets the
exchange folder and Airflow's log folder.

Protocol: JSON messages over a ``SOCK_SEQPACKET`` Unix socket (one datagram per message),
one connection per command:

- client -> zygote: ``{"argv": [...]}`` carrying two file descriptors (SCM_RIGHTS) that
  become the command's stdout and stderr;
- zygote -> client: ``{"started": PID}`` once forked, then ``{"exit": CODE}`` when the child
  has been reaped (CODE as ``subprocess``: negative for a signal), or ``{"error": TEXT}``,
  or ``{"refused": TEXT}`` for a command that names a path it may not, or
  ``{"unavailable": TEXT}`` for one that would queue tasks while the broker is down;
- client closes its sending side (EOF) to stop the command: the zygote sends SIGTERM to the
  command's process group, SIGKILL after ``STOP_GRACE`` seconds or as soon as the command
  itself has exited (to what is left of the group), then answers ``exit``.

The zygote exits when its stdin reaches EOF (the runner closed it or died); children ask the
kernel for SIGKILL when the zygote dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import atexit
import builtins
import contextlib
import ctypes
import gc
import importlib.util
import json
import os
import pwd
import selectors
import signal
import socket
import sys
import tempfile
import time
import traceback
import types

STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a stopped command
MAX_MESSAGE = 1 << 20


def airflow_script() -> str:
    """The `airflow` console script beside this interpreter, as `airflow ...` would be run."""
    beside = os.path.join(os.path.dirname(sys.executable), "airflow")
    return beside if os.path.exists(beside) else "airflow"


def _warm_modules(conf) -> list[str]:
    """Modules a typical command imports lazily; pre-importing them saves each child the work.

    Only modules that print nothing when imported: their import-time output would otherwise
    be replayed into every command's output.
    """
    modules = [
        "airflow.operators.bash_operator",
        "airflow.operators.python_operator",
        "airflow.operators.dummy_operator",
    ]
    if conf.get("core", "executor") == "CeleryExecutor":
        modules.append("airflow.executors.celery_executor")
    return modules


class ImportFailed(Exception):
    """Importing Airflow failed; args: what it printed on (stdout, stderr), traceback included."""


def _read(captured: list) -> tuple[bytes, bytes]:
    sys.stdout.flush()
    sys.stderr.flush()
    out = []
    for f in captured:
        f.seek(0)
        out.append(f.read())
    return out[0], out[1]


def _import_airflow(script: str, code: types.CodeType) -> tuple[bytes, bytes]:
    """Run the `airflow` script's imports; return the output that importing printed.

    The script runs as a module that is not `__main__`: its imports, in its order, without its
    command. fds 1 and 2 point at temporary files meanwhile: warnings and log lines printed
    while importing are replayed at the start of every command's stdout/stderr, as a fresh
    `airflow` process would print them.
    """
    # As the script sees it: sys.path[0] is the script's folder, argv[0] the script.
    if os.path.isabs(script):
        sys.path[0] = os.path.dirname(script)
    sys.argv = [script]
    captured = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(captured[0].fileno(), 1)
    os.dup2(captured[1].fileno(), 2)
    try:
        try:
            exec(code, {"__name__": "__airflow_script__", "__file__": script})
        except BaseException as exc:  # noqa: BLE001 - shown to the caller as `airflow` shows it
            _print_exception(exc)
            raise ImportFailed(*_read(captured)) from None
        prefix = _read(captured)
        # Warm-up imports after the capture was read: if one prints anyway, it is not replayed.
        from airflow.configuration import conf

        for name in _warm_modules(conf):
            with contextlib.suppress(Exception):
                __import__(name)
        sys.stdout.flush()
        sys.stderr.flush()
        return prefix
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for f in captured:
            f.close()


def _print_exception(exc: BaseException) -> None:
    """Print as the interpreter does for an uncaught exception in the script, which is run by
    exec() in the caller: the caller's frame is left out of the traceback."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _exit_code(code: object) -> int:
    """The process exit status Python derives from SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


# What the `airflow` console script of Airflow 1.10.12 runs, for when it is not found.
_SCRIPT_FALLBACK = """\
import os

import argcomplete

from airflow.configuration import conf
from airflow.bin.cli import CLIFactory

if __name__ == '__main__':

    if conf.get("core", "security") == 'kerberos':
        os.environ['KRB5CCNAME'] = conf.get('kerberos', 'ccache')
        os.environ['KRB5_KTNAME'] = conf.get('kerberos', 'keytab')

    parser = CLIFactory.get_parser()
    argcomplete.autocomplete(parser)
    args = parser.parse_args()
    args.func(args)
"""


def compile_script(script: str) -> types.CodeType:
    """The `airflow` script, compiled under its own file name so tracebacks show its lines."""
    try:
        with open(script, encoding="utf-8") as f:
            source = f.read()
    except OSError:
        source = _SCRIPT_FALLBACK
    return compile(source, script, "exec", dont_inherit=True)


def run_script(script: str, code: types.CodeType) -> int:
    """Run the `airflow` script as `__main__`; the exit status a fresh process would have."""
    main = types.ModuleType("__main__")
    main.__file__ = script
    setattr(main, "__builtins__", builtins)  # noqa: B010 - a module attribute of its own
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
        status = 0
    except SystemExit as exc:
        status = _exit_code(exc.code)
    except BaseException as exc:  # noqa: BLE001 - the interpreter prints any exception, exits 1
        _print_exception(exc)
        status = 1
    # Interpreter shutdown, in its order: non-daemon threads, then atexit (logging, ORM pool).
    with contextlib.suppress(Exception):
        import threading

        threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return status


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the zygote dies (best effort elsewhere)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _load_sibling(name: str) -> types.ModuleType:
    """A module beside this file, loaded from its path (this script is no package's)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_mwaa_local_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _address(url: str) -> tuple[str, int] | None:
    """(host, port) of a redis:// or amqp:// broker URL, None for another kind."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    defaults = {"redis": 6379, "rediss": 6379, "amqp": 5672, "pyamqp": 5672}
    if parts.scheme not in defaults or not parts.hostname:
        return None
    return parts.hostname, parts.port or defaults[parts.scheme]


class Confined:
    """The folders commands are kept to, and the user they run as (None: the zygote's)."""

    def __init__(self, exchange: str, user: str | None):
        confinement = _load_sibling("confinement")
        from airflow import settings as airflow_settings
        from airflow.bin.cli import CLIFactory
        from airflow.configuration import conf

        self.user = pwd.getpwnam(user) if user else None
        os.makedirs(exchange, mode=0o700, exist_ok=True)
        # Task logs (`run` opens one) and exports are written as the commands' user.
        for folder in (exchange, conf.get("core", "base_log_folder")):
            os.makedirs(folder, exist_ok=True)
            if self.user is not None:
                os.chown(folder, self.user.pw_uid, self.user.pw_gid)
        exchange = os.path.realpath(exchange)
        os.chdir(exchange)  # a relative path lands in the exchange folder
        folders = confinement.Folders(exchange=exchange, dags=airflow_settings.DAGS_FOLDER)
        self.checker = confinement.Checker(CLIFactory.get_parser(), folders)
        self.broker = _address(conf.get("celery", "broker_url"))

    def refusal(self, argv: list[str]) -> str | None:
        try:
            return self.checker.refusal(argv)
        except Exception as exc:  # noqa: BLE001 - refuse what cannot be checked
            return f"The command's options could not be checked ({type(exc).__name__}: {exc})."

    def unavailable(self, argv: list[str]) -> str | None:
        """Why a command that queues tasks through the broker cannot now (it would hand them
        to nobody), or None."""
        if self.broker is None or not self.checker.needs_broker(argv):
            return None
        try:
            socket.create_connection(self.broker, timeout=2).close()
        except OSError as exc:
            return (
                f"The task queue (the Celery broker, {self.broker[0]}:{self.broker[1]}) is not "
                f"answering ({exc.strerror or exc}); it is restarted by itself. Try again "
                "shortly, or run the task in place with --local."
            )
        return None

    def drop_privileges(self) -> None:
        """In a command's process: become the commands' user for good."""
        if self.user is None:
            return
        os.setgroups([])
        os.setgid(self.user.pw_gid)
        os.setuid(self.user.pw_uid)
        os.environ.update(USER=self.user.pw_name, LOGNAME=self.user.pw_name)


class Zygote:
    def __init__(
        self,
        socket_path: str,
        script: str,
        code: types.CodeType,
        prefix: tuple,
        confined: Confined | None = None,
    ):
        self.script = script
        self.code = code
        self.prefix = prefix  # (stdout, stderr) printed while importing Airflow
        self.confined = confined
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(socket_path)
        self.listener.listen(64)
        self.socket_path = socket_path
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        # A Ctrl-C for the caller's process group reaches us too: the caller decides (when it
        # exits, our stdin ends). Commands get the handler back.
        self.sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "sigchld")
        self.selector.register(0, selectors.EVENT_READ, "parent")
        # pid -> {"conn": socket, "kill_at": when to SIGKILL, "watched": False once stopped}
        self.jobs: dict[int, dict] = {}

    # --- the loop -------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            pending = [j["kill_at"] for j in self.jobs.values() if j["kill_at"] is not None]
            wait = max(0.0, min(pending) - time.monotonic()) if pending else None
            for key, _ in self.selector.select(wait):
                try:
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "sigchld":
                        self._reap()
                    elif key.data == "parent":
                        if not os.read(0, 4096):
                            self._shutdown()
                            return
                    else:
                        self._cancel(key.data)
                except Exception:  # noqa: BLE001 - one bad request must not stop the zygote
                    traceback.print_exc()
            now = time.monotonic()
            for pid, job in self.jobs.items():
                if job["kill_at"] is not None and job["kill_at"] <= now:
                    self._signal(pid, signal.SIGKILL)
                    job["kill_at"] = None

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(5)
        fds: list[int] = []
        try:
            data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 2)
            request = json.loads(data)
            argv = request["argv"]
            if len(fds) != 2 or not all(isinstance(a, str) for a in argv):
                raise ValueError("expected argv (strings) and two file descriptors")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                conn.send(json.dumps({"error": f"bad request: {exc}"}).encode())
            conn.close()
            return
        answer = None
        if self.confined is not None:
            refusal = self.confined.refusal(argv)
            answer = {"refused": refusal} if refusal else None
            busy = None if answer else self.confined.unavailable(argv)
            answer = answer or ({"unavailable": busy} if busy else None)
        if answer is not None:
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                conn.send(json.dumps(answer).encode())
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:  # out of memory or processes: this command fails, not the zygote
            with contextlib.suppress(OSError):
                conn.send(json.dumps({"error": f"cannot start the command: {exc}"}).encode())
            pid = -1
        if pid == 0:
            self._child(argv, fds)  # never returns
        for fd in fds:
            os.close(fd)
        if pid < 0:
            conn.close()
            return
        self.jobs[pid] = {"conn": conn, "kill_at": None, "watched": True}
        self.selector.register(conn, selectors.EVENT_READ, pid)
        try:
            conn.send(json.dumps({"started": pid}).encode())
        except OSError:
            self._cancel(pid)

    def _reap(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_r, 4096):
                pass
        while self.jobs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.jobs.pop(pid, None)
            if job is None:
                continue
            conn = job["conn"]
            if job["watched"]:
                self.selector.unregister(conn)
            else:  # stopped: whatever of its group outlived SIGTERM goes too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                conn.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
            conn.close()

    def _cancel(self, pid: int) -> None:
        """The client closed its side (a timeout, or it went away): stop the command."""
        job = self.jobs.get(pid)
        if job is None:
            return
        try:
            data = job["conn"].recv(MAX_MESSAGE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:  # nothing else is expected from a client; ignore it
            return
        # Stop watching: an EOF stays readable. The exit message still goes out when reaped.
        self.selector.unregister(job["conn"])
        job["watched"] = False
        if job["kill_at"] is None:
            self._signal(pid, signal.SIGTERM)
            job["kill_at"] = time.monotonic() + STOP_GRACE

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        # The child leads its own process group; signal the group and, in case it has not
        # called setsid yet, the child itself.
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, sig)

    def _shutdown(self) -> None:
        for pid in list(self.jobs):
            self._signal(pid, signal.SIGKILL)
        for pid in list(self.jobs):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        # The runner removes them too, unless it died: then it is why we are shutting down.
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)
            os.rmdir(os.path.dirname(self.socket_path))

    # --- the child ------------------------------------------------------------------------

    def _child(self, argv: list[str], fds: list[int]) -> None:
        code = 1
        try:
            parent = os.getppid()
            os.setsid()
            if self.confined is not None:
                self.confined.drop_privileges()
            # After dropping privileges: changing them clears the parent-death signal.
            _die_with_parent(parent)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, self.sigint)
            own = {self.listener.fileno(), self.wake_r, self.wake_w, self.selector.fileno()}
            own.update(job["conn"].fileno() for job in self.jobs.values())
            for fd in own:
                with contextlib.suppress(OSError):
                    os.close(fd)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(fds[0], 1)
            os.dup2(fds[1], 2)
            for fd in (devnull, *fds):
                if fd > 2:
                    os.close(fd)
            for fd, data in ((1, self.prefix[0]), (2, self.prefix[1])):
                while data:
                    data = data[os.write(fd, data) :]
            sys.argv = [self.script, *argv]
            code = run_script(self.script, self.code)
        except BaseException:  # noqa: BLE001 - a child must never return into the zygote loop
            with contextlib.suppress(Exception):
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(code)


def _text(data: bytes) -> str:
    """Bytes as a JSON-safe str; the runner reverses it with encode("utf-8", "surrogateescape")."""
    return data.decode("utf-8", "surrogateescape")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="zygote.py")
    parser.add_argument("socket")
    parser.add_argument("ready_fd", type=int)
    parser.add_argument("--exchange", help="the folder commands run in and may write to")
    parser.add_argument("--user", help="run commands as this user (the zygote is root)")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    socket_path = args.socket
    with os.fdopen(args.ready_fd, "w") as ready:
        try:
            script = airflow_script()
            code = compile_script(script)
            prefix = _import_airflow(script, code)
            confined = None
            if args.exchange:
                confined = Confined(args.exchange, args.user)
            zygote = Zygote(socket_path, script, code, prefix, confined)
        except ImportFailed as exc:
            out, err = (_text(b) for b in exc.args)
            failed = {"error": "importing Airflow failed", "stdout": out, "stderr": err}
            ready.write(json.dumps(failed))
            raise SystemExit(1) from None
        except BaseException:  # noqa: BLE001 - reported to the runner, which shows it
            ready.write(json.dumps({"error": traceback.format_exc()}))
            raise SystemExit(1) from None
        # Objects alive now are shared with every child; keep the collector off their pages.
        gc.freeze()
        ready.write(json.dumps({"ready": os.getpid()}))
    zygote.serve()


if __name__ == "__main__":
    main()
