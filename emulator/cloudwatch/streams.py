"""The log stream names MWAA uses. Pure.

- Task logs: Airflow 1.10.12's `log_filename_template`,
  `{dag_id}/{task_id}/{execution_date}/{try_number}.log`, rendered by Airflow itself.
- Scheduler, worker and web server: `{component}_{instance}_{started}.log`, a stream per
  process start, as MWAA's images name them (`scheduler_ip-10-0-1-2.ec2.internal_1712345678.1.log`).
- DAG processing: `scheduler_{file}.log` for each DAG file (its path under the DAGs folder), and
  `dag_processor_manager.log` for the manager.
"""

from __future__ import annotations

import re

DAG_PROCESSOR_MANAGER = "dag_processor_manager.log"
# CloudWatch allows 512 characters, and no ':' or '*' in a stream name.
MAX_LENGTH = 512
_FORBIDDEN = re.compile(r"[:*]")


def safe(name: str) -> str:
    return _FORBIDDEN.sub("_", name)[:MAX_LENGTH]


def component(prefix: str, instance: str, started: float) -> str:
    return safe(f"{prefix}_{instance}_{started:.3f}.log")


def dag_file(relative_path: str) -> str:
    """The stream of one DAG file, from Airflow's processor log name (`{filename}.log`)."""
    return safe(f"scheduler_{relative_path}")


def task(rendered: str) -> str:
    """A task try's stream: Airflow's rendered log file name, as MWAA names it."""
    return safe(rendered)
