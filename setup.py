"""Builds mwaa-local's wheel: the `emulator` package and, as emulator/_bundle/, the files it runs
with beside its code (emulator/tool/bundle.py lists them), so that a wheel installed in a
user's Python can set up mwaa-local's own platform on first use (emulator/tool/install.py).
Everything else is in pyproject.toml."""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _bundle():
    spec = importlib.util.spec_from_file_location(
        "_mwaa_local_bundle", ROOT / "emulator/tool/bundle.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithBundle(build_py):
    def run(self):
        super().run()
        bundle = _bundle()
        # An editable install runs from the checkout, which has the files; so does a build
        # that is not from a checkout (the Airflow image's, which needs none of them).
        if getattr(self, "editable_mode", False) or not bundle.is_checkout(ROOT):
            return
        target = Path(self.build_lib) / "emulator" / bundle.BUNDLE_DIR
        for relative in bundle.files(ROOT):
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, destination)


setup(cmdclass={"build_py": BuildWithBundle})
