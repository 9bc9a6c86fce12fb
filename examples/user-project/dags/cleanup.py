"""Housekeeping: a Bash task."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperator

with DAG(
    "cleanup",
    start_date=datetime(2020, 11, 24),
    schedule_interval=None,
    default_args={"owner": "platform-team"},
) as dag:
    BashOperator(task_id="tidy", bash_command="echo tidied {{ ds }}")
