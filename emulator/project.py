"""A project folder as mwaa-local reads it: what `deploy`, a fresh environment's seed,
`check-dags` and `test-requirements` send or check.

    dags/              everything under it goes to s3://{bucket}/{DagS3Path}/
    plugins/           zipped as plugins.zip
    requirements.txt   or requirements/requirements.txt (aws-mwaa-local-runner's layout)
    environment.json   the environment (CreateEnvironment's input)
"""

from __future__ import annotations

from pathlib import Path

DAGS = "dags"
PLUGINS = "plugins"
# The first that exists wins: a user's repository usually has it at the top.
REQUIREMENTS = ("requirements.txt", "requirements/requirements.txt")


def dags_dir(project: Path) -> Path:
    return project / DAGS


def plugins_dir(project: Path) -> Path:
    return project / PLUGINS


def requirements_file(project: Path) -> Path | None:
    """The project's requirements.txt, or None when it has none."""
    for name in REQUIREMENTS:
        if (project / name).is_file():
            return project / name
    return None
