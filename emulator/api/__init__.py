"""MWAA's own API, on the environment's web server host: the control plane (rest-json), the
CLI endpoint, web login, and a reverse proxy to the Airflow web server."""
