"""Who is calling: SigV4 credentials, the identity and MWAA roles behind an access key.

Every control-plane request must carry an `Authorization` header in SigV4's shape, as every
AWS SDK and the AWS CLI send: a web page cannot send one cross-site without a CORS preflight,
which the API refuses. By default the signature itself is not checked (any access key works),
as a local emulator should be; with `MWAA_LOCAL_STRICT_AUTH=true` it is, as AWS checks it:
made with a secret key from the access file, `X-Amz-Date` within 15 minutes of the server's
clock and the same day as the credential scope, and a signed payload hash that matches the body.

The access file (`MWAA_LOCAL_ACCESS_FILE`, JSON) models IAM's `airflow:CreateWebLoginToken`
on `arn:aws:airflow:{region}:{account}:role/{env}/{Role}`:

    {"AKIDALICE": {"secret": "...", "identity": "assumed-role/Admin/alice", "roles": ["Op"]}}

An access key it does not list gets the default: identity `user/{access key}`, role Admin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import Request

from emulator.api.errors import AccessDeniedException
from emulator.config import settings

ROLES = ("Admin", "Op", "User", "Viewer", "Public")
# How far X-Amz-Date may be from the server's clock, as AWS allows.
MAX_SKEW_S = 15 * 60
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
NOT_SIGNED = (
    "Missing or malformed SigV4 Authorization header. Sign the request as the AWS SDKs and "
    "the AWS CLI do (any access key works unless MWAA_LOCAL_STRICT_AUTH is on)."
)
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?"
    r"Signature=(?P<sig>[0-9a-f]+)"
)


@dataclass(frozen=True)
class Principal:
    access_key: str
    identity: str
    roles: tuple[str, ...] = field(default_factory=tuple)


def _access_table() -> dict[str, dict]:
    path = settings().access_file
    if not path:
        return {}
    text = Path(path).read_text()
    # Docker mounts /dev/null there when no access file was given: no keys listed.
    return json.loads(text) if text.strip() else {}


def strict() -> bool:
    return settings().strict_auth


def _principal(access_key: str) -> Principal:
    entry = _access_table().get(access_key)
    if entry is None:
        return Principal(access_key, f"user/{access_key}", ("Admin",))
    return Principal(
        access_key, entry.get("identity", f"user/{access_key}"), tuple(entry.get("roles", ()))
    )


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(_AMZ_DATE)


def check_date(amz_date: str, scope_date: str, now: float) -> None:
    """AWS's rules for the request's time: parsable, the credential scope's day, and within
    MAX_SKEW_S of `now` (a signature is not replayed later, nor made for later)."""
    try:
        when = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise AccessDeniedException(
            f"X-Amz-Date must be a date such as {_stamp(now)} (got {amz_date!r})."
        ) from None
    if scope_date != amz_date[:8]:
        raise AccessDeniedException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if when < now - MAX_SKEW_S:
        raise AccessDeniedException(
            f"Signature expired: {amz_date} is now earlier than {_stamp(now - MAX_SKEW_S)} "
            f"({_stamp(now)} - 15 min.)"
        )
    if when > now + MAX_SKEW_S:
        raise AccessDeniedException(
            f"Signature not yet current: {amz_date} is still later than "
            f"{_stamp(now + MAX_SKEW_S)} ({_stamp(now)} + 15 min.)"
        )


def check_payload_hash(declared: str | None, body: bytes) -> None:
    """A payload hash the client sent (and signed) must be the body's."""
    if declared is None:
        return
    actual = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(declared.strip().lower(), actual):
        raise AccessDeniedException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )


def _verify(request: Request, match: re.Match[str]) -> None:
    # botocore's signer checks the signature as clients make it; imported only in strict mode,
    # which verifies (about 4 MiB the default API does not hold).
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    amz_date = request.headers.get("X-Amz-Date")
    if not amz_date:
        raise AccessDeniedException("Missing X-Amz-Date: a signed request carries its time.")
    check_date(amz_date, match["date"], time.time())
    body = request.get_data()
    check_payload_hash(request.headers.get("X-Amz-Content-SHA256"), body)
    entry = _access_table().get(match["key"])
    if entry is None or "secret" not in entry:
        raise AccessDeniedException(
            f"The security token included in the request is invalid: "
            f"unknown access key {match['key']}"
        )
    signed = match["signed"].split(";")
    raw_path = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    url = f"{request.scheme}://{request.host}{raw_path}"
    headers = {name: request.headers.get(name, "") for name in signed}
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=body)
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(match["key"], entry["secret"]), match["service"], match["region"]
    )
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    if not hmac.compare_digest(expected, match["sig"]):
        raise AccessDeniedException(
            "The request signature we calculated does not match the signature you provided."
        )


def authenticate(request: Request) -> Principal:
    """The caller of a control-plane request; AccessDeniedException when the request is not
    signed as SigV4 is (and, when strict, when its signature is not valid)."""
    header = request.headers.get("Authorization", "")
    match = _AUTH.match(header)
    if match is None:
        raise AccessDeniedException(NOT_SIGNED)
    if strict():
        _verify(request, match)
    return _principal(match["key"])
