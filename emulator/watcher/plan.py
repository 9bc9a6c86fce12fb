"""What a DAG sync must do, decided without touching S3 or the disk.

The listing is S3's view (relative path -> ETag); the manifest is what the last syncs wrote
(relative path -> ETag). Only files the watcher wrote are ever deleted: Airflow's
`__pycache__` and anything else in the folder stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Diff:
    """How `target` differs from `source` (both relative path -> digest)."""

    added: list[str] = field(default_factory=list)  # in source only
    changed: list[str] = field(default_factory=list)  # in both, with another digest
    removed: list[str] = field(default_factory=list)  # in target only

    @property
    def changes(self) -> list[str]:
        """What to copy from source to target: added and changed paths."""
        return sorted(self.added + self.changed)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def diff(source: Mapping[str, str], target: Mapping[str, str]) -> Diff:
    """What mirroring `source` onto `target` takes. Both mappings must be complete: a partial
    listing would turn into deletions."""
    return Diff(
        added=sorted(p for p in source if p not in target),
        changed=sorted(p for p, d in source.items() if p in target and target[p] != d),
        removed=sorted(p for p in target if p not in source),
    )


@dataclass(frozen=True)
class SyncPlan:
    fetch: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # key -> why it is not synced

    @property
    def empty(self) -> bool:
        return not (self.fetch or self.delete)


def relative_path(key: str, prefix: str) -> str | None:
    """The key's path below the DAG prefix; None for folder markers and unsafe names."""
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    if not rest or rest.endswith("/"):
        return None
    parts = PurePosixPath(rest).parts
    if rest.startswith("/") or any(p in ("..", ".", "") for p in parts):
        return None
    return "/".join(parts)


def dag_prefix(dag_s3_path: str) -> str:
    """DagS3Path "dags" (or "dags/") means every key under "dags/"."""
    path = dag_s3_path.strip("/")
    return f"{path}/" if path else ""


def plan_sync(
    listing: dict[str, str], manifest: dict[str, str], present: set[str] | frozenset[str]
) -> SyncPlan:
    """Fetch what is new, changed or missing locally; delete what the bucket no longer has.

    `listing` must be complete: the caller never plans from a failed or partial listing.
    """
    # Only files that are really there count as synced: a deleted local copy is fetched again.
    synced = diff(listing, {path: etag for path, etag in manifest.items() if path in present})
    return SyncPlan(fetch=synced.changes, delete=sorted(p for p in manifest if p not in listing))


def keys_to_paths(keys: dict[str, str], prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Split a listing's keys into syncable paths (path -> ETag) and skipped keys (key -> why)."""
    paths: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for key, etag in keys.items():
        path = relative_path(key, prefix)
        if path is not None:
            paths[path] = etag
        elif not key.endswith("/") and key.startswith(prefix):
            skipped[key] = "its name would leave the dags folder"
    # A file and a folder of the same name cannot both exist locally: the folder wins.
    folders = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    for path in sorted(set(paths) & folders):
        skipped[prefix + path] = "a folder of the same name exists"
        del paths[path]
    return paths, skipped
