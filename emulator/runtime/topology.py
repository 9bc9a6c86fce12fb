"""docker-compose.yml read as the map of the environment, for the native runtime.

The native runtime starts exactly the commands this file gives its `service` and `oneshot`
services, and stands in embedded servers for its `infra` services, so the two runtimes cannot
drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

KINDS = ("infra", "oneshot", "service")


@dataclass(frozen=True)
class ServiceDef:
    name: str
    kind: str
    command: tuple[str, ...]
    environment: dict[str, str]


def load(compose_file: Path) -> list[ServiceDef]:
    """The compose file's services, in file order (the order they are started in)."""
    document = yaml.safe_load(compose_file.read_text())
    services = []
    for name, body in document["services"].items():
        kind = (body.get("labels") or {}).get("mwaa-local.kind")
        if kind not in KINDS:
            raise ValueError(f"{compose_file}: service {name} needs label mwaa-local.kind: {KINDS}")
        command = body.get("command") or ()
        if isinstance(command, str):
            command = tuple(command.split())
        env = {k: str(v) for k, v in (body.get("environment") or {}).items()}
        services.append(ServiceDef(name, kind, tuple(command), env))
    return services
