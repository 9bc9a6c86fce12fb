"""The watcher's own S3 client signs and reads answers as botocore does."""

from __future__ import annotations

import datetime

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator import sigv4
from emulator.s3.wire import error_response, list_page

ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NOW = datetime.datetime(2026, 12, 2, 9, 15, 0, tzinfo=datetime.UTC)
STAMP = NOW.strftime("%Y%m%dT%H%M%SZ")


def _botocore_signature(url: str, headers: dict[str, str]) -> str:
    request = AWSRequest(method="GET", url=url, headers={**headers, "X-Amz-Date": STAMP})
    signer = S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "eu-west-1")
    # add_auth would stamp the current time; these are the steps it takes, at NOW.
    request.context["timestamp"] = STAMP
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def _ours(path: str, query: dict[str, str], headers: dict[str, str]) -> str:
    signed = sigv4.sign(
        "GET",
        path,
        query,
        headers,
        sigv4.EMPTY_SHA256,
        region="eu-west-1",
        service="s3",
        now=NOW,
        access_key=ACCESS,
        secret_key=SECRET,
    )
    return signed["Authorization"].rsplit("Signature=", 1)[1]


def test_a_listing_and_a_download_are_signed_as_botocore_signs_them() -> None:
    host = {"Host": "127.0.0.1:25900", "X-Amz-Content-SHA256": sigv4.EMPTY_SHA256}
    query = {"list-type": "2", "encoding-type": "url", "prefix": "dags/my folder/"}
    url = "http://127.0.0.1:25900/bucket?" + sigv4.canonical_query(query)
    assert _ours("/bucket", query, host) == _botocore_signature(url, host)
    download = {**host, "If-Match": '"0cc175b9c0f1b6a831c399e269772661"'}
    path = "/bucket/dags/caf%C3%A9%20%2B%20more.py"
    assert _ours(path, {}, download) == _botocore_signature(
        "http://127.0.0.1:25900" + path, download
    )
    assert _ours(path, {}, download) != _ours(path, {}, host)


def test_an_error_answer_reads_as_botocores_client_error() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>'
        b"<Message>At least one of the pre-conditions you specified did not hold</Message>"
        b"</Error>"
    )
    assert error_response(412, body)["Error"] == {
        "Code": "PreconditionFailed",
        "Message": "At least one of the pre-conditions you specified did not hold",
    }
    assert error_response(503, b"<html>busy</html>")["Error"]["Code"] == "503"
    assert error_response(404, b"")["ResponseMetadata"] == {"HTTPStatusCode": 404}


def test_a_listing_page_decodes_keys_as_botocore_does() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<IsTruncated>true</IsTruncated><EncodingType>url</EncodingType>"
        b"<Contents><Key>dags/caf%C3%A9+%2B+more.py</Key><ETag>&quot;abc&quot;</ETag></Contents>"
        b"<NextContinuationToken>t1</NextContinuationToken></ListBucketResult>"
    )
    assert list_page(body) == {
        "IsTruncated": True,
        "Contents": [{"Key": "dags/café + more.py", "ETag": '"abc"'}],
        "NextContinuationToken": "t1",
    }
