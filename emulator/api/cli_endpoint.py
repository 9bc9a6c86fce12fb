"""`POST /aws_mwaa/cli`: an Airflow CLI command over HTTP, answered with base64 output."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, current_app, json, request

from emulator.airflow_side import allowlist

blueprint = Blueprint("cli_endpoint", __name__)

MAX_BODY_BYTES = 16 * 1024
COMMAND_TIMEOUT_S = 120


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _answer(status: int, message: str) -> Response:
    # The same JSON as a command's answer, with the explanation on stderr, plus `message`.
    body = {"message": message, "stdout": "", "stderr": _b64(message.encode() + b"\n")}
    return Response(json.dumps(body), status=status, mimetype="application/json")


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
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _answer(413, f"The command is longer than {MAX_BODY_BYTES} bytes.")
    raw = request.get_data(cache=False)[: MAX_BODY_BYTES + 1]
    if len(raw) > MAX_BODY_BYTES:
        return _answer(413, f"The command is longer than {MAX_BODY_BYTES} bytes.")
    try:
        argv = allowlist.parse(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _answer(400, f"Could not read the command: {exc}")
    refusal = allowlist.check(argv)
    if refusal:
        # MWAA answers an unsupported command with HTTP 500.
        return _answer(500, refusal)
    result = current_app.config["CLI_RUNNER"].run(argv, timeout=COMMAND_TIMEOUT_S)
    body = {"stdout": _b64(result.stdout), "stderr": _b64(result.stderr)}
    return Response(json.dumps(body), status=200, mimetype="application/json")
