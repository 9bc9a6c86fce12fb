"""A crash heals natively as it does under Compose: supervisord restarts what died, `status`
shows the restart, the environment is AVAILABLE again, and it runs DAGs. A component that keeps
dying as it starts is shown failing, with its last log lines, and tried again later."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.conftest import Env, run_dag_to_success, wait_until

pytestmark = pytest.mark.native

DAG = "example_bash_python"


def _airflow_process(env: Env, component: str) -> psutil.Process:
    """The process an OOM killer would pick: Airflow's own (the API's, for the api)."""
    leader = psutil.Process(env.component(component)["pid"])
    if component == "api":
        return leader
    children = leader.children()
    assert children, f"{component} has no Airflow process under it"
    return children[0]


def _available(env: Env) -> dict | None:
    status = env.status()
    return status if status["Status"] == "AVAILABLE" else None


@pytest.mark.parametrize("component", ["scheduler", "api", "webserver", "worker-1"])
def test_a_killed_component_comes_back_by_itself(native_env, component: str) -> None:
    env, _ = native_env
    wait_until(lambda: _available(env), 120, "AVAILABLE before the kill")
    before = env.component(component)
    victim = _airflow_process(env, component)
    tree = [victim, *victim.children(recursive=True)]
    os.kill(victim.pid, signal.SIGKILL)

    def restarted() -> dict | None:
        now = env.component(component)
        return now if now["restarts"] > before["restarts"] and now["healthy"] else None

    after = wait_until(restarted, 180, f"{component} to be restarted and healthy", interval=1)
    assert after["pid"] != before["pid"] or component != "api"
    assert "SIGKILL" in after["last_exit"] or "137" in after["last_exit"] or component != "api"
    wait_until(lambda: _available(env), 120, "AVAILABLE after the restart", interval=1)
    # Nothing of the killed process tree lives on (a scheduler's DAG processor manager leads
    # its own process group, and would otherwise keep its database connections).
    gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    text = env.run("status").stdout
    assert f"restarts {after['restarts']}" in text, text
    run_dag_to_success(env, DAG)


def test_a_component_crashing_as_it_starts_is_shown_failing_then_retried(native_env) -> None:
    env, _ = native_env
    wait_until(lambda: _available(env), 120, "AVAILABLE first")

    # It dies each time within seconds of starting, as a bad configuration would make it.
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
    status = env.status()
    watcher = next(c for c in status["Components"] if c["name"] == "watcher")
    assert status["Status"] == "UNAVAILABLE"
    assert not watcher["healthy"] and "keeps crashing" in watcher["detail"], watcher
    assert watcher["log_tail"], "no log lines shown for the failing component"
    text = env.run("status").stdout
    assert "watcher: the last lines of its log" in text, text
    # No restart at full speed: supervisord has stopped trying; the next try comes later.
    restarts = watcher["restarts"]
    assert env.component("watcher")["restarts"] == restarts
    wait_until(lambda: env.component("watcher")["healthy"], 120, "the watcher's later retry")
    wait_until(lambda: _available(env), 60, "AVAILABLE again")
