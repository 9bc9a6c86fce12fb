"""An environment's history moved between metadata databases: `mwaa-local db export` and
`db import` (this environment's, a stock Airflow 1.10.x's, or a pg_dump of one).

tables (what an archive holds, pure) -> reader (a database into a History) -> archive (a History
as one portable file, secrets sealed under a passphrase by sealing) -> writer (a History into a
database, in one transaction). schema and scratch bring an older 1.10.x schema up to this
Airflow's first; transfer ties them together for the commands.
"""
