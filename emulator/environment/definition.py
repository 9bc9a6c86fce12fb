"""The environment's definition as it stands: environment.json until the environment is
registered, then the stored one (UpdateEnvironment changes it; its generation counts the
changes, and each running service restarts onto a new one)."""

from __future__ import annotations

from emulator.environment import spec as spec_module
from emulator.environment.spec import EnvironmentSpec
from emulator.environment.store import Store


def current(store: Store, from_file: EnvironmentSpec) -> tuple[int, EnvironmentSpec]:
    """(generation, definition): the stored one once it exists (generation 0 before)."""
    record = store.get(from_file.name)
    if record is None:
        return 0, from_file
    return record.generation, spec_module.validate(record.spec)
