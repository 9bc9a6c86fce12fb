"""The API server: the app on HTTP and HTTPS side by side, its CLI runner kept warm, and the
status monitor."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import make_server

from emulator import log_shipping
from emulator.airflow_side.cli_runner import WarmRunner
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
from emulator.s3.client import client as s3_client

LOG = logging.getLogger(__name__)


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host, int(port)


def serve(ctx: ServiceContext, config: Settings) -> None:
    """Run the API on MWAA_LOCAL_LISTEN (HTTP) and MWAA_LOCAL_TLS_LISTEN (HTTPS)."""
    store = Store(ctx.infra.db_url)
    store.ensure_schema()
    live = ctx.with_spec(current(store, ctx.spec)[1])
    # What the CLI endpoint's commands log (a task run by `test`, say) ships from here.
    spool = log_shipping.spool_folder(ctx, "api")
    shipper = log_shipping.start_shipper(ctx, spool)
    shipper.want_groups(log_shipping.enabled_groups(live.spec))
    runner = WarmRunner(live.airflow_env(log_spool=spool))
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
        fresh = WarmRunner(ctx.with_spec(validated).airflow_env(log_spool=spool))
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
        make_server(*_address(config.listen), app, threaded=True),
        make_server(
            *_address(config.tls_listen), app, threaded=True, ssl_context=(str(cert), str(key))
        ),
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    LOG.info("answering on %s and https://%s", config.listen, config.tls_listen)
    try:
        servers[0].serve_forever()
    finally:
        stopping.set()
        app.config["CLI_RUNNER"].close()
        shipper.stop()
