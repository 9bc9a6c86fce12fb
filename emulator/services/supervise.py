"""Runs one Airflow process for a service, restarts it when the environment's definition
changes, and takes the whole process tree with it when it ends.

UpdateEnvironment stores a new definition with a higher generation; each service's
`mwaa-local run` notices it, restarts its Airflow process with the new configuration, and
reports the generation it runs. This works the same in Docker and natively: nobody outside
needs to know where the processes are.

The Airflow process's output passes through this process (to its own output, unchanged) and,
at LoggingConfiguration's level, into the component's CloudWatch log group; a shipper thread
here sends that and what the Airflow processes below wrote to the spool (log_shipping.py).

When the Airflow process dies, this process ends too, with its exit status, so that what
supervises it (Compose's restart policy, or supervisord natively) starts the service again.
Before that it kills what the dead process left behind: as a child subreaper it inherits the
orphans (Airflow's DAG processor manager leads its own process group, and would otherwise live
on holding database connections). If this process is killed, the kernel sends the Airflow
process SIGTERM (parent-death signal).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from emulator import log_shipping
from emulator.cloudwatch.component import tee
from emulator.cloudwatch.spool import SpoolWriter
from emulator.config import settings
from emulator.context import ServiceContext
from emulator.environment.definition import current
from emulator.environment.store import Store

LOG = logging.getLogger(__name__)
POLL_S = 2.0
# After the Airflow process ended: how long its last lines may take to reach CloudWatch.
DRAIN_S = 5.0
# Linux prctl options.
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def stop_grace_s() -> float:
    """A Celery worker finishes its running tasks on SIGTERM; a worker the autoscaler retires
    gets MWAA_LOCAL_SCALE_IN_GRACE_S (120 s, as on MWAA) to do so."""
    return max(120.0, settings().scale_in_grace_s)


def component_id(service: str) -> str:
    return settings().worker_id or f"{service}@{socket.gethostname()}"


def _prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def kill_descendants() -> list[int]:
    """SIGKILL every process below this one (the orphans it inherited included)."""
    import psutil  # only once the service's process has ended: not held while it runs

    found = psutil.Process().children(recursive=True)
    for proc in found:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(found, timeout=10)
    return [p.pid for p in found]


def _wait(child: subprocess.Popen, timeout: float) -> None:
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def supervise(
    ctx: ServiceContext, service: str, command: Callable[[ServiceContext], list[str]]
) -> int:
    store = Store(ctx.infra.db_url, keep_open=True)
    me = component_id(service)
    stopping = threading.Event()
    child: subprocess.Popen | None = None
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)

    def _forward(signum: int, _frame: object) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)  # once: a second SIGTERM cuts Celery's warm shutdown

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    spool = log_shipping.spool_folder(ctx, service)
    shipper = log_shipping.start_shipper(ctx, spool)
    writer = SpoolWriter(spool)
    redact = log_shipping.redactor(ctx)
    code = 0
    while not stopping.is_set():
        generation, spec = current(store, ctx.spec)
        live = ctx.with_spec(spec)
        output = log_shipping.component_output(ctx, spec, service, writer, time.time(), redact)
        own = [(output.group, output.stream)] if output and output.setting.enabled else []
        shipper.want_groups(log_shipping.enabled_groups(spec), own)
        child = subprocess.Popen(
            command(live),
            env=live.airflow_env(service, spool),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        assert child.stdout is not None
        teeing = tee(child.stdout, sys.stdout.buffer, output)
        store.report_component(me, ctx.spec.name, generation)
        changed = False
        while child.poll() is None and not stopping.wait(POLL_S):
            try:
                latest = store.poll(me, ctx.spec.name, generation)
            except Exception:  # noqa: BLE001 - the database may be restarting; keep running
                continue
            if latest is not None and latest != generation:
                LOG.warning(
                    "definition changed (generation %s -> %s); restarting %s",
                    generation,
                    latest,
                    service,
                )
                changed = True
                child.terminate()
                _wait(child, stop_grace_s())
                break
        if stopping.is_set() and child.poll() is None:
            _wait(child, stop_grace_s())
        code = child.wait()
        if code < 0:  # killed by a signal: the shell's (and Docker's) 128 + N
            code = 128 - code
        leftovers = kill_descendants()
        if leftovers:
            LOG.warning("%s left %d process(es) behind; stopped them", service, len(leftovers))
        # The pipe closes once the last of the tree is gone; its last lines are in the spool.
        teeing.join(10)
        if not changed:
            if not stopping.is_set():
                LOG.error("%s exited with status %s; its supervisor restarts it", service, code)
            break
    writer.close()
    shipper.stop(DRAIN_S)
    store.close()
    return code
