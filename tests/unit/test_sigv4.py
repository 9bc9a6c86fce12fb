"""Strict mode checks SigV4 signatures made by botocore itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, jsonify, request

from emulator import config
from emulator.api.app import error_response
from emulator.api.auth import authenticate
from emulator.api.errors import MwaaError


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    access = tmp_path / "access.json"
    access.write_text(
        json.dumps({"AKIDGOOD": {"secret": "right", "identity": "user/alice", "roles": ["Op"]}})
    )
    monkeypatch.setenv("MWAA_LOCAL_ACCESS_FILE", str(access))
    monkeypatch.setenv("MWAA_LOCAL_STRICT_AUTH", "true")
    config.settings.cache_clear()  # settings are read once per process: read them anew
    app = Flask(__name__)
    app.register_error_handler(MwaaError, error_response)

    @app.route("/environments/<name>", methods=["GET", "PATCH"])
    def who(name: str):
        principal = authenticate(request)
        return jsonify(identity=principal.identity, roles=list(principal.roles))

    yield app.test_client()
    config.settings.cache_clear()


def signed(key: str, secret: str, method: str = "GET", body: bytes = b"") -> dict[str, str]:
    aws = AWSRequest(
        method=method,
        url="http://localhost/environments/env",
        data=body,
        headers={"Content-Type": "application/json"} if body else {},
    )
    SigV4Auth(Credentials(key, secret), "airflow", "us-east-1").add_auth(aws)
    return dict(aws.headers.items())


def test_a_valid_signature_is_accepted(client) -> None:
    answer = client.get("/environments/env", headers=signed("AKIDGOOD", "right"))
    assert answer.status_code == 200
    assert answer.get_json() == {"identity": "user/alice", "roles": ["Op"]}
    body = b'{"MinWorkers": 2}'
    answer = client.patch(
        "/environments/env", data=body, headers=signed("AKIDGOOD", "right", "PATCH", body)
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        signed("AKIDGOOD", "wrong"),
        signed("AKIDUNKNOWN", "right"),
        {"Authorization": "Bearer nothing-like-sigv4"},
    ],
)
def test_unsigned_or_wrongly_signed_requests_are_denied(client, headers) -> None:
    answer = client.get("/environments/env", headers=headers)
    assert answer.status_code == 403
    assert answer.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert answer.get_json()["Message"]


def test_a_tampered_body_is_denied(client) -> None:
    headers = signed("AKIDGOOD", "right", "PATCH", b'{"MinWorkers": 2}')
    answer = client.patch("/environments/env", data=b'{"MinWorkers": 9}', headers=headers)
    assert answer.status_code == 403
