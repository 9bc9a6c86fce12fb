"""The S3 client every part of the emulator uses to reach the environment's bucket."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from emulator.environment.airflow_config import Infrastructure


def client(infra: Infrastructure, timeout_s: float = 10) -> Any:
    """Path-style (the local server has no per-bucket host names), few retries: the watcher
    has its own retry loop and must notice an unreachable S3 quickly."""
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
