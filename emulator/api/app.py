"""The API's application factory: MWAA's web server host as one Flask app, built from the
dependencies it is given (the backend, the CLI runner, the Airflow web server's address).

Before any route: the Host must be one of the user's own programs' names (hosts.py), the body
within its path's limit (body_limits.py), and a CORS preflight for MWAA's own paths is
refused (no web page may call them). A metadata database that does not answer makes the
answer 503 ServiceUnavailableException, and the next request tries it again.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg2
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from emulator.api import body_limits, cli_endpoint, hosts, login, proxy, routes
from emulator.api.backend import Backend
from emulator.api.errors import (
    AccessDeniedException,
    InternalServerException,
    MwaaError,
    ServiceUnavailableException,
    ValidationException,
)
from emulator.config import settings

LOG = logging.getLogger(__name__)
# MWAA's own paths: a cross-origin call to them has no business here.
OWN_BLUEPRINTS = frozenset({routes.blueprint.name, cli_endpoint.blueprint.name, "login"})


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
    config = settings()
    extra_hosts = hosts.configured(config.allowed_hosts, config.web_hostname)

    @app.errorhandler(psycopg2.OperationalError)
    @app.errorhandler(psycopg2.InterfaceError)
    def _database_away(exc: Exception) -> Response:
        LOG.warning("metadata database: %s", str(exc).strip())
        return error_response(
            ServiceUnavailableException(
                "The environment's metadata database (PostgreSQL) is not answering; it is "
                "restarted by itself. Try again in a few seconds."
            )
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        LOG.exception("unexpected error")
        return error_response(InternalServerException(f"{type(exc).__name__}"))

    # First: every later refusal must find the body already bounded.
    body_limits.install(app)

    @app.before_request
    def _known_host() -> None:
        host = request.headers.get("Host")
        if not hosts.allowed(host, extra_hosts):
            raise ValidationException(hosts.refusal(str(host)))

    @app.before_request
    def _no_cross_origin_calls() -> None:
        if request.method == "OPTIONS" and request.blueprint in OWN_BLUEPRINTS:
            raise AccessDeniedException(
                "Cross-origin requests are refused: MWAA's API answers programs (the AWS "
                "SDKs, the AWS CLI, curl), not web pages."
            )

    # Order matters: the proxy's catch-all comes last.
    for module in (routes, cli_endpoint, login, proxy):
        app.register_blueprint(module.blueprint)
    return app
