"""The API's application factory and its server (HTTP and HTTPS side by side)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable

from flask import Flask
from werkzeug.exceptions import HTTPException

from emulator.api import cli_endpoint, control_plane, login, proxy
from emulator.api.errors import InternalServerException, MwaaError
from emulator.api.monitor import start_monitor
from emulator.api.store import Store
from emulator.services.context import ServiceContext


def create_app(
    ctx: ServiceContext, cli_runner: object, on_spec_applied: Callable[[dict], None] = print
) -> Flask:
    # No static route of its own: /static/... is Airflow's, reached through the proxy.
    app = Flask(__name__, static_folder=None)
    store = Store(ctx.infra.db_url)
    app.config.update(
        STORE=store,
        CLI_RUNNER=cli_runner,
        ON_SPEC_APPLIED=on_spec_applied,
        CONTEXT=ctx,
        AIRFLOW_URL=os.environ.get("MWAA_LOCAL_AIRFLOW_URL", "http://127.0.0.1:8081"),
        WEB_SERVER_HOSTNAME=os.environ.get("MWAA_LOCAL_WEB_HOSTNAME", "localhost:8443"),
    )
    app.register_error_handler(MwaaError, lambda exc: exc.response())
    app.register_error_handler(HTTPException, lambda exc: exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unexpected error")
        return InternalServerException(f"{type(exc).__name__}").response()

    # Order matters: the proxy's catch-all comes last.
    for module in (control_plane, cli_endpoint, login, proxy):
        app.register_blueprint(module.blueprint)
    return app


def serve(ctx: ServiceContext) -> None:
    """Run the API on MWAA_LOCAL_LISTEN (HTTP) and MWAA_LOCAL_TLS_LISTEN (HTTPS)."""
    from werkzeug.serving import make_server

    from emulator.airflow_cli.runner import WarmRunner
    from emulator.api.tls import ensure_certificate
    from emulator.environment import spec as spec_module
    from emulator.services.supervise import current

    store = Store(ctx.infra.db_url)
    store.ensure_schema()
    _generation, ctx = current(ctx, store)
    runner = WarmRunner(ctx.airflow_env())
    # Import Airflow in the background: the API answers meanwhile, CLI calls wait for it.
    threading.Thread(target=runner.start, name="cli-warm-up", daemon=True).start()

    def on_spec_applied(spec: dict) -> None:
        # The CLI endpoint's Airflow gets the new configuration too.
        fresh = WarmRunner(dataclasses.replace(ctx, spec=spec_module.validate(spec)).airflow_env())
        fresh.start()
        old, app.config["CLI_RUNNER"] = app.config["CLI_RUNNER"], fresh
        old.close()

    app = create_app(ctx, runner, on_spec_applied)
    start_monitor(app)
    cert, key = ensure_certificate(ctx.state_dir)
    servers = []
    for variable, default, tls in (
        ("MWAA_LOCAL_LISTEN", "0.0.0.0:8080", None),
        ("MWAA_LOCAL_TLS_LISTEN", "0.0.0.0:8443", (str(cert), str(key))),
    ):
        host, _, port = os.environ.get(variable, default).rpartition(":")
        servers.append(make_server(host, int(port), app, threaded=True, ssl_context=tls))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers[1:]]
    for thread in threads:
        thread.start()
    try:
        servers[0].serve_forever()
    finally:
        app.config["CLI_RUNNER"].close()
