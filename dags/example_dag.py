"""An example DAG: a Bash task, then a Python task, as on a fresh MWAA environment."""

from airflow import DAG
from airflow.operators.bash_operator import BashOperator
from airflow.operators.python_operator import PythonOperator
from airflow.utils.dates import days_ago


def _greet(**context):
    print(f"hello from {context['dag'].dag_id}, run {context['run_id']}")
    return "greeted"


with DAG(
    dag_id="example_bash_python",
    description="Bash then Python, through Celery",
    start_date=days_ago(1),
    schedule_interval=None,
    catchup=False,
    tags=["example"],
    # Who answers for it: the UI's Owner column (`mwaa-local check-dags` wants one).
    default_args={"owner": "mwaa-local"},
) as dag:
    say_hello = BashOperator(task_id="say_hello", bash_command="echo hello from bash")
    greet = PythonOperator(task_id="greet", python_callable=_greet, provide_context=True)
    say_hello >> greet
