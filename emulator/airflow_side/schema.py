"""Airflow's own schema migrations (its alembic scripts), for the history commands: which
revisions this Airflow knows, and moving a database to one of them.

Run as a program, in a process of its own that imports Airflow
(`python -m emulator.airflow_side.schema revisions|migrate TARGET`); the database is
AIRFLOW__CORE__SQL_ALCHEMY_CONN, as for any Airflow command. `migrate` goes up or down to
TARGET ("heads" for this Airflow's newest); downgrades make older 1.10.x schemas for tests.
"""

from __future__ import annotations

import json
import os
import sys


def _config():  # -> alembic.config.Config
    import airflow
    from airflow import settings
    from alembic.config import Config

    package = os.path.dirname(os.path.abspath(airflow.__file__))
    config = Config(os.path.join(package, "alembic.ini"))
    config.set_main_option(
        "script_location", os.path.join(package, "migrations").replace("%", "%%")
    )
    config.set_main_option("sqlalchemy.url", settings.SQL_ALCHEMY_CONN.replace("%", "%%"))
    return config


def revisions() -> dict:
    """{"heads": [...], "order": [oldest ... newest]} of this Airflow's migrations."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    newest_first = [r.revision for r in script.walk_revisions()]
    return {"heads": list(script.get_heads()), "order": newest_first[::-1]}


def migrate(target: str) -> None:
    from airflow import settings
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _config()
    with settings.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    script = ScriptDirectory.from_config(config)
    if target == "heads" or current is None:
        command.upgrade(config, target)
        return
    newest_first = [r.revision for r in script.walk_revisions()]
    if newest_first.index(target) < newest_first.index(current):
        command.upgrade(config, target)
    elif target != current:
        command.downgrade(config, target)


def main(argv: list[str]) -> int:
    if argv[:1] == ["revisions"]:
        sys.stdout.write(json.dumps(revisions()) + "\n")
        return 0
    if len(argv) == 2 and argv[0] == "migrate":
        migrate(argv[1])
        return 0
    sys.stderr.write("usage: python -m emulator.airflow_side.schema revisions | migrate TARGET\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
