"""The API server: the app on HTTP and HTTPS side by side, its CLI runner kept warm, and the
status monitor.

The WSGI server is cheroot (CherryPy's): a fixed pool of threads instead of one thread per
connection, TLS from Python's own `ssl`, limits on request lines and headers, chunked bodies
read as they arrive, and a way (its gateway) to close a connection whose body was refused
instead of reading the rest of it into memory, which Werkzeug's development server did.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from emulator import log_shipping
from emulator.airflow_side.cli_runner import Confinement, WarmRunner
from emulator.api import body_limits
from emulator.api.app import create_app
from emulator.api.backend import Backend
from emulator.api.monitor import components_healthy, start_monitor
from emulator.api.tls import ensure_certificate
from emulator.cloudwatch import groups
from emulator.cloudwatch.client import client as logs_client
from emulator.config import Settings
from emulator.context import ServiceContext
from emulator.environment import spec as spec_module
from emulator.environment.definition import current
from emulator.environment.store import Store
from emulator.privileges import cli_user
from emulator.s3.client import lazy_client as s3_client

LOG = logging.getLogger(__name__)
# CLI commands hold a thread while they wait for the runner (two run at once): enough threads
# that the control plane still answers while a burst of them waits.
THREADS = 32
# Request line and headers; and a backstop far above every body limit of body_limits.py
# (which answer in MWAA's error shape), past which cheroot refuses a body by itself.
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024**3
CONNECTION_TIMEOUT_S = 30


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI gateway, which closes a connection whose request body was not read to
    its end (cheroot would otherwise read the rest into memory to keep the connection), after
    reading and throwing away a bounded part of it so the client sees the answer."""

    def start_response(self, status: str, headers: list, exc_info: Any = None) -> Any:
        write = super().start_response(status, headers, exc_info)
        body = body_limits.bounded(self.env)
        if body is not None and body.unfinished:
            unread = body.unread
            if unread is None or unread > body_limits.DRAIN_BYTES or self.req.chunked_read:
                self.req.close_connection = True
        return write

    def respond(self) -> None:
        try:
            super().respond()
        finally:
            body = body_limits.bounded(self.env)
            if body is not None and body.unfinished and self.req.close_connection:
                body.drain()


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def make_server(listen: str, app: Any, tls: tuple[str, str] | None = None) -> wsgi.Server:
    server = wsgi.Server(
        _address(listen),
        app,
        numthreads=THREADS,
        server_name="mwaa-local",
        request_queue_size=128,
        timeout=CONNECTION_TIMEOUT_S,
        shutdown_timeout=2,  # `mwaa-local down` has 30 s for everything
    )
    server.gateway = _Gateway
    server.max_request_header_size = MAX_HEADER_BYTES
    server.max_request_body_size = MAX_BODY_BYTES
    if tls is not None:
        server.ssl_adapter = BuiltinSSLAdapter(*tls)
    return server


def serve(ctx: ServiceContext, config: Settings) -> None:
    """Run the API on MWAA_LOCAL_LISTEN (HTTP) and MWAA_LOCAL_TLS_LISTEN (HTTPS)."""
    store = Store(ctx.infra.db_url)
    store.ensure_schema()
    live = ctx.with_spec(current(store, ctx.spec)[1])
    confinement = Confinement(exchange=str(ctx.exchange_folder), user=cli_user())
    # What the CLI endpoint's commands log (a task run by `test`, say) ships from here.
    spool = log_shipping.spool_folder(ctx, "api")
    shipper = log_shipping.start_shipper(ctx, spool)
    shipper.want_groups(log_shipping.enabled_groups(live.spec))
    warm_s = config.cli_warm_s or None
    runner = WarmRunner(
        live.airflow_env(log_spool=spool), confinement=confinement, idle_stop_s=warm_s
    )
    # Import Airflow in the background: the API answers meanwhile, CLI calls wait for it.
    threading.Thread(target=runner.start, name="cli-warm-up", daemon=True).start()

    def on_spec_applied(spec: dict) -> None:
        validated = spec_module.validate(spec)
        # A log type just enabled has its group before the environment is AVAILABLE again.
        try:
            groups.ensure_groups(
                logs_client(ctx.infra.logs_endpoint, ctx.infra.region),
                log_shipping.enabled_groups(validated),
            )
        except Exception as exc:  # noqa: BLE001 - the shippers make them once it answers
            LOG.warning("could not create the log groups now (%s); the shippers will", exc)
        # The CLI endpoint's Airflow gets the new configuration too.
        fresh = WarmRunner(
            ctx.with_spec(validated).airflow_env(log_spool=spool),
            confinement=confinement,
            idle_stop_s=warm_s,
        )
        fresh.start()
        old, app.config["CLI_RUNNER"] = app.config["CLI_RUNNER"], fresh
        old.close()

    backend = Backend(
        store=store,
        s3=s3_client(ctx.infra),
        own=ctx.spec,
        state_dir=ctx.state_dir,
        web_server_hostname=config.web_hostname,
        region=config.region,
        account=config.account_id,
        healthy=components_healthy,
        on_spec_applied=on_spec_applied,
    )
    app = create_app(backend, runner, config.airflow_url)
    stopping = threading.Event()
    start_monitor(store, ctx.spec.name, stopping)
    cert, key = ensure_certificate(ctx.state_dir)
    servers = [
        make_server(config.listen, app),
        make_server(config.tls_listen, app, tls=(str(cert), str(key))),
    ]
    for server in servers:
        server.prepare()  # binds now: a port in use fails the start, not a thread

    def _stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    threads = [
        threading.Thread(target=server.serve, name=f"http-{i}", daemon=True)
        for i, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    LOG.info("answering on %s and https://%s", config.listen, config.tls_listen)
    try:
        while not stopping.wait(1):
            if not all(thread.is_alive() for thread in threads):
                LOG.error("a listener stopped; exiting so that the API is restarted")
                break
    finally:
        stopping.set()
        for server in servers:
            server.stop()
        app.config["CLI_RUNNER"].close()
        shipper.stop()
