"""`mwaa-local deploy`: the local project into the environment's bucket, as a user would do it
with `aws s3 sync` and `aws mwaa update-environment`.

Deciding is pure (digests and versions in, uploads, deletes and update parameters out); the
rest is S3 and MWAA calls through ordinary boto3 clients, so a test can drive it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from emulator import project as project_files
from emulator import waiting
from emulator.artifacts.plugins_zip import deterministic_zip, walk
from emulator.config import Settings
from emulator.environment.spec import EnvironmentSpec
from emulator.errors import DeployError
from emulator.s3 import objects
from emulator.watcher.plan import Diff, dag_prefix, diff, keys_to_paths, relative_path

# Used when environment.json does not name them but the project has the folder or file.
DEFAULT_PLUGINS_PATH = "plugins.zip"
DEFAULT_REQUIREMENTS_PATH = "requirements.txt"
# MWAA gives up on an update after about 20 minutes.
WAIT_TIMEOUT_S = 1200
# The watcher copies the bucket every second (every 30 s with MWAA's timing).
DAG_SYNC_TIMEOUT_S = 300


@dataclass
class DeployResult:
    changes: list[str] = field(default_factory=list)  # "+ dags/x.py", "~ plugins.zip (...)"
    update: dict[str, str] = field(default_factory=dict)  # UpdateEnvironment's parameters
    status: str | None = None  # the status --wait ended on
    error: str | None = None  # LastUpdate's error, or why waiting stopped


def md5_hex(data: bytes) -> str:
    # S3's ETag of a single-part upload; a digest to compare with, not a security measure.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def etag_md5(etag: str) -> str:
    """An ETag without its quotes (a multipart one, "md5-N", never equals an MD5)."""
    return etag.strip('"')


def local_digests(folder: Path) -> dict[str, str]:
    """Relative path -> MD5 of every file under `folder` (any type, nested folders)."""
    return {path: md5_hex((folder / path).read_bytes()) for path in walk(folder)[1]}


def plan_dags(local: dict[str, str], remote: dict[str, str]) -> Diff:
    """Mirror `local` onto `remote` (both relative path -> MD5): upload the added and changed
    files, delete the removed ones. `remote` must come from a complete listing."""
    return diff(local, remote)


def plan_update(current: dict[str, Any], wanted: dict[str, tuple[str, str]]) -> dict[str, str]:
    """UpdateEnvironment's parameters for what differs: `wanted` maps "Plugins" or
    "Requirements" to (S3 path, object version); a changed one sends both its path and
    version, the pair MWAA reads together."""
    params: dict[str, str] = {}
    for kind, (path, version) in sorted(wanted.items()):
        if current.get(f"{kind}S3Path") != path or current.get(f"{kind}S3ObjectVersion") != version:
            params[f"{kind}S3Path"] = path
            params[f"{kind}S3ObjectVersion"] = version
    return params


# --- I/O ---------------------------------------------------------------------------------


def list_etags(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Relative path -> MD5 (from the ETag) of every object under `prefix`.

    Any error raises: planning deletions from a partial listing would delete good files.
    Folder markers and names the watcher would not sync either are left out (and so kept).
    """
    remote: dict[str, str] = {}
    for key, etag in objects.list_etags(s3, bucket, prefix).items():
        path = relative_path(key, prefix)
        if path is not None:
            remote[path] = etag_md5(etag)
    return remote


def put_if_changed(s3: Any, bucket: str, key: str, body: bytes) -> tuple[str, str | None]:
    """Upload `body` unless the latest version has the same MD5.

    Returns (VersionId now current, "+" new / "~" replaced / None unchanged).
    """
    etag, version = objects.latest(s3, bucket, key)
    md5 = etag_md5(etag) if etag else None
    mark = None
    if md5 != md5_hex(body):
        version = s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId")
        mark = "+" if md5 is None else "~"
    if not version or version == "null":
        raise DeployError(
            f"s3://{bucket}/{key} has no version: the bucket's versioning is off, and MWAA "
            "needs it on (`make up` turns it on)"
        )
    return version, mark


def sync_dags(
    s3: Any, bucket: str, dag_s3_path: str, folder: Path, say: Callable[[str], None]
) -> list[str]:
    """Mirror `folder` to s3://bucket/DagS3Path/; returns the change lines."""
    prefix = dag_prefix(dag_s3_path)
    if not prefix:
        raise DeployError(f"DagS3Path {dag_s3_path!r} must name a folder of the bucket")
    plan = plan_dags(local_digests(folder), list_etags(s3, bucket, prefix))
    changes = []
    for path in plan.changes:
        s3.put_object(Bucket=bucket, Key=prefix + path, Body=(folder / path).read_bytes())
        changes.append(f"{'+' if path in plan.added else '~'} {prefix}{path}")
        say(changes[-1])
    for start in range(0, len(plan.removed), 1000):  # DeleteObjects takes 1000 keys at most
        batch = plan.removed[start : start + 1000]
        answer = s3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": prefix + p} for p in batch], "Quiet": True},
        )
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise DeployError(f"could not delete {first['Key']}: {first.get('Message')}")
        for path in batch:
            changes.append(f"- {prefix}{path}")
            say(changes[-1])
    return changes


