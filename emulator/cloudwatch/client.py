"""The CloudWatch Logs client the emulator's services use (boto3)."""

from __future__ import annotations

from typing import Any


def client(endpoint: str, region: str, timeout_s: float = 5, retries: int = 1) -> Any:
    """A client for the environment's CloudWatch Logs server. Few retries and short timeouts:
    the shipper has a retry loop of its own and must notice a server that went away."""
    # Imported here: boto3 is some 20 MiB, and the API, which imports this module, makes a
    # client only when an update enables a log type.
    import boto3
    from botocore.config import Config

    return boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name=region,
        # The local server takes any credentials; these are not secrets.
        aws_access_key_id="mwaa-local",
        aws_secret_access_key="mwaa-local",
        config=Config(
            retries={"max_attempts": retries, "mode": "standard"},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
        ),
    )
