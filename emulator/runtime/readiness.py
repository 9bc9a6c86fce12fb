"""Waiting for components to be healthy, as `up` and `wait` do it in both runtimes.

The verdict on a set of component healths is pure (`judge`); so is what to tell the user when
one keeps crashing or the time is up (the component and its last log lines, and what to do).
`wait_healthy` is the loop, with the runtime's probes passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator import waiting
from emulator.errors import UpError
from emulator.runtime.base import ComponentHealth, Progress, Runtime

# The state a runtime gives a component that is not starting but crashing: natively
# supervisord gave up on it (FATAL); in Docker it was restarted this often without becoming
# healthy.
FAILING = "failing"
CRASH_LOOP_RESTARTS = 5
REPORT_EVERY_S = 5.0
TAIL_LINES = 15


@dataclass(frozen=True)
class Verdict:
    ready: bool
    failing: ComponentHealth | None = None
    pending: list[ComponentHealth] = field(default_factory=list)


def crashing(component: ComponentHealth) -> bool:
    return not component.healthy and component.state == FAILING


def judge(components: list[ComponentHealth]) -> Verdict:
    """Ready when every component is healthy; failing as soon as one keeps crashing."""
    pending = [c for c in components if not c.healthy]
    failing = next((c for c in pending if crashing(c)), None)
    return Verdict(ready=bool(components) and not pending, failing=failing, pending=pending)


def _indented(lines: list[str]) -> str:
    return "\n".join(f"    {line}" for line in lines) if lines else "    (its log is empty)"


def failing_message(component: ComponentHealth, tail: list[str]) -> str:
    return (
        f"{component.name} keeps exiting as it starts ({component.detail or component.state}); "
        f"the last lines of its log:\n{_indented(tail)}\n"
        f"Fix the cause shown above; `mwaa-local logs {component.name}` shows the whole log, "
        "`mwaa-local down` stops what did start."
    )


def timeout_message(
    seconds: float, pending: list[ComponentHealth], tails: dict[str, list[str]]
) -> str:
    parts = [
        f"not AVAILABLE after {seconds:.0f} s; still waiting for "
        + "; ".join(f"{c.name} ({c.detail or c.state})" for c in pending)
        + "."
    ]
    for component in pending:
        parts.append(
            f"--- {component.name}: the last lines of its log\n"
            f"{_indented(tails.get(component.name, []))}"
        )
    parts.append(
        "`mwaa-local logs NAME` shows a whole log; `mwaa-local down` stops what did start; "
        "`mwaa-local up --timeout SECONDS` waits longer."
    )
    return "\n".join(parts)


def wait_healthy(
    probe: Callable[[], list[ComponentHealth]],
    tail: Callable[[str], list[str]],
    timeout: float,
    progress: Progress,
    extra: Callable[[], str | None] | None = None,
    budget: float | None = None,
) -> None:
    """Until every component `probe` returns is healthy (and `extra`, when given, has nothing
    left to wait for: it returns what it still waits for, or None). Raises UpError at once
    for a component that keeps crashing, or after `timeout` seconds, naming what was not
    ready with its last log lines; `budget` is the whole time the caller was given, when this
    wait is its last part."""
    shown = budget or timeout
    last: list[Verdict] = [Verdict(False)]
    waiting_for: list[str] = []
    said = [time.monotonic()]

    def ready() -> bool:
        verdict = judge(probe())
        last[0] = verdict
        if verdict.failing is not None:
            raise UpError(failing_message(verdict.failing, tail(verdict.failing.name)))
        waiting_for[:] = [f"{c.name} ({c.detail or c.state})" for c in verdict.pending]
        if verdict.ready and extra is not None:
            more = extra()
            if more:
                waiting_for.append(more)
        if waiting_for and time.monotonic() - said[0] >= REPORT_EVERY_S:
            progress("waiting for " + "; ".join(waiting_for))
            said[0] = time.monotonic()
        return verdict.ready and not waiting_for

    try:
        waiting.until(ready, timeout, "every component to be healthy", interval=0.3)
    except waiting.WaitTimeout:
        pending = last[0].pending
        if not pending and waiting_for:
            raise UpError(
                f"not AVAILABLE after {shown:.0f} s; still waiting for {'; '.join(waiting_for)}"
            ) from None
        raise UpError(
            timeout_message(shown, pending, {c.name: tail(c.name) for c in pending})
        ) from None


# What GetEnvironment may say of a usable environment: UPDATE_FAILED means the last update
# failed and the environment runs on what it had, as on MWAA.
USABLE = ("AVAILABLE", "UPDATE_FAILED")


def wait_available(
    runtime: Runtime,
    timeout: float,
    progress: Progress,
    api_status: Callable[[], tuple[str | None, str | None]],
    starting: Callable[[], bool] = lambda: False,
) -> tuple[str, str | None]:
    """`mwaa-local wait`: until every component is healthy and the MWAA API says the
    environment is usable; returns (its status, LastUpdate's error or None).

    `api_status` asks GetEnvironment: (status, error), status None while it does not answer;
    `starting` says whether an `up` is busy starting it. An environment that is not running,
    and that no `up` is starting, is an error at once."""
    deadline = waiting.Deadline(timeout)
    if starting():
        # Until `up` has started everything its status says little ("stopped", NOT_CREATED).
        try:
            waiting.until(lambda: not starting(), timeout, "`mwaa-local up`", interval=0.5)
        except waiting.WaitTimeout:
            raise UpError(
                f"`mwaa-local up` was still starting the environment after {timeout:.0f} s"
            ) from None
    first = runtime.status()
    unreachable = [c for c in first.components if c.state == "unreachable"]
    if unreachable:
        raise UpError(f"{unreachable[0].name} cannot be reached: {unreachable[0].detail}")
    if first.status == "NOT_CREATED" or not any(
        c.healthy or c.state not in ("stopped", "exited") for c in first.components
    ):
        raise UpError(
            f"environment {first.name} is not running ({first.status}); "
            "`mwaa-local up` starts it (and waits itself)"
        )
    answer: list[tuple[str | None, str | None]] = [(None, None)]

    def api() -> str | None:
        answer[0] = api_status()
        status, error = answer[0]
        if status == "CREATE_FAILED":
            raise UpError(f"environment {first.name} is CREATE_FAILED: {error}")
        if status in USABLE:
            return None
        return f"the MWAA API ({status or 'not answering'})"

    wait_healthy(
        lambda: runtime.status().components,
        runtime.log_tail,
        deadline.remaining(),
        progress,
        api,
        budget=timeout,
    )
    status, error = answer[0]
    assert status is not None  # api() found it usable
    return status, error
