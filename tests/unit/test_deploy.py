"""`mwaa-local deploy`'s pure half: the DAG plan, the update plan and a deterministic
plugins.zip (the S3 half: tests/integration/test_deploy.py)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

from emulator.deploy import (
    deterministic_zip,
    etag_md5,
    local_digests,
    plan_dags,
    plan_update,
)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def write(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)


# --- the plan ----------------------------------------------------------------------------


def test_plan_uploads_new_and_changed_and_deletes_what_is_gone():
    local = {"a.py": "1", "b.py": "2", "sub/c.sql": "3"}
    remote = {"a.py": "1", "b.py": "old", "gone.py": "4", "sub/old/d.py": "5"}

    plan = plan_dags(local, remote)

    assert plan.added == ["sub/c.sql"]
    assert plan.changed == ["b.py"]
    assert plan.removed == ["gone.py", "sub/old/d.py"]
    assert plan.changes == ["b.py", "sub/c.sql"]
    assert not plan.empty


def test_plan_of_identical_sides_is_empty_and_empty_local_deletes_all():
    same = {"a.py": "1", "x/y.txt": "2"}
    assert plan_dags(same, dict(same)).empty
    assert plan_dags({}, same).removed == ["a.py", "x/y.txt"]
    assert plan_dags(same, {}).added == ["a.py", "x/y.txt"]


def test_local_digests_take_every_file_but_bytecode(tmp_path):
    write(
        tmp_path,
        {
            "dag.py": "x = 1\n",
            ".airflowignore": "scratch/\n",
            "nested/deeper/query.sql": "select 1",
            "nested/data.bin": b"\x00\x01",
            "__pycache__/dag.cpython-311.pyc": b"junk",
            "nested/__pycache__/x.pyc": b"junk",
            "stray.pyc": b"junk",
        },
    )
    assert local_digests(tmp_path) == {
        ".airflowignore": md5(b"scratch/\n"),
        "dag.py": md5(b"x = 1\n"),
        "nested/data.bin": md5(b"\x00\x01"),
        "nested/deeper/query.sql": md5(b"select 1"),
    }


def test_plan_update_sends_path_and_version_of_what_changed():
    current = {
        "PluginsS3Path": "plugins.zip",
        "PluginsS3ObjectVersion": "p1",
        "RequirementsS3Path": "requirements.txt",
        "RequirementsS3ObjectVersion": "r1",
    }
    same = {"Plugins": ("plugins.zip", "p1"), "Requirements": ("requirements.txt", "r1")}
    assert plan_update(current, same) == {}
    assert plan_update(current, {**same, "Plugins": ("plugins.zip", "p2")}) == {
        "PluginsS3Path": "plugins.zip",
        "PluginsS3ObjectVersion": "p2",
    }
    assert plan_update({}, {"Requirements": ("reqs/requirements.txt", "r9")}) == {
        "RequirementsS3Path": "reqs/requirements.txt",
        "RequirementsS3ObjectVersion": "r9",
    }


def test_etag_md5():
    assert etag_md5('"0cc175b9c0f1b6a831c399e269772661"') == "0cc175b9c0f1b6a831c399e269772661"
    assert etag_md5('"abc-2"') == "abc-2"  # multipart: never an MD5, so always re-uploaded


# --- plugins.zip -------------------------------------------------------------------------

PLUGINS = {
    "my_plugin.py": "from airflow.plugins_manager import AirflowPlugin\n",
    "operators/__init__.py": "",
    "operators/hello.py": "class Hello: pass\n",
    "hooks/deep/nested.py": "X = 1\n",
    "operators/__pycache__/hello.cpython-311.pyc": b"junk",
    "stale.pyc": b"junk",
    "wheels/mypkg-1.0-py3-none-any.whl": b"PK fake",
}


def test_zip_is_deterministic_and_keeps_top_level_folders(tmp_path):
    folder = tmp_path / "plugins"
    write(folder, PLUGINS)
    first = deterministic_zip(folder)

    # Times and the write order do not matter, only content and names.
    for path in folder.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    assert deterministic_zip(folder) == first

    archive = zipfile.ZipFile(io.BytesIO(first))
    names = archive.namelist()
    assert names == sorted(names)
    assert names == [
        "hooks/",
        "hooks/deep/",
        "hooks/deep/nested.py",
        "my_plugin.py",
        "operators/",
        "operators/__init__.py",
        "operators/hello.py",
        "wheels/",
        "wheels/mypkg-1.0-py3-none-any.whl",
    ]
    assert archive.read("operators/hello.py") == b"class Hello: pass\n"
    for info in archive.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = info.external_attr >> 16
        assert mode == (0o040755 if info.is_dir() else 0o100644)

    (folder / "operators" / "hello.py").write_text("class Hello: pass  # changed\n")
    changed = deterministic_zip(folder)
    assert changed != first
    (folder / "operators" / "hello.py").write_text("class Hello: pass\n")
    assert deterministic_zip(folder) == first


def test_zip_keeps_the_executable_bit_only(tmp_path):
    folder = tmp_path / "plugins"
    write(folder, {"bin/tool.sh": "#!/bin/sh\n", "a.py": ""})
    (folder / "bin" / "tool.sh").chmod(0o700)
    (folder / "a.py").chmod(0o600)
    archive = zipfile.ZipFile(io.BytesIO(deterministic_zip(folder)))
    assert archive.getinfo("bin/tool.sh").external_attr >> 16 == 0o100755
    assert archive.getinfo("a.py").external_attr >> 16 == 0o100644
