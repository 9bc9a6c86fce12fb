"""plugins.zip from a folder, as MWAA expects it (`cd plugins; zip -r plugins.zip .`) and
byte for byte the same for the same content, so an unchanged folder is an unchanged object."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

# A zip entry's time is local and at least 1980; any fixed one keeps the bytes stable.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc",)


def walk(folder: Path) -> tuple[list[str], list[str]]:
    """Relative POSIX paths of the folders and files under `folder`, without bytecode."""
    dirs: list[str] = []
    files: list[str] = []
    for root, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS)
        base = Path(root).relative_to(folder)
        dirs.extend((base / d).as_posix() for d in subdirs)
        files.extend(
            (base / n).as_posix()
            for n in names
            if not n.endswith(_SKIPPED_SUFFIXES) and (Path(root) / n).is_file()
        )
    return sorted(dirs), sorted(files)


def deterministic_zip(folder: Path) -> bytes:
    """plugins.zip of `folder`, byte for byte the same for the same content.

    Paths are relative to the folder, so its top-level folders are the zip's, as MWAA expects
    (`cd plugins; zip -r plugins.zip .`). Entries are sorted, with a fixed date and
    permissions (only a file's executable bit is kept), and no `__pycache__` or `.pyc`.
    """
    dirs, files = walk(folder)
    entries = [(d + "/", None) for d in dirs] + [(f, folder / f) for f in files]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3  # Unix, wherever it is built, so the modes below count
            if source is None:
                info.external_attr = (0o040755 << 16) | 0x10  # 0x10: MS-DOS directory flag
                archive.writestr(info, b"")
                continue
            executable = os.access(source, os.X_OK)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes(), compresslevel=6)
    return buffer.getvalue()
