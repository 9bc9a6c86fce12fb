"""A folder as a tar stream and back, exactly: what a snapshot keeps of the native runtime's
folders (emulator/runtime/base.py, FILE_PARTS). Entries are relative to the folder ("./..."),
as Docker's archive of a volume is, with their modes and times."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import IO


def save(folder: Path, out: IO[bytes]) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if folder.is_dir():
            for name in sorted(os.listdir(folder)):
                tar.add(folder / name, arcname=f"./{name}")


def restore(tar_path: Path, folder: Path) -> None:
    """Empty `folder` (keeping the folder itself, which others may hold open), then unpack."""
    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    with tarfile.open(tar_path, mode="r:") as tar:
        # "tar": modes and times kept, nothing may land outside the folder.
        tar.extractall(folder, filter="tar")
