"""The team's own operator, shipped in plugins.zip (as on MWAA, the plugins folder is on
sys.path, so DAGs import it by its module name)."""

from airflow.models import BaseOperator
from airflow.plugins_manager import AirflowPlugin
from airflow.utils.decorators import apply_defaults


class ShoutOperator(BaseOperator):
    """Logs its (templated) message in capitals and returns it."""

    template_fields = ("message",)

    @apply_defaults
    def __init__(self, message: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.message = message

    def execute(self, context):
        loud = self.message.upper()
        self.log.info("shouting: %s", loud)
        return loud


class TeamOperatorsPlugin(AirflowPlugin):
    name = "team_operators"
    operators = [ShoutOperator]
