"""A venv made as `make venv`, the tool and the native runtime make theirs (emulator/venvs.py),
from a small lock and a wheelhouse, in seconds: uv installs the pins, the venv has the pip and
pkg_resources the platform needs. (Without uv in the wheelhouse pip installs: the same
command lines, tests/unit/test_venvs.py; not built here, to keep CI's time.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from emulator import venvs
from tests.conftest import PROJECT, unavailable
from tests.unit.test_requirements import make_wheel

CHECKOUT_UV = PROJECT / venvs.UV_DIR


def _installed(folder: Path, lock: Path, wheels: Path, uv_home: Path) -> tuple[str, str]:
    """Make the venv; return who installed the pin and what the venv's Python reports."""
    said: list[str] = []
    venvs.create(sys.executable, folder, lock, folder / "install.log", said.append, wheels,
                 uv_home=uv_home)  # fmt: skip
    probe = (
        "import importlib.metadata as m, pkg_resources, pip, demo; "
        "print(m.distribution('demo').read_text('INSTALLER').strip(), demo.VERSION, "
        "pip.__version__)"
    )
    out = subprocess.run(
        [str(folder / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert (folder / venvs.INSTALLED).read_text() == f"{lock.name}\n"
    major, minor = (int(part) for part in out[2].split(".")[:2])
    assert (major, minor) < venvs.PIP_LIMIT  # MWAA's pip, for the user's requirements.txt
    return out[0], out[1]


def _lock_and_wheels(tmp_path: Path) -> tuple[Path, Path]:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "demo", "1.0", requires=("not-in-the-wheelhouse>=1",))
    make_wheel(wheels, "demo", "2.0")
    lock = tmp_path / "demo.lock"
    lock.write_text("# a pin whose dependency is not there: --no-deps\ndemo==1.0\n")
    return lock, wheels


def test_uv_installs_the_pins_from_a_wheelhouse(tmp_path: Path) -> None:
    if not venvs.uv_binary(CHECKOUT_UV).is_file():
        unavailable(f"no uv in {CHECKOUT_UV}: run `make venv`")
    lock, wheels = _lock_and_wheels(tmp_path)
    assert _installed(tmp_path / "venv", lock, wheels, CHECKOUT_UV) == ("uv", "1.0")
