"""The only part of mwaa-local that runs inside Airflow 1.10.12 or speaks its CLI: the allow-list
and warm runner behind `POST /aws_mwaa/cli` (the zygote imports Airflow in its own process) and
the login plugin loaded by Airflow's web server. Everything else in `emulator` runs without
Airflow; a later Airflow version plugs in here."""
