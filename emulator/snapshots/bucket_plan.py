"""How to return a versioned bucket to a snapshot of it, decided without I/O.

S3 cannot give an object version a chosen id, so the plan keeps every version the snapshot
had that is still there in the same order, and deletes the rest. Only a version that is gone
(deleted by id, or the whole bucket after `make clean`) is uploaded again, and then so is every
later version of its key, so that the newest is the snapshot's newest; those get new ids, and
the caller maps the old ids to them (a definition pins plugins.zip by version id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    delete_marker: bool = False
    blob: str | None = None  # the content's SHA-256 in the snapshot (None for a marker)
    content_type: str | None = None


@dataclass
class RestorePlan:
    delete: list[Version] = field(default_factory=list)  # versions the snapshot did not have
    upload: list[Version] = field(default_factory=list)  # oldest first, per key
    kept: int = 0

    @property
    def unchanged(self) -> bool:
        return not self.delete and not self.upload


def plan_restore(
    wanted: Mapping[str, Sequence[Version]], present: Mapping[str, Sequence[Version]]
) -> RestorePlan:
    """From the snapshot's versions and the bucket's (each key's oldest first)."""
    plan = RestorePlan()
    for key in sorted({*wanted, *present}):
        want = list(wanted.get(key, ()))
        have = list(present.get(key, ()))
        there = {v.version_id for v in have}
        kept = 0
        while kept < len(want) and want[kept].version_id in there:
            kept += 1
        keep_ids = {v.version_id for v in want[:kept]}
        plan.delete += [v for v in have if v.version_id not in keep_ids]
        plan.upload += want[kept:]
        plan.kept += kept
    return plan
