"""`POST /aws_mwaa/cli`: an Airflow CLI command over HTTP, answered with base64 output.

Its body is limited by body_limits.py (16 KiB) before it is read. A command runs only if it is
on MWAA's allow-list and names no file outside the exchange folder (nor DAGs outside the DAGs
folder): see emulator/airflow_side/confinement.py.
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, current_app, json, request

from emulator.airflow_side import allowlist
from emulator.api.body_limits import LIMITS

blueprint = Blueprint("cli_endpoint", __name__)

MAX_BODY_BYTES = LIMITS[blueprint.name]
COMMAND_TIMEOUT_S = 120
# MWAA's error codes for the refusals (header x-amzn-ErrorType), by status.
ERROR_TYPES = {
    400: "ValidationException",
    401: "AccessDeniedException",
    403: "AccessDeniedException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _answer(status: int, message: str) -> Response:
    # The same JSON as a command's answer, with the explanation on stderr, plus `message`.
    body = {"message": message, "stdout": "", "stderr": _b64(message.encode() + b"\n")}
    return Response(
        json.dumps(body),
        status=status,
        mimetype="application/json",
        headers={"x-amzn-ErrorType": ERROR_TYPES.get(status, "ValidationException")},
    )


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@blueprint.route("/aws_mwaa/cli", methods=["POST"])
def run_cli() -> Response:
    token = bearer_token()
    if token is None:
        return _answer(401, "Missing CLI token: send Authorization: Bearer <CliToken>.")
    grant = current_app.config["BACKEND"].check_cli_token(token)
    if grant is None:
        return _answer(403, "The CLI token is invalid or has expired (tokens last 60 seconds).")
    raw = request.get_data(cache=False)
    try:
        argv = allowlist.parse(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _answer(400, f"Could not read the command: {exc}")
    refusal = allowlist.check(argv)
    if refusal:
        # MWAA answers an unsupported command with HTTP 500.
        return _answer(500, refusal)
    result = current_app.config["CLI_RUNNER"].run(argv, timeout=COMMAND_TIMEOUT_S)
    if result.refused:
        return _answer(400, result.refused)
    if result.unavailable:
        return _answer(503, result.unavailable)
    body = {"stdout": _b64(result.stdout), "stderr": _b64(result.stderr)}
    return Response(json.dumps(body), status=200, mimetype="application/json")
