"""The team's daily report: a templated greeting (the DAG run's conf may name who), shouted by
the team's operator from plugins.zip, then a Python task using the team's package from
requirements.txt."""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.python_operator import PythonOperator
from team_operators import ShoutOperator

DEFAULT_ARGS = {"owner": "data-team", "retries": 0, "retry_delay": timedelta(minutes=1)}


def greet(**context):
    # Imported in the task, not at the top: on MWAA with Airflow 1.10.12 requirements.txt's
    # packages reach the scheduler and the workers, not the web server (nor its CLI).
    import team_tools

    conf = context["dag_run"].conf or {}
    message = team_tools.greeting(conf.get("name", "world"))
    print(message)
    return message


with DAG(
    "daily_report",
    start_date=datetime(2020, 11, 24),
    schedule_interval="@daily",
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["team"],
) as dag:
    shout = ShoutOperator(
        task_id="shout", message="report for {{ dag_run.conf.get('name', 'everyone') }}"
    )
    report = PythonOperator(task_id="greet", python_callable=greet, provide_context=True)
    shout >> report
