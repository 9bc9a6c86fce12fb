"""Workers between MinWorkers and MaxWorkers, as MWAA scales them: a pure policy (policy.py),
the `mwaa-local run autoscaler` service (service.py) and a backend per runtime
(process_backend.py natively, docker_backend.py in Docker)."""
