"""The Airflow settings the service owns: computed for every process (airflow_config.py) and
refused in AirflowConfigurationOptions (spec.py), as MWAA refuses them."""

from __future__ import annotations

# What the service owns: the value is what a refused override's message calls it.
ESSENTIALS = {
    "core.executor": "the executor",
    "core.sql_alchemy_conn": "the metadata database connection",
    "celery.broker_url": "the Celery broker",
    "celery.result_backend": "the Celery result backend",
    "core.fernet_key": "the Fernet key",
    "core.dags_folder": "the DAGs folder",
    "core.plugins_folder": "the plugins folder",
    "webserver.secret_key": "the web server's secret key",
    # The API in front of the web server sets X-Forwarded-*; without this Airflow's redirects
    # would lose the browser's scheme and port (https://localhost:8443 -> http://...).
    "webserver.enable_proxy_fix": "the web server's proxy settings",
    # Logging goes to CloudWatch Logs as LoggingConfiguration says, as on MWAA.
    "core.logging_config_class": "the logging configuration (LoggingConfiguration)",
    "mwaa_local.log_spool_dir": "the folder log lines wait in for CloudWatch Logs",
}
