"""An example Airflow plugin: an operator and a macro.

`make up` (on a fresh environment) and `make deploy` zip this folder into plugins.zip, as you
would for MWAA; `dags/example_plugin_dag.py` uses both. On MWAA, and here, the plugins folder
is on `sys.path`, so DAGs import the operator from its module.
"""

from airflow.models import BaseOperator
from airflow.plugins_manager import AirflowPlugin
from airflow.utils.decorators import apply_defaults


def shout(text: str) -> str:
    """A macro: `{{ macros.mwaa_local_example.shout("hello") }}` renders HELLO!"""
    return f"{text.upper()}!"


class GreetOperator(BaseOperator):
    """Prints its (templated) greeting and returns it as its XCom."""

    template_fields = ("greeting",)
    ui_color = "#e8f7e4"

    @apply_defaults
    def __init__(self, greeting: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.greeting = greeting

    def execute(self, context):
        print(self.greeting)
        return self.greeting


class MwaaLocalExamplePlugin(AirflowPlugin):
    name = "mwaa_local_example"
    operators = [GreetOperator]
    macros = [shout]
