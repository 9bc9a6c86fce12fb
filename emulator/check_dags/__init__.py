"""`mwaa-local check-dags`: DAG files parsed the way the environment parses them, with no
environment running (check.py does the I/O, report.py decides and renders)."""
