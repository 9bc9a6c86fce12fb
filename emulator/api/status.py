"""MWAA's status rules for the environment, decided from what is known (no I/O here)."""

from __future__ import annotations

# Statuses an operation owns: the health monitor leaves them alone. UPDATE_FAILED stays until
# the next update, as on MWAA (the environment still runs).
BUSY = frozenset({"UPDATING", "UPDATE_FAILED", "DELETING", "DELETED", "CREATE_FAILED"})
UPDATABLE_FROM = frozenset({"AVAILABLE", "UPDATE_FAILED"})
# The components whose health the environment's status follows.
ESSENTIAL = ("webserver", "scheduler", "redis", "s3")


def applied(live: dict[str, int], generation: int, healthy: bool) -> bool:
    """Every service seen lately runs `generation` (or later) and the environment is healthy."""
    return bool(live) and all(g >= generation for g in live.values()) and healthy


def next_status(current: str, healthy: bool, applied_now: bool) -> str:
    """The status the monitor sets, given the components' health."""
    if current == "CREATING":
        # Created (again) means running on this definition, not just answering.
        return "AVAILABLE" if applied_now else "CREATING"
    if current in BUSY:
        return current
    return "AVAILABLE" if healthy else "UNAVAILABLE"


def update_refusal(name: str, current: str) -> str | None:
    """Why an UpdateEnvironment cannot start now, or None."""
    if current == "CREATE_FAILED":
        return "Environments with CREATE_FAILED status cannot be updated."
    if current not in UPDATABLE_FROM:
        return f"Environment {name} is {current}; it can be updated once it is AVAILABLE."
    return None
