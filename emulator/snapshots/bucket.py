"""The bucket's side of a snapshot: every object version and delete marker, in order, with
the versions' contents kept by SHA-256; and bringing the bucket back (bucket_plan.py)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emulator.errors import SnapshotError
from emulator.snapshots.bucket_plan import RestorePlan, Version, plan_restore

LOG = logging.getLogger(__name__)
LISTING = "bucket.json"
BLOBS = "blobs"

Say = Callable[[str], None]


def listing(s3: Any, bucket: str) -> dict[str, list[Version]]:
    """Every key's versions and delete markers, oldest first."""
    found: dict[str, list[tuple[Any, int, Version]]] = {}
    position = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [(v, False) for v in page.get("Versions", [])]
        entries += [(m, True) for m in page.get("DeleteMarkers", [])]
        for entry, marker in entries:
            position += 1
            version = Version(entry["Key"], entry["VersionId"], marker)
            # S3 lists a key's versions newest first; the position breaks a tie in time.
            found.setdefault(entry["Key"], []).append((entry["LastModified"], -position, version))
    return {
        key: [v for *_, v in sorted(items, key=lambda i: i[:2])] for key, items in found.items()
    }


def save(s3: Any, bucket: str, folder: Path, say: Say) -> dict[str, int]:
    """Every version's bytes into folder/blobs, the listing into folder/bucket.json."""
    blobs = folder / BLOBS
    blobs.mkdir(parents=True, exist_ok=True)
    versions = listing(s3, bucket)
    records = []
    count = size = 0
    for key, items in versions.items():
        for v in items:
            record: dict[str, Any] = {"key": key, "version_id": v.version_id}
            if v.delete_marker:
                record["delete_marker"] = True
            else:
                obj = s3.get_object(Bucket=bucket, Key=key, VersionId=v.version_id)
                body = obj["Body"].read()
                digest = hashlib.sha256(body).hexdigest()
                blob = blobs / digest
                if not blob.exists():
                    blob.write_bytes(body)
                    size += len(body)
                record.update(blob=digest, content_type=obj.get("ContentType"))
            records.append(record)
            count += 1
    (folder / LISTING).write_text(json.dumps({"bucket": bucket, "versions": records}, indent=1))
    say(f"bucket {bucket}: {len(versions)} keys, {count} versions ({size} bytes kept)")
    return {"keys": len(versions), "versions": count, "bytes": size}


def _wanted(folder: Path) -> dict[str, list[Version]]:
    data = json.loads((folder / LISTING).read_text())
    wanted: dict[str, list[Version]] = {}
    for r in data["versions"]:
        wanted.setdefault(r["key"], []).append(
            Version(
                r["key"],
                r["version_id"],
                bool(r.get("delete_marker")),
                r.get("blob"),
                r.get("content_type"),
            )
        )
    return wanted


def plan(s3: Any, bucket: str, folder: Path) -> RestorePlan:
    return plan_restore(_wanted(folder), listing(s3, bucket))


def restore(s3: Any, bucket: str, folder: Path, say: Say) -> dict[str, str]:
    """Bring the bucket back to the snapshot; {old version id: new one} for versions that had
    to be uploaded again."""
    try:
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        steps = plan(s3, bucket, folder)
        for v in steps.delete:
            s3.delete_object(Bucket=bucket, Key=v.key, VersionId=v.version_id)
        renamed: dict[str, str] = {}
        for v in steps.upload:
            if v.delete_marker:
                answer = s3.delete_object(Bucket=bucket, Key=v.key)
            else:
                assert v.blob is not None  # a version has its content
                extra = {"ContentType": v.content_type} if v.content_type else {}
                body = (folder / BLOBS / v.blob).read_bytes()
                answer = s3.put_object(Bucket=bucket, Key=v.key, Body=body, **extra)
            renamed[v.version_id] = answer["VersionId"]
    except (ClientError, BotoCoreError) as exc:
        raise SnapshotError(
            f"bringing bucket {bucket} back stopped: {exc}. Run the restore again once S3 "
            "answers (it is safe to repeat)"
        ) from None
    say(
        f"bucket {bucket}: {steps.kept} versions kept, {len(steps.delete)} newer ones deleted, "
        f"{len(steps.upload)} uploaded again"
    )
    return renamed
