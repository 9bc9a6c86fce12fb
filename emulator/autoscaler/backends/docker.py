"""Docker backend: worker containers of the compose project, started and stopped with the
Docker SDK (the autoscaler service mounts /var/run/docker.sock).

A new worker is a clone of one the project already runs (the compose `worker` service): same
image, command, environment, volumes, network, healthcheck and labels, with the next
`com.docker.compose.container-number`, so `docker compose ps`, `mwaa-local status` and
`mwaa-local down` see it as one of the service's replicas (worker-2, worker-3, ...).

Retiring one: cancel its consumer of the queue, then `docker stop` with the grace as timeout
(SIGTERM: Celery's warm shutdown finishes running tasks; SIGKILL only after the grace), then
remove it. Without a Docker socket the backend is a no-op that says so.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from typing import Any

from emulator.config import Settings

NOT_AVAILABLE = "docker backend not available"
_PROJECT = "com.docker.compose.project"
_SERVICE = "com.docker.compose.service"
_NUMBER = "com.docker.compose.container-number"
_ONEOFF = "com.docker.compose.oneoff"
SERVICE = "worker"
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


class DockerBackend:
    name = "docker"

    def __init__(
        self, config: Settings, broker_url: str, grace_s: float, log: Callable[[str], None]
    ):
        self.config = config
        self.broker_url = broker_url
        self.grace_s = grace_s
        self.log = log
        self._stopping: dict[str, threading.Thread] = {}  # worker-N -> its `docker stop`
        self.client: Any = None
        self.project: str | None = None
        try:
            import docker

            self.client = docker.from_env(timeout=30)
            self.project = self._own_project()
        except Exception as exc:  # noqa: BLE001 - no socket, no permission: decisions only
            self.client = None
            self.log(f"{NOT_AVAILABLE} ({type(exc).__name__}: {exc}); decisions are only logged")

    def _own_project(self) -> str:
        try:
            me = self.client.containers.get(socket.gethostname())
            return me.labels[_PROJECT]
        except Exception:  # noqa: BLE001 - not in a container of the project: say which
            return self.config.compose_project_name

    # -- what runs ------------------------------------------------------------------------------
    def _containers(self, all_states: bool = False) -> dict[str, Any]:
        found = self.client.containers.list(
            all=all_states,
            filters={"label": [f"{_PROJECT}={self.project}", f"{_SERVICE}={SERVICE}"]},
        )
        return {
            f"worker-{c.labels.get(_NUMBER, '0')}": c
            for c in found
            if c.labels.get(_ONEOFF, "False") != "True"
        }

    def workers(self) -> list[str]:
        if self.client is None:
            return self._pinged()
        return sorted(w for w in self._containers() if w not in self._stopping)

    def _pinged(self) -> list[str]:
        from celery import Celery

        replies = Celery(broker=self.broker_url).control.ping(timeout=1.0) or []
        return sorted(name for reply in replies for name in reply)

    def retiring(self) -> list[str]:
        return sorted(self._stopping)

    # -- changes --------------------------------------------------------------------------------
    def start(self, count: int) -> list[str]:
        if self.client is None:
            return []
        existing = self._containers(all_states=True)
        running = self._containers()
        if not running:
            self.log(f"no running {SERVICE} container to clone; nothing started")
            return []
        template = running[min(running, key=lambda w: int(w.split("-")[1]))]
        started: list[str] = []
        number = 1
        while len(started) < count:
            wid = f"worker-{number}"
            number += 1
            if wid in existing or wid in self._stopping:
                continue
            self._clone(template, int(wid.split("-")[1]))
            started.append(wid)
        return started

    def _clone(self, template, number: int) -> None:
        attrs = template.attrs
        config, host = attrs["Config"], attrs["HostConfig"]
        labels = {**config.get("Labels", {}), _NUMBER: str(number), "mwaa-local.autoscaled": "true"}
        volumes = {}
        for mount in attrs.get("Mounts", []):
            source = mount.get("Name") if mount.get("Type") == "volume" else mount.get("Source")
            if not source or _ANONYMOUS.match(source):
                continue
            volumes[source] = {
                "bind": mount["Destination"],
                "mode": "rw" if mount.get("RW", True) else "ro",
            }
        networks = list(attrs["NetworkSettings"]["Networks"])
        network = networks[0] if networks else None
        endpoint = (
            # The service's alias on the project network, as Compose gives its replicas.
            {network: self.client.api.create_endpoint_config(aliases=[SERVICE])}
            if network
            else None
        )
        name = re.sub(r"\d+$", str(number), template.name)
        container = self.client.containers.create(
            config["Image"],
            command=config.get("Cmd"),
            entrypoint=config.get("Entrypoint"),
            environment=config.get("Env"),
            labels=labels,
            volumes=volumes,
            network=network,
            networking_config=endpoint,
            healthcheck=config.get("Healthcheck"),
            init=host.get("Init"),
            restart_policy=host.get("RestartPolicy"),
            user=config.get("User") or None,
            working_dir=config.get("WorkingDir") or None,
            name=name,
            detach=True,
        )
        container.start()

    def retire(self, worker: str, queue: str) -> None:
        if self.client is None or worker in self._stopping:
            return
        container = self._containers().get(worker)
        if container is None:
            return
        try:
            from celery import Celery

            node = f"celery@{container.attrs['Config']['Hostname']}"
            Celery(broker=self.broker_url).control.cancel_consumer(
                queue, destination=[node], reply=True, timeout=2.0
            )
        except Exception as exc:  # noqa: BLE001 - `docker stop` stops it consuming too
            self.log(f"cancel_consumer {queue} on {worker} failed: {exc}")

        def stop() -> None:
            try:
                container.stop(timeout=int(self.grace_s))
                container.remove(v=True)
            except Exception as exc:  # noqa: BLE001 - reported, then forgotten
                self.log(f"stopping {worker} failed: {exc}")

        thread = threading.Thread(target=stop, name=f"retire-{worker}", daemon=True)
        self._stopping[worker] = thread
        thread.start()

    def reap(self) -> list[str]:
        gone = [w for w, thread in self._stopping.items() if not thread.is_alive()]
        for worker in gone:
            del self._stopping[worker]
        return gone
