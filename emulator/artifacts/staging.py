"""plugins.zip and requirements.txt, pinned by object version and staged beside the old ones.

Each version is staged once into its own folder of the state folder
(`plugins/{version}/`, `requirements/{version}/`), which every component shares. The
environment's definition names the versions; a component computes its plugins folder and
PYTHONPATH from it at start, so an update switches versions only when services restart, and a
failed staging leaves the running ones untouched.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emulator.artifacts import requirements
from emulator.environment.spec import EnvironmentSpec
from emulator.errors import StagingError

REQUIREMENTS_LOG = "requirements_install.log"
MAX_PLUGINS_BYTES = 1024**3  # MWAA's limit for plugins.zip
# The environment's two artifacts: (path field, version field) of the definition.
FIELDS = (
    ("PluginsS3Path", "PluginsS3ObjectVersion"),
    ("RequirementsS3Path", "RequirementsS3ObjectVersion"),
)


def folder_name(version: str) -> str:
    # Version ids are S3's; a folder name must not be able to leave the state folder.
    if re.fullmatch(r"[A-Za-z0-9._-]{1,200}", version) and version not in (".", ".."):
        return version
    return "v-" + hashlib.sha256(version.encode()).hexdigest()[:32]


def plugins_dir(state_dir: Path, version: str) -> Path:
    return state_dir / "plugins" / folder_name(version)


def requirements_dir(state_dir: Path, version: str) -> Path:
    return state_dir / "requirements" / folder_name(version)


def requirements_log(state_dir: Path) -> Path:
    return state_dir / "logs" / REQUIREMENTS_LOG


def staged_plugins(spec: EnvironmentSpec, state_dir: Path) -> Path | None:
    version = spec.data.get("PluginsS3ObjectVersion")
    if spec.data.get("PluginsS3Path") and version:
        folder = plugins_dir(state_dir, version)
        return folder if folder.is_dir() else None
    return None


def staged_requirements(spec: EnvironmentSpec, state_dir: Path) -> Path | None:
    version = spec.data.get("RequirementsS3ObjectVersion")
    if spec.data.get("RequirementsS3Path") and version:
        folder = requirements_dir(state_dir, version)
        return folder if folder.is_dir() else None
    return None


# -- S3 ----------------------------------------------------------------------------------
def unreadable(key: str, version: str) -> str:
    """MWAA's words for a version it cannot read."""
    return f"Unable to read version {version} of file {key}"


def _read(s3: Any, bucket: str, key: str, version: str, limit: int) -> bytes:
    try:
        answer = s3.get_object(Bucket=bucket, Key=key, VersionId=version)
        if answer["ContentLength"] > limit:
            raise StagingError("INCORRECT_FILE", f"{key} is larger than {limit} bytes")
        return answer["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise StagingError("S3_READ_FAILED", f"{unreadable(key, version)}: {exc}") from None


# -- staging -------------------------------------------------------------------------------
def _check_zip(archive: zipfile.ZipFile, key: str) -> None:
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts:
            raise StagingError(
                "INCORRECT_PLUGINS", f"{key}: entry {info.filename} leaves the folder"
            )
    broken = archive.testzip()
    if broken is not None:
        raise StagingError("INCORRECT_PLUGINS", f"{key}: entry {broken} is corrupt")


def stage_plugins(s3: Any, bucket: str, key: str, version: str, state_dir: Path) -> Path:
    """Extract that version of plugins.zip (once), keeping its top-level folders."""
    target = plugins_dir(state_dir, version)
    if target.is_dir():
        return target
    data = _read(s3, bucket, key, version, MAX_PLUGINS_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_zip(archive, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".partial-"))
            try:
                archive.extractall(tmp)
                tmp.chmod(0o755)
                tmp.rename(target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise StagingError(
            "INCORRECT_PLUGINS", f"version {version} of {key} is not a valid zip file: {exc}"
        ) from None
    return target


def stage_requirements(
    s3: Any, bucket: str, key: str, version: str, state_dir: Path, plugins: Path | None
) -> Path:
    """pip-install that version of requirements.txt (once) with the platform's constraints."""
    target = requirements_dir(state_dir, version)
    if target.is_dir():
        return target
    data = _read(s3, bucket, key, version, 10 * 1024 * 1024)
    source = target.parent / f"{folder_name(version)}.txt"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    log = requirements_log(state_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    result = requirements.install(source, target, log, plugins_dir=plugins)
    if not result.ok:
        raise StagingError(
            "INCORRECT_REQUIREMENTS",
            f"pip could not install version {version} of {key}: {result.summary} "
            f"(see `mwaa-local logs requirements`)",
        )
    return target


def stage(s3: Any, spec: EnvironmentSpec, state_dir: Path) -> None:
    """Stage the plugins and requirements versions `spec` names; raises StagingError."""
    data, bucket = spec.data, spec.bucket
    plugins = None
    if data.get("PluginsS3Path") and data.get("PluginsS3ObjectVersion"):
        plugins = stage_plugins(
            s3, bucket, data["PluginsS3Path"], data["PluginsS3ObjectVersion"], state_dir
        )
    if data.get("RequirementsS3Path") and data.get("RequirementsS3ObjectVersion"):
        stage_requirements(
            s3,
            bucket,
            data["RequirementsS3Path"],
            data["RequirementsS3ObjectVersion"],
            state_dir,
            plugins,
        )
