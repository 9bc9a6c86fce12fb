"""A published port that the Docker engine could not bind, read from `compose up`'s output: which
setting names it, who holds it, and what to do. Pure; docker.py asks the engine for the holders.

The engine words the two cases apart:
- "Bind for 127.0.0.1:9000 failed: port is already allocated": the engine's own record says a
  container has it. Usually one does (another project, or a container left from an older run);
  when none does, the record outlived its container, which some engines (Debian's 20.10 seen)
  clear a moment later, so `up` asks again before giving up.
- "listen tcp4 127.0.0.1:9000: bind: address already in use": a program outside Docker listens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_ALLOCATED = re.compile(
    r"Bind for (?P<ip>[0-9a-fA-F.:\[\]]+):(?P<port>\d+) failed: port is already allocated"
)
_IN_USE = re.compile(
    r"listen tcp[46]? (?P<ip>[0-9a-fA-F.:\[\]]+):(?P<port>\d+): bind: address already in use"
)


@dataclass(frozen=True)
class PortConflict:
    address: str  # as the engine printed it, e.g. 127.0.0.1
    port: int
    by_engine: bool  # the engine's record ("already allocated"), not another program


def find(output: Iterable[str]) -> PortConflict | None:
    """The first port conflict `compose up` reported, if any."""
    for line in output:
        for pattern, by_engine in ((_ALLOCATED, True), (_IN_USE, False)):
            match = pattern.search(line)
            if match:
                return PortConflict(match["ip"], int(match["port"]), by_engine)
    return None


def explain(conflict: PortConflict, settings: Mapping[int, str], holders: Iterable[str]) -> str:
    """What a user reads: the port, the setting that chose it, who holds it, what to do.

    `settings` maps this environment's ports to their variables (MWAA_LOCAL_S3_PORT); `holders`
    are the containers that publish the port now."""
    where = f"{conflict.address}:{conflict.port}"
    setting = settings.get(conflict.port)
    named = f" ({setting})" if setting else ""
    change = (
        f"or give {setting} another free port in .env (or the shell)"
        if setting
        else "or change the port in .env"
    )
    held = sorted(holders)
    if held:
        who = f"container {', '.join(held)} publishes it: stop it (`docker stop NAME`), {change}"
    elif conflict.by_engine:
        who = (
            "no container publishes it, yet the Docker engine still counts it as taken (a record "
            f"that outlived its container): restart the Docker engine, {change}"
        )
    else:
        who = (
            f"another program listens on it (`ss -ltnp 'sport = :{conflict.port}'` shows which): "
            f"stop it, {change}"
        )
    return f"port {where}{named} is taken: {who}."
