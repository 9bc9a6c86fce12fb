"""AWS Signature Version 4, as botocore signs a request: for the project's own small clients
(emulator/cloudwatch/wire.py, emulator/s3/wire.py), which speak to the environment's servers
without boto3's weight."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _quote(text: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(text, safe=safe)


def canonical_query(query: dict[str, str]) -> str:
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))


def sign(
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    payload_sha256: str,
    *,
    region: str,
    service: str,
    now: datetime.datetime,
    access_key: str,
    secret_key: str,
) -> dict[str, str]:
    """`headers` with X-Amz-Date and Authorization added; every header given is signed (Host
    among them). `path` is the request's path as sent (already percent-encoded)."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed_headers = {**headers, "X-Amz-Date": stamp}
    canonical = sorted(
        (name.lower(), " ".join(value.split())) for name, value in signed_headers.items()
    )
    names = ";".join(name for name, _ in canonical)
    request = "\n".join(
        [
            method,
            path,
            canonical_query(query),
            "".join(f"{name}:{value}\n" for name, value in canonical),
            names,
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed_headers["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    return signed_headers
