"""Strict mode as AWS checks SigV4: a captured request cannot be replayed later (nor one signed
for the future used now), its date must agree with its credential scope, and a signed payload
hash must be the body's. Every signature here is botocore's own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, jsonify, request

from emulator import config
from emulator.api.app import error_response
from emulator.api.auth import authenticate
from emulator.api.errors import MwaaError

URL = "http://localhost/environments/env"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    access = tmp_path / "access.json"
    access.write_text(json.dumps({"AKIDGOOD": {"secret": "right", "roles": ["Op"]}}))
    monkeypatch.setenv("MWAA_LOCAL_ACCESS_FILE", str(access))
    monkeypatch.setenv("MWAA_LOCAL_STRICT_AUTH", "true")
    config.settings.cache_clear()
    app = Flask(__name__)
    app.register_error_handler(MwaaError, error_response)

    @app.route("/environments/<name>", methods=["GET", "PATCH"])
    def who(name: str):
        return jsonify(identity=authenticate(request).identity, body=request.get_data().decode())

    yield app.test_client()
    config.settings.cache_clear()


def signed(
    at: datetime | None = None,
    body: bytes = b"",
    payload_hash: str | None = None,
) -> dict[str, str]:
    """Headers of a PATCH signed by botocore at `at` (now by default)."""
    when = at or datetime.now(UTC)
    headers = {"Content-Type": "application/json"}
    if payload_hash is not None:
        headers["X-Amz-Content-SHA256"] = payload_hash
    aws = AWSRequest(method="PATCH", url=URL, data=body, headers=headers)
    with pytest.MonkeyPatch.context() as clock:
        clock.setattr(botocore.auth, "get_current_datetime", lambda: when)
        SigV4Auth(Credentials("AKIDGOOD", "right"), "airflow", "us-east-1").add_auth(aws)
    return dict(aws.headers.items())


def denied(answer) -> str:
    assert answer.status_code == 403, answer.get_json()
    assert answer.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    return answer.get_json()["Message"]


def test_a_fresh_signature_is_accepted(client, monkeypatch) -> None:
    headers = signed(body=b"{}")
    answer = client.patch("/environments/env", data=b"{}", headers=headers)
    assert answer.status_code == 200, answer.get_json()


@pytest.mark.parametrize(
    ("at", "words"),
    [
        (datetime(2020, 11, 24, 12, 0, tzinfo=UTC), "Signature expired"),
        (datetime(2031, 1, 1, tzinfo=UTC), "Signature not yet current"),
        # From the clock when the test runs, not when it is collected (minutes earlier).
        (-timedelta(minutes=16), "Signature expired"),
        (timedelta(minutes=16), "Signature not yet current"),
    ],
)
def test_a_signature_from_another_time_is_refused(client, monkeypatch, at, words) -> None:
    if isinstance(at, timedelta):
        at = datetime.now(UTC) + at
    headers = signed(at=at, body=b"{}")
    message = denied(client.patch("/environments/env", data=b"{}", headers=headers))
    assert message.startswith(words), message


def test_a_little_clock_skew_is_fine(client, monkeypatch) -> None:
    headers = signed(at=datetime.now(UTC) - timedelta(minutes=14), body=b"{}")
    assert client.patch("/environments/env", data=b"{}", headers=headers).status_code == 200


def test_x_amz_date_must_match_the_credential_scope(client, monkeypatch) -> None:
    headers = signed(body=b"{}")
    # Today's X-Amz-Date on yesterday's credential scope.
    today = headers["X-Amz-Date"][:8]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d")
    headers["Authorization"] = headers["Authorization"].replace(f"/{today}/", f"/{yesterday}/")
    message = denied(client.patch("/environments/env", data=b"{}", headers=headers))
    assert "Credential scope" in message


def test_a_date_moved_into_the_window_breaks_the_signature(client, monkeypatch) -> None:
    old = signed(at=datetime(2020, 11, 24, tzinfo=UTC), body=b"{}")
    now = datetime.now(UTC)
    old["X-Amz-Date"] = now.strftime("%Y%m%dT%H%M%SZ")
    old["Authorization"] = old["Authorization"].replace("/20201124/", f"/{now:%Y%m%d}/")
    message = denied(client.patch("/environments/env", data=b"{}", headers=old))
    assert "signature" in message


def test_a_body_swapped_under_a_signed_payload_hash_is_refused(client, monkeypatch) -> None:
    import hashlib

    body = b'{"MinWorkers": 2}'
    headers = signed(body=body, payload_hash=hashlib.sha256(body).hexdigest())
    assert client.patch("/environments/env", data=body, headers=headers).status_code == 200
    message = denied(client.patch("/environments/env", data=b'{"MinWorkers": 9}', headers=headers))
    assert "x-amz-content-sha256" in message
    unsigned = signed(body=body, payload_hash="UNSIGNED-PAYLOAD")
    denied(client.patch("/environments/env", data=b'{"MinWorkers": 9}', headers=unsigned))


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.pop("X-Amz-Date"),
        lambda h: h.update({"X-Amz-Date": "yesterday"}),
        lambda h: h.update({"Authorization": h["Authorization"].replace("Signature=", "Sig=")}),
        lambda h: h.pop("Authorization"),
    ],
)
def test_unsigned_or_malformed_requests_are_denied(client, monkeypatch, change) -> None:
    headers = signed(body=b"{}")
    change(headers)
    denied(client.patch("/environments/env", data=b"{}", headers=headers))


def test_lenient_mode_still_wants_a_sigv4_shaped_header(client, monkeypatch) -> None:
    monkeypatch.setenv("MWAA_LOCAL_STRICT_AUTH", "false")
    config.settings.cache_clear()
    headers = signed(at=datetime(2020, 1, 1, tzinfo=UTC), body=b"{}")
    # Not checked (a stale date is fine when lenient) but in SigV4's shape.
    assert client.patch("/environments/env", data=b"{}", headers=headers).status_code == 200
    assert "SigV4" in denied(client.get("/environments/env"))
    denied(client.get("/environments/env", headers={"Authorization": "Bearer abc"}))
