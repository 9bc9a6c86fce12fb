"""The boto3 S3 client the emulator reaches the environment's bucket with (the watcher has
its own, s3/wire.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from emulator.environment.airflow_config import Infrastructure


def client(infra: Infrastructure, timeout_s: float = 10) -> Any:
    """Path-style (the local server has no per-bucket host names), few retries: the watcher
    has its own retry loop and must notice an unreachable S3 quickly."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=infra.s3_endpoint,
        aws_access_key_id=infra.s3_access_key,
        aws_secret_access_key=infra.s3_secret_key,
        region_name=infra.region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
        ),
    )


class Lazy:
    """A client made on first use. The API reaches the bucket only for an update; boto3 and
    its S3 client cost some 33 MiB, which an idle environment's API then does not hold."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make()
        return getattr(self._client, name)


def lazy_client(infra: Infrastructure, timeout_s: float = 10) -> Lazy:
    return Lazy(lambda: client(infra, timeout_s))
