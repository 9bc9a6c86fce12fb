"""Talking to a running environment as a user's script would: boto3 and plain HTTP."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

from emulator.config import Settings


def exports(config: Settings) -> dict[str, str]:
    """The variables that point boto3 and the AWS CLI at this environment, unchanged scripts."""
    ports = config.ports
    config.require("s3_access_key", "s3_secret_key")
    return {
        "AWS_ENDPOINT_URL_MWAA": f"http://127.0.0.1:{ports.web}",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{ports.s3}",
        # CloudWatch Logs: boto3 and the AWS CLI (v1 >= 1.29, v2 >= 2.13) read the second, after
        # the service's id "CloudWatch Logs"; the first is the name scripts often use.
        "AWS_ENDPOINT_URL_LOGS": f"http://127.0.0.1:{ports.logs}",
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": f"http://127.0.0.1:{ports.logs}",
        # botocore would send MWAA calls to api.127.0.0.1 / env.127.0.0.1 otherwise.
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        "AWS_DEFAULT_REGION": config.region,
        # Local credentials: accepted by the API unless strict mode is on, and the S3 server's.
        "AWS_ACCESS_KEY_ID": str(config.s3_access_key),
        "AWS_SECRET_ACCESS_KEY": str(config.s3_secret_key),
    }


def _client(service: str, endpoint: str, config: Settings, extra: Config) -> Any:
    values = exports(config)
    return boto3.client(
        service,
        endpoint_url=values[endpoint],
        region_name=values["AWS_DEFAULT_REGION"],
        aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 2}).merge(extra),
    )


def mwaa(config: Settings) -> Any:
    return _client("mwaa", "AWS_ENDPOINT_URL_MWAA", config, Config(inject_host_prefix=False))


def logs(config: Settings) -> Any:
    return _client("logs", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", config, Config())


def s3(config: Settings) -> Any:
    return _client("s3", "AWS_ENDPOINT_URL_S3", config, Config(s3={"addressing_style": "path"}))


def run_cli(config: Settings, name: str, command: str) -> tuple[int, bytes, bytes]:
    """The documented flow: CreateCliToken, POST /aws_mwaa/cli, decode base64 output."""
    token = mwaa(config).create_cli_token(Name=name)["CliToken"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{config.ports.web}/aws_mwaa/cli",
        data=command.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            status, body = answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, json.load(exc)
    return (
        status,
        base64.b64decode(body.get("stdout", "")),
        base64.b64decode(body.get("stderr", "")),
    )
