"""Talking to a running environment as a user's script would: boto3 and plain HTTP."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

from emulator.settings import Ports, setting


def exports(ports: Ports) -> dict[str, str]:
    """The variables that point boto3 and the AWS CLI at this environment, unchanged scripts."""
    return {
        "AWS_ENDPOINT_URL_MWAA": f"http://127.0.0.1:{ports.web}",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{ports.s3}",
        # botocore would send MWAA calls to api.127.0.0.1 / env.127.0.0.1 otherwise.
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        "AWS_DEFAULT_REGION": setting("MWAA_LOCAL_REGION", "us-east-1"),
        # Local credentials: accepted by the API unless strict mode is on, and the S3 server's.
        "AWS_ACCESS_KEY_ID": setting("MWAA_LOCAL_S3_ACCESS_KEY"),
        "AWS_SECRET_ACCESS_KEY": setting("MWAA_LOCAL_S3_SECRET_KEY"),
    }


def mwaa(ports: Ports):
    values = exports(ports)
    return boto3.client(
        "mwaa",
        endpoint_url=values["AWS_ENDPOINT_URL_MWAA"],
        region_name=values["AWS_DEFAULT_REGION"],
        aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
        config=Config(inject_host_prefix=False, retries={"max_attempts": 2}),
    )


def run_cli(ports: Ports, name: str, command: str) -> tuple[int, bytes, bytes]:
    """The documented flow: CreateCliToken, POST /aws_mwaa/cli, decode base64 output."""
    token = mwaa(ports).create_cli_token(Name=name)["CliToken"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{ports.web}/aws_mwaa/cli",
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
