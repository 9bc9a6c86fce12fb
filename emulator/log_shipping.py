"""A service's part in CloudWatch Logs: the spool folder its Airflow processes write to, the
shipper that sends it, and the component's own output for its log group."""

from __future__ import annotations

import socket
from pathlib import Path

from emulator.cloudwatch import log_types, streams
from emulator.cloudwatch.component import ComponentOutput
from emulator.cloudwatch.redact import Redactor
from emulator.cloudwatch.shipper import Shipper
from emulator.cloudwatch.spool import SpoolWriter
from emulator.cloudwatch.wire import client as logs_client
from emulator.config import settings
from emulator.context import ServiceContext
from emulator.environment import secrets as secrets_module
from emulator.environment.spec import EnvironmentSpec

SPOOL_FOLDER = "cloudwatch-spool"


def instance() -> str:
    """This component instance's name in its streams: `worker-N` natively, else the host's
    (each container's own, as MWAA's streams carry its containers' host names)."""
    return settings().worker_id or socket.gethostname()


def spool_folder(ctx: ServiceContext, service: str) -> Path:
    """The service's own spool: one shipper per folder. A singleton keeps its folder across
    container re-creation; each worker has one."""
    key = settings().worker_id or (service if service != "worker" else f"worker-{instance()}")
    return Path(ctx.paths.airflow_home) / "logs" / SPOOL_FOLDER / key


def start_shipper(ctx: ServiceContext, folder: Path) -> Shipper:
    endpoint, region = ctx.infra.logs_endpoint, ctx.infra.region
    return Shipper(folder, lambda: logs_client(endpoint, region)).start()


def redactor(ctx: ServiceContext) -> Redactor:
    """The secrets this service knows, masked out of its output."""
    known = secrets_module.load(ctx.state_dir)
    return Redactor([known.fernet_key, known.web_secret, ctx.infra.s3_secret_key])


def enabled_groups(spec: EnvironmentSpec) -> list[str]:
    return log_types.enabled_groups(spec.name, spec.get("LoggingConfiguration"))


def component_output(
    ctx: ServiceContext,
    spec: EnvironmentSpec,
    service: str,
    spool: SpoolWriter,
    started: float,
    redact: Redactor,
) -> ComponentOutput | None:
    """Where the component's printed lines go (None for a service with no group of its own)."""
    log_type = log_types.COMPONENT_TYPES.get(service)
    if log_type is None:
        return None
    setting = log_types.settings(spec.get("LoggingConfiguration"))[log_type.module]
    return ComponentOutput(
        group=log_types.group_name(spec.name, log_type),
        stream=streams.component(service, instance(), started),
        setting=setting,
        redact=redact,
        spool=spool,
    )
