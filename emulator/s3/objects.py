"""What the emulator asks of the bucket's objects: complete listings and object versions."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

_MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


def list_etags(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Every key under `prefix` with its ETag, as S3 gives it (quoted). Raises on any error: a
    partial listing must never be taken for the bucket's content (deletions are planned
    from it)."""
    keys: dict[str, str] = {}
    # Page by page without boto3's paginator: the watcher's own client (s3/wire.py) has none.
    token: dict[str, str] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, **token)
        for obj in page.get("Contents", []):
            keys[obj["Key"]] = obj["ETag"]
        if not page.get("IsTruncated"):
            return keys
        token = {"ContinuationToken": page["NextContinuationToken"]}


def versioning_enabled(s3: Any, bucket: str) -> bool:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"


def latest(s3: Any, bucket: str, key: str) -> tuple[str | None, str | None]:
    """(ETag as S3 gives it, VersionId) of the key's current version; (None, None) when there
    is none."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return None, None
        raise
    return head["ETag"], head.get("VersionId")


def latest_version(s3: Any, bucket: str, key: str) -> str | None:
    """The current version id of `key`, None when it does not exist."""
    return latest(s3, bucket, key)[1]


def version_exists(s3: Any, bucket: str, key: str, version: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    except ClientError:
        return False
    return True
