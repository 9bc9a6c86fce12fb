"""The shipper's CloudWatch Logs client: the three calls it makes (CreateLogGroup,
CreateLogStream, PutLogEvents) in CloudWatch Logs' JSON protocol, signed with SigV4, over
`http.client` (the connection is kept while the server keeps it; the local server closes it
after each answer, and a kept one it closed meanwhile is replaced once).

Why not boto3 here: every `mwaa-local run` service ships its logs, and boto3's Logs client
(botocore's loaders, its endpoint rules and the service model, documentation included) costs
about 18 MiB of unshared memory in each of those processes, a third of a supervisor's weight. The
shipper only ever talks to the environment's own server, with three operations, so this speaks
them directly. It answers like a boto3 client: the same method names and keyword arguments, the
same parsed answer, and botocore's exceptions (ClientError with the error's code and HTTP
status, BotoCoreError subclasses when the server cannot be reached), which botocore.exceptions
gives without loading any model. Everything else (init, the API, the CLI) keeps boto3
(emulator/cloudwatch/client.py).
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import socket
import urllib.parse
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from emulator import sigv4
from emulator.errors import ConfigError

TARGET_PREFIX = "Logs_20140328"
SERVICE = "logs"
CONTENT_TYPE = "application/x-amz-json-1.1"
# The local server takes any credentials (as client.py's boto3 client sends): not secrets.
ACCESS_KEY = "mwaa-local"
SECRET_KEY = "mwaa-local"


def sigv4_headers(
    host: str,
    region: str,
    target: str,
    body: bytes,
    now: datetime.datetime,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
) -> dict[str, str]:
    """The headers of a signed `POST /` (AWS Signature Version 4), as botocore signs it."""
    return sigv4.sign(
        "POST",
        "/",
        {},
        {"Content-Type": CONTENT_TYPE, "Host": host, "X-Amz-Target": target},
        hashlib.sha256(body).hexdigest(),
        region=region,
        service=SERVICE,
        now=now,
        access_key=access_key,
        secret_key=secret_key,
    )


def error_response(status: int, body: bytes) -> dict[str, Any]:
    """An error answer as botocore's ClientError carries it."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    code = str(parsed.get("__type") or parsed.get("code") or status).rsplit("#", 1)[-1]
    message = str(parsed.get("message") or parsed.get("Message") or "")
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


class LogsClient:
    def __init__(self, endpoint: str, region: str, timeout_s: float = 5) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"MWAA_LOCAL_LOGS_ENDPOINT must be http[s]://HOST[:PORT], not {endpoint!r}"
            )
        self.endpoint = endpoint
        self.region = region
        self._https = url.scheme == "https"
        self._host, self._port = url.hostname, url.port or (443 if self._https else 80)
        self._netloc = url.netloc
        self._timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        headers = sigv4_headers(
            self._netloc,
            self.region,
            f"{TARGET_PREFIX}.{operation}",
            body,
            datetime.datetime.now(datetime.UTC),
        )
        reused = self._conn is not None
        try:
            answer, data = self._send(body, headers)
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            if not reused:
                raise ConnectionClosedError(endpoint_url=self.endpoint) from None
            # The server closed the kept connection while it was idle: a fresh one, once.
            try:
                answer, data = self._send(body, headers)
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                raise ConnectionClosedError(endpoint_url=self.endpoint) from None
        if answer.status >= 300:
            raise ClientError(error_response(answer.status, data), operation)
        return json.loads(data) if data.strip() else {}

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[Any, bytes]:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = kind(self._host, self._port, timeout=self._timeout)
        try:
            self._conn.request("POST", "/", body=body, headers=headers)
            answer = self._conn.getresponse()
            return answer, answer.read()
        except (ConnectionRefusedError, socket.gaierror) as exc:
            self.close()
            raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        except TimeoutError as exc:
            self.close()
            raise ReadTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            self.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ConnectionClosedError(endpoint_url=self.endpoint) from exc

    def create_log_group(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateLogGroup", params)

    def create_log_stream(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateLogStream", params)

    def put_log_events(self, **params: Any) -> dict[str, Any]:
        return self._call("PutLogEvents", params)


def client(endpoint: str, region: str, timeout_s: float = 5) -> LogsClient:
    return LogsClient(endpoint, region, timeout_s)
