"""Everything else on the web server host goes to the Airflow web server, as on MWAA.

Airflow sees the address the browser used through `X-Forwarded-*` headers, which only this
proxy sets (Airflow trusts them: `webserver.enable_proxy_fix`), so its redirects keep the
browser's scheme, host and port. Cookies leave with `HttpOnly` always and `Secure` when the
browser came over HTTPS. A request body is streamed to Airflow as it arrives, never held whole
(body_limits.py stops it at the proxy's limit).

Spoken with `urllib3` (requests' own transport) rather than requests: the proxy needs no
cookie jar (it must never keep one user's cookie for another) nor requests' conveniences, which
cost the API about 4 MiB.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import urllib3
from flask import Blueprint, Request, Response, current_app, request

blueprint = Blueprint("proxy", __name__)

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
}
# Set by this proxy alone: a client's own values must never reach Airflow, which trusts them.
FORWARDED = {
    "host",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-forwarded-prefix",
}
# No retries: a request with a body cannot be sent twice, and "not answering" is said at once.
_pool = urllib3.PoolManager(retries=False)
TIMEOUT = urllib3.Timeout(connect=5, read=300)
CHUNK = 64 * 1024
NOT_ANSWERING = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.ProtocolError,
)


def forwarded_headers(incoming: Request) -> dict[str, str]:
    """What Airflow needs to know of the browser's request to build its URLs."""
    scheme, host = incoming.scheme, incoming.host
    # "localhost:8443", "[::1]:8080" or a bare name (the scheme's default port).
    if ":" in host.rsplit("]", 1)[-1]:
        port = host.rsplit(":", 1)[1]
    else:
        port = "443" if scheme == "https" else "80"
    return {
        "X-Forwarded-Proto": scheme,
        "X-Forwarded-Host": host,
        "X-Forwarded-Port": port,
        "X-Forwarded-For": incoming.remote_addr or "",
    }


def _pieces(stream: Any) -> Iterator[bytes]:
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


def upstream_body(incoming: Request) -> tuple[Iterator[bytes] | None, int | None]:
    """What to send Airflow as the body, read in pieces, and its length when the client gave
    one (without one it goes chunked); (None, None) when the request has none."""
    chunked = "chunked" in incoming.headers.get("Transfer-Encoding", "").lower()
    if not chunked and not incoming.content_length:
        return None, None
    return _pieces(incoming.stream), None if chunked else incoming.content_length


def _relay(answer: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from answer.stream(CHUNK)
    finally:
        answer.release_conn()


def cookie_flags(set_cookie: str, secure: bool) -> str:
    """A Set-Cookie value with HttpOnly, and Secure when the browser came over HTTPS."""
    attributes = {part.strip().split("=", 1)[0].lower() for part in set_cookie.split(";")[1:]}
    if "httponly" not in attributes:
        set_cookie += "; HttpOnly"
    if secure and "secure" not in attributes:
        set_cookie += "; Secure"
    return set_cookie


@blueprint.route(
    "/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
)
@blueprint.route(
    "/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
)
def forward(path: str) -> Response:
    upstream = current_app.config["AIRFLOW_URL"] + request.full_path.rstrip("?")
    headers = {k: v for k, v in request.headers if k.lower() not in HOP_BY_HOP | FORWARDED}
    headers.update(forwarded_headers(request))
    body, length = upstream_body(request)
    if length is not None:
        headers["Content-Length"] = str(length)
    try:
        answer = _pool.request(
            request.method,
            upstream,
            headers=headers,
            body=body,
            chunked=body is not None and length is None,
            redirect=False,
            preload_content=False,
            timeout=TIMEOUT,
        )
    except NOT_ANSWERING:
        return Response(
            "The Airflow web server is not answering yet; try again shortly.\n",
            status=503,
            mimetype="text/plain",
            headers={"x-amzn-ErrorType": "ServiceUnavailableException"},
        )
    secure = request.scheme == "https"
    out_headers = [
        (k, cookie_flags(v, secure) if k.lower() == "set-cookie" else v)
        for k, v in answer.headers.items()
        if k.lower() not in HOP_BY_HOP
    ]
    return Response(_relay(answer), status=answer.status, headers=out_headers)
