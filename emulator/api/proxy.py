"""Everything else on the web server host goes to the Airflow web server, as on MWAA.

Airflow sees the address the browser used through `X-Forwarded-*` headers, which only this
proxy sets (Airflow trusts them: `webserver.enable_proxy_fix`), so its redirects keep the
browser's scheme, host and port. Cookies leave with `HttpOnly` always and `Secure` when the
browser came over HTTPS. A request body is streamed to Airflow as it arrives, never held whole
(body_limits.py stops it at the proxy's limit).
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Iterator
from typing import Any

import requests
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
_session = requests.Session()
# The proxy is shared by every user: it must never keep a cookie of one to send for another.
_session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


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


class _Body:
    """The incoming body as requests sends it on: read in pieces, with its length when the
    client gave one (else requests sends it chunked)."""

    def __init__(self, stream: Any, length: int | None):
        self.stream = stream
        self.length = length

    def __len__(self) -> int:
        return self.length or 0

    def read(self, size: int = 64 * 1024) -> bytes:
        return self.stream.read(size)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.stream.read(64 * 1024)
            if not chunk:
                return
            yield chunk


def upstream_body(incoming: Request) -> _Body | None:
    """What to send Airflow as the body: None when the request has none."""
    chunked = "chunked" in incoming.headers.get("Transfer-Encoding", "").lower()
    if not chunked and not incoming.content_length:
        return None
    return _Body(incoming.stream, None if chunked else incoming.content_length)


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
    try:
        answer = _session.request(
            request.method,
            upstream,
            headers=headers,
            data=upstream_body(request),
            allow_redirects=False,
            stream=True,
            timeout=(5, 300),
        )
    except requests.ConnectionError:
        return Response(
            "The Airflow web server is not answering yet; try again shortly.\n",
            status=503,
            mimetype="text/plain",
            headers={"x-amzn-ErrorType": "ServiceUnavailableException"},
        )
    secure = request.scheme == "https"
    out_headers = [
        (k, cookie_flags(v, secure) if k.lower() == "set-cookie" else v)
        for k, v in answer.raw.headers.items()
        if k.lower() not in HOP_BY_HOP
    ]
    return Response(answer.iter_content(64 * 1024), status=answer.status_code, headers=out_headers)
