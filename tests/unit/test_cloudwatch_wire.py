"""The shipper's own CloudWatch Logs client signs and reads answers as botocore does."""

from __future__ import annotations

import datetime
import json

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.cloudwatch.wire import error_response, sigv4_headers

ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NOW = datetime.datetime(2026, 12, 1, 18, 30, 5, tzinfo=datetime.UTC)


def _botocore_signature(host: str, region: str, target: str, body: bytes) -> str:
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target,
            "X-Amz-Date": NOW.strftime("%Y%m%dT%H%M%SZ"),
        },
    )
    signer = SigV4Auth(Credentials(ACCESS, SECRET), "logs", region)
    # add_auth would stamp the current time; these are the steps it takes, at NOW.
    request.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%SZ")
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return signer.signature(string_to_sign, request)


def test_the_signature_is_botocores_for_the_same_request() -> None:
    body = json.dumps({"logGroupName": "airflow-x-Task", "logStreamName": "s"}).encode()
    host, region, target = "127.0.0.1:25910", "eu-west-1", "Logs_20140328.CreateLogStream"
    headers = sigv4_headers(
        host,
        region,
        target,
        body,
        NOW,
        access_key=ACCESS,
        secret_key=SECRET,
    )
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/eu-west-1/logs/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
    )
    ours = headers["Authorization"].rsplit("Signature=", 1)[1]
    assert ours == _botocore_signature(host, region, target, body)
    changed = sigv4_headers(host, region, target, body + b" ", NOW, ACCESS, SECRET)
    assert changed["Authorization"] != headers["Authorization"]


def test_an_error_answer_reads_as_botocores_client_error() -> None:
    body = json.dumps(
        {"__type": "com.amazonaws.logs#ResourceNotFoundException", "message": "gone"}
    ).encode()
    assert error_response(400, body) == {
        "Error": {"Code": "ResourceNotFoundException", "Message": "gone"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    assert error_response(503, b"<html>busy</html>")["Error"]["Code"] == "503"
