"""Everything else on the web server host goes to the Airflow web server, as on MWAA."""

from __future__ import annotations

import http.cookiejar

import requests
from flask import Blueprint, Response, current_app, request

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
_session = requests.Session()
# The proxy is shared by every user: it must never keep a cookie of one to send for another.
_session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


@blueprint.route(
    "/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
)
@blueprint.route(
    "/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
)
def forward(path: str) -> Response:
    upstream = current_app.config["AIRFLOW_URL"] + request.full_path.rstrip("?")
    headers = {k: v for k, v in request.headers if k.lower() not in HOP_BY_HOP}
    try:
        answer = _session.request(
            request.method,
            upstream,
            headers=headers,  # Host kept: Airflow builds its redirects from it
            data=request.get_data(),
            allow_redirects=False,
            stream=True,
            timeout=(5, 300),
        )
    except requests.ConnectionError:
        return Response(
            "The Airflow web server is not answering yet; try again shortly.\n",
            status=503,
            mimetype="text/plain",
        )
    out_headers = [(k, v) for k, v in answer.raw.headers.items() if k.lower() not in HOP_BY_HOP]
    return Response(answer.iter_content(64 * 1024), status=answer.status_code, headers=out_headers)
