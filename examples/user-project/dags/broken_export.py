"""Broken on purpose: a typo in an import, as a pull request might bring one. On MWAA the DAG
would just be missing, with an import error in the UI; `mwaa-local check-dags` stops the CI job
(examples/ci/run.sh) before anything starts."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperater

with DAG(
    "export",
    start_date=datetime(2020, 11, 24),
    schedule_interval=None,
    default_args={"owner": "data-team"},
) as dag:
    BashOperater(task_id="export", bash_command="echo exported")
