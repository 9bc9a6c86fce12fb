"""Waiting for a condition, the one way the project does it (tenacity does the retrying)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

# tenacity imports tornado whenever it is installed (Airflow's venv has it), only to offer a
# retrying for tornado coroutines, which nothing here uses: with asyncio, 9 MiB in every process
# that waits (the API among them). Hidden while tenacity loads, not afterwards.
_HIDE_TORNADO = "tornado" not in sys.modules
if _HIDE_TORNADO:
    sys.modules["tornado"] = None  # type: ignore[assignment]
try:
    import tenacity
finally:
    if _HIDE_TORNADO:
        del sys.modules["tornado"]

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold in time; `last` is its last answer (or exception)."""

    def __init__(self, what: str, timeout: float, last: object):
        super().__init__(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        self.what = what
        self.last = last


def until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.5,
    retry_on: tuple[type[BaseException], ...] = (),
    before_sleep: Callable[[T | BaseException | None], None] | None = None,
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    Exceptions of the types in `retry_on` count as "not yet"; others propagate. After
    `timeout` seconds, raise WaitTimeout with the last answer.
    """

    def _sleeping(state: tenacity.RetryCallState) -> None:
        if before_sleep is not None and state.outcome is not None:
            outcome = state.outcome
            before_sleep(outcome.exception() if outcome.failed else outcome.result())

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=(
            tenacity.retry_if_result(lambda value: not value)
            | tenacity.retry_if_exception_type(retry_on)
        ),
        before_sleep=_sleeping,
        reraise=True,
    )
    try:
        return retrying(condition)
    except tenacity.RetryError as exc:
        outcome = exc.last_attempt
        last = outcome.exception() if outcome.failed else outcome.result()
        raise WaitTimeout(what, timeout, last) from None
    except retry_on as exc:  # reraise=True hands back the last retryable exception
        raise WaitTimeout(what, timeout, exc) from None


class Deadline:
    """One time budget shared by the steps of a long operation (`up --timeout`)."""

    def __init__(self, seconds: float):
        self._clock = time.monotonic
        self.seconds = seconds
        self._end = self._clock() + seconds

    def remaining(self, at_most: float | None = None) -> float:
        """Seconds left (never below a tenth of a second, so a last check still happens),
        capped at `at_most`."""
        left = max(self._end - self._clock(), 0.1)
        return left if at_most is None else min(left, at_most)

    @property
    def passed(self) -> bool:
        return self._clock() >= self._end
