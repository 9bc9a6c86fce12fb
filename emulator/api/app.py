"""The API's application factory: MWAA's web server host as one Flask app, built from the
dependencies it is given (the backend, the CLI runner, the Airflow web server's address)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from emulator.api import cli_endpoint, login, proxy, routes
from emulator.api.backend import Backend
from emulator.api.errors import InternalServerException, MwaaError

LOG = logging.getLogger(__name__)


def error_response(exc: MwaaError) -> Response:
    return Response(
        exc.body(), status=exc.status, mimetype="application/json", headers=exc.headers()
    )


def create_app(backend: Backend, cli_runner: Any, airflow_url: str) -> Flask:
    # No static route of its own: /static/... is Airflow's, reached through the proxy.
    app = Flask(__name__, static_folder=None)
    app.config.update(BACKEND=backend, CLI_RUNNER=cli_runner, AIRFLOW_URL=airflow_url)
    app.register_error_handler(MwaaError, error_response)
    app.register_error_handler(HTTPException, lambda exc: exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        LOG.exception("unexpected error")
        return error_response(InternalServerException(f"{type(exc).__name__}"))

    # Order matters: the proxy's catch-all comes last.
    for module in (routes, cli_endpoint, login, proxy):
        app.register_blueprint(module.blueprint)
    return app