def wait_for_update(
    mwaa: Any,
    name: str,
    say: Callable[[str], None],
    timeout_s: float = WAIT_TIMEOUT_S,
    poll_s: float = 5,
) -> tuple[str, str | None]:
    """Poll until the status is no longer UPDATING; (status, error message or None)."""
    seen: list[str] = []

    def finished() -> dict[str, Any] | None:
        environment = mwaa.get_environment(Name=name)["Environment"]
        if not seen or seen[-1] != environment["Status"]:
            seen.append(environment["Status"])
            say(f"status: {environment['Status']}")
        return environment if environment["Status"] != "UPDATING" else None

    try:
        environment = waiting.until(finished, timeout_s, f"{name}'s update", interval=poll_s)
    except waiting.WaitTimeout:
        return "UPDATING", f"still UPDATING after {timeout_s:.0f} s"
    assert environment is not None  # until() returns a truthy answer
    status = environment["Status"]
    if status == "AVAILABLE":
        return status, None
    error = (environment.get("LastUpdate") or {}).get("Error") or {}
    message = error.get("ErrorMessage") or f"the environment is {status}"
    code = error.get("ErrorCode")
    return status, f"{code}: {message}" if code else message


def deploy(
    s3: Any,
    mwaa: Any,
    environment: EnvironmentSpec,
    project: Path,
    *,
    update: bool = True,
    wait: bool = False,
    timeout_s: float = WAIT_TIMEOUT_S,
    poll_s: float = 5,
    say: Callable[[str], None] | None = None,
) -> DeployResult:
    """Upload `project`'s dags/, plugins/ (as plugins.zip) and requirements.txt (or
    requirements/requirements.txt) to the environment's bucket, then UpdateEnvironment with
    the object versions that changed.

    `say` hears each change as it happens. Raises DeployError or botocore's errors when a step
    fails; nothing is deleted unless the DAG listing was complete.
    """
    tell = say or (lambda _: None)
    result = DeployResult()
    bucket = environment.bucket

    dags = project_files.dags_dir(project)
    if dags.is_dir():
        result.changes += sync_dags(s3, bucket, environment["DagS3Path"], dags, tell)
    else:
        tell(f"no {dags}: the DAGs in the bucket are left as they are")

    wanted: dict[str, tuple[str, str]] = {}
    plugins = project_files.plugins_dir(project)
    if plugins.is_dir() and walk(plugins)[1]:
        key = environment.get("PluginsS3Path") or DEFAULT_PLUGINS_PATH
        version, mark = put_if_changed(s3, bucket, key, deterministic_zip(plugins))
        wanted["Plugins"] = (key, version)
        if mark:
            result.changes.append(f"{mark} {key} (version {version})")
            tell(result.changes[-1])
    requirements = project_files.requirements_file(project)
    if requirements is not None:
        key = environment.get("RequirementsS3Path") or DEFAULT_REQUIREMENTS_PATH
        version, mark = put_if_changed(s3, bucket, key, requirements.read_bytes())
        wanted["Requirements"] = (key, version)
        if mark:
            result.changes.append(f"{mark} {key} (version {version})")
            tell(result.changes[-1])

    if not wanted:
        return result
    current = mwaa.get_environment(Name=environment.name)["Environment"]
    params = plan_update(current, wanted)
    if not params:
        return result
    for name, value in params.items():
        if current.get(name) != value:
            line = f"update-environment: {name} -> {value}"
            result.changes.append(line if update else f"{line} (not sent: --no-update)")
            tell(result.changes[-1])
    if not update:
        return result
    try:
        mwaa.update_environment(Name=environment.name, **params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DeployError(
            f"UpdateEnvironment refused: {error.get('Code')}: {error.get('Message')}"
        ) from exc
    result.update = params
    if wait:
        result.status, result.error = wait_for_update(
            mwaa, environment.name, tell, timeout_s, poll_s
        )
    return result


def in_sync(manifest: dict[str, Any] | None, paths: dict[str, str]) -> bool:
    """Whether the watcher's manifest (what it wrote into the DAGs folder) holds exactly the
    files of the bucket's listing `paths` (relative path -> ETag), byte for byte."""
    if not manifest:
        return False
    wrote = {p: etag_md5(e) for p, e in (manifest.get("files") or {}).items()}
    return wrote == {p: etag_md5(e) for p, e in paths.items()}


def wait_for_dag_sync(
    s3: Any,
    environment: EnvironmentSpec,
    read_manifest: Callable[[], dict[str, Any] | None],
    timeout_s: float = DAG_SYNC_TIMEOUT_S,
    poll_s: float = 0.5,
) -> int:
    """Until the environment's DAGs folder holds what the bucket has under DagS3Path (the
    watcher copies it there); returns how many files that is. Raises DeployError on timeout."""
    prefix = dag_prefix(environment["DagS3Path"])
    paths, _skipped = keys_to_paths(objects.list_etags(s3, environment.bucket, prefix), prefix)
    try:
        waiting.until(
            lambda: in_sync(read_manifest(), paths), timeout_s, "the DAG sync", interval=poll_s
        )
    except waiting.WaitTimeout:
        raise DeployError(
            f"the environment's DAGs folder did not match the bucket after {timeout_s:.0f} s; "
            "`mwaa-local status` shows the watcher, `mwaa-local logs watcher` its log"
        ) from None
    return len(paths)


def clients(settings: Settings) -> tuple[Any, Any]:
    """boto3 S3 and MWAA clients for the running environment, as `mwaa-local env` sets up."""
    from emulator import client

    return client.s3(settings), client.mwaa(settings)
