"""Applying a sync plan: S3 objects into the dags folder, atomically, never on a bad listing.

A file is downloaded into a hidden staging folder inside the dags folder (same filesystem),
checked against its ETag, then renamed into place: Airflow sees the old file or the new one,
never half of one. The manifest records what the watcher wrote, so a later sync deletes only
those files, and unchanged objects are not downloaded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

from emulator.environment.spec import EnvironmentSpec
from emulator.s3 import objects
from emulator.watcher.plan import SyncPlan, dag_prefix, keys_to_paths, plan_sync

STAGING = ".mwaa-local-staging"
MANIFEST = "watcher-manifest.json"
# S3 itself cannot be reached: stop the round. Any other failure is one object's (a body that
# does not match its ETag, an object replaced between listing and download): the others go on.
UNREACHABLE = (BotoConnectionError, HTTPClientError)
_PLAIN_MD5 = re.compile(r'^"?([0-9a-f]{32})"?$')


@dataclass
class SyncResult:
    fetched: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the listing or a download failed; nothing was deleted for it


class DagSync:
    """Mirrors s3://bucket/prefix into `folder`."""

    def __init__(self, s3: Any, bucket: str, prefix: str, folder: Path, manifest_file: Path):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.folder, self.manifest_file = folder, manifest_file

    # -- the manifest: what this watcher wrote --------------------------------------------
    def manifest(self) -> dict[str, str]:
        try:
            data = json.loads(self.manifest_file.read_text())
        except (OSError, ValueError):
            return {}
        if data.get("prefix") != self.prefix or data.get("folder") != str(self.folder):
            return {}  # DagS3Path changed: the old files are not this prefix's to delete
        return dict(data.get("files", {}))

    def _save(self, files: dict[str, str]) -> None:
        self.manifest_file.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"prefix": self.prefix, "folder": str(self.folder), "files": files})
        tmp = self.manifest_file.with_suffix(".tmp")
        tmp.write_text(body)
        os.replace(tmp, self.manifest_file)

    # -- one round ---------------------------------------------------------------------------
    def plan(self, listing: dict[str, str]) -> tuple[SyncPlan, dict[str, str]]:
        paths, skipped = keys_to_paths(listing, self.prefix)
        manifest = self.manifest()
        present = {p for p in {*paths, *manifest} if (self.folder / p).is_file()}
        plan = plan_sync(paths, manifest, present)
        return SyncPlan(plan.fetch, plan.delete, skipped), paths

    def run_once(self) -> SyncResult:
        result = SyncResult()
        try:
            listing = objects.list_etags(self.s3, self.bucket, self.prefix)
        except Exception as exc:  # noqa: BLE001 - any failure means: keep everything
            result.error = f"listing s3://{self.bucket}/{self.prefix} failed: {exc}"
            return result
        plan, paths = self.plan(listing)
        result.skipped = plan.skipped
        if plan.empty:
            return result
        files = self.manifest()
        self.folder.mkdir(parents=True, exist_ok=True)
        failed: list[str] = []
        try:
            for path in plan.delete:
                self._delete(path)
                files.pop(path, None)
                result.deleted.append(path)
            for path in plan.fetch:
                try:
                    self._fetch(self.prefix + path, path, paths[path])
                except UNREACHABLE:
                    raise
                except Exception as exc:  # noqa: BLE001 - this object only: go on with the rest
                    failed.append(f"{path}: {exc}")
                    continue
                files[path] = paths[path]
                result.fetched.append(path)
            if failed:
                result.error = f"{len(failed)} file(s) not synced, retrying: " + "; ".join(failed)
        except UNREACHABLE as exc:  # S3 went away mid-sync: resume next round
            result.error = f"sync stopped: {exc}"
        finally:
            self._save(files)
            try:
                (self.folder / STAGING).rmdir()  # only when empty: nothing left half-way
            except OSError:
                pass
        return result

    def _fetch(self, key: str, path: str, etag: str) -> None:
        staging = self.folder / STAGING
        staging.mkdir(exist_ok=True)
        target = self.folder / path
        fd, tmp_name = tempfile.mkstemp(dir=staging, suffix=".partial")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            body = self.s3.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"]
            with os.fdopen(fd, "wb") as out:
                for chunk in iter(lambda: body.read(1024 * 1024), b""):
                    digest.update(chunk)
                    out.write(chunk)
            plain = _PLAIN_MD5.match(etag)
            if plain and plain.group(1) != digest.hexdigest():
                raise OSError(f"{key}: download does not match its ETag (truncated?)")
            tmp.chmod(0o644)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _delete(self, path: str) -> None:
        target = self.folder / path
        target.unlink(missing_ok=True)
        # Its bytecode goes with it (Python writes it when Airflow parses the file): stale now,
        # and it would keep the folder from going.
        cache = target.parent / "__pycache__"
        for compiled in cache.glob(f"{target.stem}.*.pyc"):
            compiled.unlink(missing_ok=True)
        if cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
        # Folders the deletion left empty go too (not the dags folder itself).
        parent = target.parent
        while parent != self.folder and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def for_environment(s3: Any, spec: EnvironmentSpec, folder: Path, state_dir: Path) -> DagSync:
    """The sync of `spec`'s DagS3Path into `folder`, with its manifest in the state folder."""
    return DagSync(s3, spec.bucket, dag_prefix(spec["DagS3Path"]), folder, state_dir / MANIFEST)
