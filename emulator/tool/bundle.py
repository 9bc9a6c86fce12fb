"""The files mwaa-local runs with beside its code: a wheel carries them as emulator/_bundle/
(setup.py puts them there), and the tool's installation gets them back where a checkout has
them, so that its code finds them as it does in a checkout (emulator/config.py INSTALL_DIR).

Standard library only: setup.py loads this file on its own, before anything is installed.
"""

from __future__ import annotations

from pathlib import Path

# In the wheel: emulator/_bundle/.
BUNDLE_DIR = "_bundle"
FILES = (
    "docker-compose.yml",
    ".env",
    ".dockerignore",
    "pyproject.toml",
    "setup.py",
    "README.md",
    "requirements/platform.lock",
    "requirements/servers.lock",
)
# Whole folders, without what is built into them (wheelhouses). All of images/: the native
# runtime runs scripts from there too (the S3 and CloudWatch Logs servers' serve.py).
FOLDERS = ("images",)
SKIPPED_PARTS = frozenset({"wheels", "wheels.partial", "__pycache__"})


def is_checkout(root: Path) -> bool:
    return (root / "docker-compose.yml").is_file() and (root / "emulator").is_dir()


def files(root: Path) -> list[str]:
    """The bundle's files (paths relative to `root`, a checkout or an unpacked bundle)."""
    found = [name for name in FILES if (root / name).is_file()]
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not SKIPPED_PARTS & set(relative.parts):
                found.append(relative.as_posix())
    return found
