"""Where the environment runs: Docker Compose (docker.py) or local processes (native.py)."""
