"""The watcher's S3 client: the two calls it makes every second (ListObjectsV2 and GetObject),
in S3's REST protocol, path-style, signed with SigV4, over `http.client`.

Why not boto3 here: boto3 with its S3 client (botocore's loaders, endpoint rules and S3's
service model) costs the watcher some 20 MiB of unshared memory, half of its weight, to make
two calls to the environment's own server. It answers like a boto3 client: the same method
names, keyword arguments and parsed answer for what the watcher reads, and botocore's
exceptions (ClientError with S3's error code and the HTTP status; EndpointConnectionError,
ReadTimeoutError, ConnectionClosedError when the server cannot be reached). Everything else
(init, the API, deploy) keeps boto3 (emulator/s3/client.py).

A connection per call: the local server closes it after each answer anyway.
"""

from __future__ import annotations

import datetime
import http.client
import socket
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from emulator import sigv4
from emulator.environment.airflow_config import Infrastructure
from emulator.errors import ConfigError

SERVICE = "s3"
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def error_response(status: int, body: bytes) -> dict[str, Any]:
    """An S3 error answer (`<Error><Code>...`) as botocore's ClientError carries it; a body
    that is not one (a HEAD's, a proxy's page) gives the status as the code, as botocore does."""
    code, message = str(status), ""
    try:
        root = ET.fromstring(body) if body.strip() else None
    except ET.ParseError:
        root = None
    if root is not None and root.tag.removeprefix(_NS) == "Error":
        code = root.findtext("Code") or code
        message = root.findtext("Message") or ""
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


def list_page(body: bytes) -> dict[str, Any]:
    """A ListObjectsV2 answer (asked with encoding-type=url) as boto3 parses it, for the fields
    read here: Contents' Key and ETag, IsTruncated, NextContinuationToken. Keys are decoded
    as botocore decodes them."""
    root = ET.fromstring(body)
    contents = [
        {
            "Key": urllib.parse.unquote_plus(item.findtext(f"{_NS}Key") or ""),
            "ETag": item.findtext(f"{_NS}ETag") or "",
        }
        for item in root.iter(f"{_NS}Contents")
    ]
    page: dict[str, Any] = {"IsTruncated": root.findtext(f"{_NS}IsTruncated") == "true"}
    if contents:
        page["Contents"] = contents
    token = root.findtext(f"{_NS}NextContinuationToken")
    if token:
        page["NextContinuationToken"] = token
    return page


class Body:
    """A GetObject answer's streaming body: read(n) as botocore's StreamingBody; the connection
    goes once it is read to the end or closed."""

    def __init__(self, conn: http.client.HTTPConnection, answer: http.client.HTTPResponse):
        self._conn, self._answer = conn, answer

    def read(self, amount: int | None = None) -> bytes:
        try:
            data = self._answer.read(amount)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ConnectionClosedError(endpoint_url=self._conn.host) from exc
        if not data:
            self.close()
        return data

    def close(self) -> None:
        self._answer.close()
        self._conn.close()


class S3Client:
    def __init__(
        self, endpoint: str, region: str, access_key: str, secret_key: str, timeout_s: float = 5
    ) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"the S3 endpoint must be http[s]://HOST[:PORT], not {endpoint!r}")
        self.endpoint = endpoint
        self.region = region
        self._https = url.scheme == "https"
        self._host, self._port = url.hostname, url.port or (443 if self._https else 80)
        self._netloc = url.netloc
        self._keys = (access_key, secret_key)
        self._timeout = timeout_s

    def _request(
        self, operation: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        signed = sigv4.sign(
            "GET",
            path,
            query,
            {**headers, "Host": self._netloc, "X-Amz-Content-SHA256": sigv4.EMPTY_SHA256},
            sigv4.EMPTY_SHA256,
            region=self.region,
            service=SERVICE,
            now=datetime.datetime.now(datetime.UTC),
            access_key=self._keys[0],
            secret_key=self._keys[1],
        )
        target = path + ("?" + sigv4.canonical_query(query) if query else "")
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = kind(self._host, self._port, timeout=self._timeout)
        try:
            conn.request("GET", target, headers=signed)
            answer = conn.getresponse()
        except (ConnectionRefusedError, socket.gaierror) as exc:
            conn.close()
            raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        except TimeoutError as exc:
            conn.close()
            raise ReadTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectionClosedError(endpoint_url=self.endpoint) from exc
        if answer.status >= 300:
            try:
                data = answer.read()
            except (OSError, http.client.HTTPException):
                data = b""
            conn.close()
            raise ClientError(error_response(answer.status, data), operation)
        return conn, answer

    def list_objects_v2(
        self,
        Bucket: str,
        Prefix: str = "",
        ContinuationToken: str | None = None,
        MaxKeys: int | None = None,
    ) -> dict[str, Any]:
        query = {"list-type": "2", "encoding-type": "url", "prefix": Prefix}
        if ContinuationToken:
            query["continuation-token"] = ContinuationToken
        if MaxKeys is not None:
            query["max-keys"] = str(MaxKeys)
        conn, answer = self._request("ListObjectsV2", f"/{_quote(Bucket)}", query, {})
        try:
            body = Body(conn, answer).read()
        finally:
            conn.close()
        return list_page(body)

    def get_object(self, Bucket: str, Key: str, IfMatch: str | None = None) -> dict[str, Any]:
        headers = {"If-Match": IfMatch} if IfMatch else {}
        conn, answer = self._request("GetObject", f"/{_quote(Bucket)}/{_quote(Key)}", {}, headers)
        return {"Body": Body(conn, answer), "ETag": answer.getheader("ETag")}


def _quote(text: str) -> str:
    # As botocore quotes a bucket and key into the path: "/" and "~" kept.
    return urllib.parse.quote(text, safe="/~")


def client(infra: Infrastructure, timeout_s: float = 5) -> S3Client:
    return S3Client(
        infra.s3_endpoint, infra.region, infra.s3_access_key, infra.s3_secret_key, timeout_s
    )
