"""mwaa-local: a local, offline Amazon MWAA (Airflow 1.10.12), in Docker or as processes."""

__version__ = "0.1.0"
