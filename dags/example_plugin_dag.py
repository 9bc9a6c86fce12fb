"""An example DAG that uses the example plugin (plugins/mwaa_local_example.py): its operator,
and its macro in a template."""

from airflow import DAG
from airflow.utils.dates import days_ago
from mwaa_local_example import GreetOperator

with DAG(
    dag_id="example_plugin",
    description="An operator and a macro from plugins.zip",
    start_date=days_ago(1),
    schedule_interval=None,
    catchup=False,
    tags=["example"],
    # Who answers for it: the UI's Owner column (`mwaa-local check-dags` wants one).
    default_args={"owner": "mwaa-local"},
) as dag:
    GreetOperator(
        task_id="greet",
        greeting="{{ macros.mwaa_local_example.shout('hello from plugins.zip') }} ({{ run_id }})",
    )
