"""The environment as data: its definition (spec), its size (classes), its state and the
Airflow configuration computed from them."""
