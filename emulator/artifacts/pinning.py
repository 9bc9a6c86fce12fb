"""Which versions of plugins.zip and requirements.txt a definition names, as MWAA decides it:
a path without a version means its latest version, pinned from then on; a version that does
not exist is refused with MWAA's own words."""

from __future__ import annotations

from typing import Any

from emulator.artifacts.staging import FIELDS, unreadable
from emulator.s3 import objects


def pin_latest(s3: Any, bucket: str, definition: dict[str, Any]) -> dict[str, str]:
    """The version fields to add: the latest version of each path named without one (a path
    whose object does not exist yet stays unpinned)."""
    pinned: dict[str, str] = {}
    for path_key, version_key in FIELDS:
        if definition.get(path_key) and not definition.get(version_key):
            latest = objects.latest_version(s3, bucket, definition[path_key])
            if latest is not None:
                pinned[version_key] = latest
    return pinned


def unpinned(definition: dict[str, Any]) -> list[str]:
    """Paths named without a version (after pinning: objects that do not exist)."""
    return [
        definition[path_key]
        for path_key, version_key in FIELDS
        if definition.get(path_key) and not definition.get(version_key)
    ]


def unreadable_version(s3: Any, bucket: str, definition: dict[str, Any]) -> str | None:
    """MWAA's refusal for a named version that does not exist, or None when all can be read."""
    for path_key, version_key in FIELDS:
        key, version = definition.get(path_key), definition.get(version_key)
        if key and version and not objects.version_exists(s3, bucket, key, version):
            return unreadable(key, version)
    return None
