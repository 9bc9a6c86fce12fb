"""Who is calling: SigV4 credentials, the identity and MWAA roles behind an access key.

By default any caller is accepted, as a local emulator should be; with
`MWAA_LOCAL_STRICT_AUTH=true` every control-plane request must carry a valid SigV4 signature
made with a secret key from the access file.

The access file (`MWAA_LOCAL_ACCESS_FILE`, JSON) models IAM's `airflow:CreateWebLoginToken`
on `arn:aws:airflow:{region}:{account}:role/{env}/{Role}`:

    {"AKIDALICE": {"secret": "...", "identity": "assumed-role/Admin/alice", "roles": ["Op"]}}

An access key it does not list gets the default: identity `user/{access key}`, role Admin.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Request

from emulator.api.errors import AccessDeniedException
from emulator.config import settings

ROLES = ("Admin", "Op", "User", "Viewer", "Public")
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


def _verify(request: Request, match: re.Match[str]) -> None:
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
    aws_request = AWSRequest(
        method=request.method, url=url, headers=headers, data=request.get_data()
    )
    aws_request.context["timestamp"] = request.headers.get("X-Amz-Date", "")
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
    """The caller of a control-plane request; AccessDeniedException when strict and not valid."""
    header = request.headers.get("Authorization", "")
    match = _AUTH.match(header)
    if strict():
        if match is None:
            raise AccessDeniedException("Missing or malformed SigV4 Authorization header.")
        _verify(request, match)
    if match is None:
        return Principal("anonymous", "user/anonymous", ("Admin",))
    return _principal(match["key"])
