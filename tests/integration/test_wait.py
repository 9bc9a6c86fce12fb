"""Waiting, for scripts: `mwaa-local up --timeout SECONDS` and `mwaa-local wait` end with exit 0
once the environment is AVAILABLE, or exit 1 naming what is not ready, with its last log lines:
at once for a component that keeps crashing, else when the time is up."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from emulator.runtime import up_lock
from tests.conftest import MWAA_LOCAL, PROJECT, Env, wait_until

pytestmark = pytest.mark.native


def test_wait_returns_once_the_environment_is_available(native_env) -> None:
    env, _ = native_env
    result = env.run("wait", "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"environment mwaa-local is AVAILABLE after \d+\.\d s", result.stdout)
    assert f"MWAA API:          http://127.0.0.1:{env.ports['web']}" in result.stdout


def test_up_gives_up_at_its_timeout_and_wait_waits_for_a_busy_up(spare_env: Env) -> None:
    env = spare_env
    quick = env.run("up", "--runtime", "native", "--timeout", "2")
    assert quick.returncode == 1, quick.stdout + quick.stderr
    assert "not AVAILABLE after 2 s; still waiting for " in quick.stderr, quick.stderr
    # The component it was waiting for, and real lines of its log.
    assert re.search(r"--- [\w-]+: the last lines of its log\n    \S", quick.stderr), quick.stderr

    # One `up` at a time; `wait` waits for the one that is busy.
    first = subprocess.Popen(
        [MWAA_LOCAL, "up", "--runtime", "native"],
        env=env.env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: up_lock.busy(env.home), 60, "the first `up` to take the lock")
        second = env.run("up", "--runtime", "native")
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"another `mwaa-local up` (pid {first.pid})" in second.stderr, second.stderr
        waited = env.run("wait", "--timeout", "600")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "environment mwaa-local is AVAILABLE after" in waited.stdout
        out, err = first.communicate(timeout=600)
        assert first.returncode == 0, out + err
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # Left running: the next test starts from it (an `up` of a running one is quick).


def test_wait_names_a_failing_component_with_its_last_log_lines(spare_env: Env) -> None:
    env = spare_env
    env.ok("up", "--runtime", "native")  # quick when the test before left it running
    try:
        # The watcher dies each time within seconds of starting, as a bad setting would make
        # it: supervisord gives up on it after a few tries.
        def killed_again() -> bool:
            watcher = env.component("watcher")
            if watcher["state"] == "failing":
                return True
            if watcher["pid"]:
                try:
                    os.kill(watcher["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return False

        wait_until(killed_again, 120, "the watcher to be given up on", interval=0.3)
        result = env.run("wait", "--timeout", "600")  # no need to wait that long: it fails now
        assert result.returncode == 1, result.stdout + result.stderr
        assert "watcher keeps exiting as it starts" in result.stderr, result.stderr
        assert "mirroring the bucket into" in result.stderr  # the watcher's own log line
        assert "`mwaa-local logs watcher`" in result.stderr
    finally:
        env.ok("down")
    stopped = env.run("wait", "--timeout", "600")
    assert stopped.returncode == 1
    assert "is not running" in stopped.stderr and "`mwaa-local up` starts it" in stopped.stderr
