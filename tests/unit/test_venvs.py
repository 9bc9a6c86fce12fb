"""The command lines emulator/venvs.py builds: the pins go through uv with --no-deps, from the
package index or only from a wheelhouse, and pip only where uv cannot be had."""

from __future__ import annotations

import re
from pathlib import Path

from emulator import venvs

PROJECT = Path(__file__).resolve().parent.parent.parent
LOCKS = [PROJECT / "requirements" / "platform.lock", PROJECT / "requirements" / "dev.lock"]
PYTHON = Path("/venv/bin/python")
UV = Path("/clone/.uv") / venvs.UV_VERSION / "bin" / "uv"


def test_the_pins_install_with_uv_without_their_dependencies() -> None:
    argv = venvs.install_argv(UV, PYTHON, None, venvs.lock_arguments(LOCKS))
    assert argv[:5] == [str(UV), "pip", "install", "--python", str(PYTHON)]
    assert "--no-deps" in argv
    assert "--compile-bytecode" in argv  # as pip does: Airflow's user cannot write __pycache__
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-r"] == [str(p) for p in LOCKS]
    assert "--no-index" not in argv  # the package index, when no wheelhouse is given


def test_a_wheelhouse_is_the_only_source() -> None:
    wheels = Path("/wheels")
    for uv in (UV, None):
        argv = venvs.install_argv(uv, PYTHON, wheels, ["--no-deps", "-r", "x.lock"])
        assert argv[argv.index("--find-links") + 1] == str(wheels)
        assert "--no-index" in argv
    assert "--no-index" in venvs.bootstrap_argv(PYTHON, Path("/t"), wheels)


def test_a_venv_only_root_runs_is_not_byte_compiled_up_front() -> None:
    assert "--compile-bytecode" not in venvs.install_argv(UV, PYTHON, None, ["x"], False)
    assert "--no-compile" in venvs.install_argv(None, PYTHON, None, ["x"], False)
    assert "--no-compile" not in venvs.install_argv(None, PYTHON, None, ["x"])


def test_without_uv_the_venvs_own_pip_installs() -> None:
    argv = venvs.install_argv(None, PYTHON, None, ["--no-deps", "-e", "."])
    assert argv[:3] == [str(PYTHON), "-m", "pip"]
    assert argv[-3:] == ["--no-deps", "-e", "."]


def test_uv_is_bootstrapped_at_its_one_pin_outside_the_venv(tmp_path: Path) -> None:
    argv = venvs.bootstrap_argv(PYTHON, tmp_path / "uv", None)
    assert argv[:3] == [str(PYTHON), "-m", "pip"]
    assert argv[argv.index("--target") + 1] == str(tmp_path / "uv")
    assert argv[-1] == f"uv=={venvs.UV_VERSION}"
    assert venvs.uv_binary(tmp_path) == tmp_path / venvs.UV_VERSION / "bin" / "uv"
    # One place for the version: nothing else of the install path names one.
    for path in (PROJECT / "Makefile", PROJECT / "bench" / "install", PROJECT / ".ci" / "run"):
        assert not re.search(r"uv[=@ ]=?\d+\.\d+", path.read_text()), path


def test_a_wheelhouse_without_a_uv_wheel_falls_back_to_pip(tmp_path: Path) -> None:
    assert venvs.uv_bootstrappable(None)
    assert not venvs.uv_bootstrappable(tmp_path)
    (tmp_path / f"uv-{venvs.UV_VERSION}-py3-none-manylinux_2_17_x86_64.whl").write_bytes(b"")
    assert venvs.uv_bootstrappable(tmp_path)


UV_FETCHING = """Using Python 3.11.7 environment at: .venv
Resolved 147 packages in 695ms
Downloading numpy (17.4MiB)
Downloading babel (9.7MiB)
 Downloaded babel
   Building tornado==5.1.1
   Building pendulum==1.4.4
      Built tornado==5.1.1
"""


def test_progress_says_how_far_uv_or_pip_is() -> None:
    assert venvs.progress_step("", 147) == "0 of 147 packages found"
    assert venvs.progress_step(UV_FETCHING, 147) == (
        "fetching and building 147 packages (1 of 2 large downloads, 1 of 2 sdists built)"
    )
    assert venvs.progress_step(UV_FETCHING + "Prepared 147 packages in 20s\n", 147) == (
        "unpacking them"
    )
    pip = "Collecting alembic==1.7.7\nCollecting amqp==5.4.2\n"
    assert venvs.progress_step(pip, 147) == "2 of 147 packages found"
    assert venvs.progress_step(pip + "Installing collected packages: a\n", 147) == (
        "unpacking them"
    )


def test_pins_are_counted_without_comments_or_blank_lines(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("# a comment\n\na==1  # why\nb==2\n")
    assert venvs.pins([lock, lock]) == 4
