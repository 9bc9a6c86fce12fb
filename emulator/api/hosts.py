"""Which `Host` headers the API answers: the names a user's own programs reach it by.

A local server that answers any Host can be reached by a web page through DNS rebinding (the
page's own name made to point at 127.0.0.1), and Airflow builds its redirects from the Host.
So only these are answered (see ../shared/mwaa-behaviour.md, section 1):

- loopback names: `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`;
- the same with botocore's host prefixes (`api.`, `env.`, `ops.`), which it puts in front of
  any endpoint (`env.127.0.0.1`);
- the compose file's service names (other containers reach the `api` service by them);
- the host of the WebServerHostname the API hands out, and each name of
  `MWAA_LOCAL_ALLOWED_HOSTS` (comma-separated; `.example.com` also allows its subdomains).

A request without a Host header (HTTP/1.0) is answered: no browser sends one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# The services of docker-compose.yml (tests/unit/test_hosts.py keeps the two in step).
COMPOSE_SERVICES = frozenset(
    {
        "postgres",
        "redis",
        "s3",
        "logs",
        "init",
        "watcher",
        "webserver",
        "scheduler",
        "api",
        "worker",
        "autoscaler",
    }
)
# botocore's host prefixes for MWAA's operations.
PREFIXES = ("api.", "env.", "ops.")


def hostname(host_header: str) -> str:
    """The name in a Host header, without its port, lowercased (`[::1]:8080` -> `::1`)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _matches(name: str, allowed: str) -> bool:
    allowed = allowed.strip().lower()
    if not allowed:
        return False
    if allowed.startswith("."):
        return name == allowed[1:] or name.endswith(allowed)
    return name == allowed


def allowed(host_header: str | None, extra: Iterable[str] = ()) -> bool:
    """True when a request with this Host header is one the API answers."""
    if host_header is None or not host_header.strip():
        return True
    name = hostname(host_header).rstrip(".")
    bare = next((name[len(p) :] for p in PREFIXES if name.startswith(p)), name)
    for candidate in {name, bare}:
        if _loopback(candidate) or candidate in COMPOSE_SERVICES:
            return True
        if any(_matches(candidate, other) for other in extra):
            return True
    return False


def configured(allowed_hosts: str, web_hostname: str) -> list[str]:
    """The names a user configured, plus the WebServerHostname's host."""
    names = [h.strip() for h in allowed_hosts.split(",") if h.strip()]
    return [*names, hostname(web_hostname)]


def refusal(host_header: str) -> str:
    return (
        f"Host {host_header!r} is not a name this MWAA endpoint answers to (a web page could "
        "have sent it through DNS rebinding). Use localhost or 127.0.0.1, or add the name "
        "to MWAA_LOCAL_ALLOWED_HOSTS (comma-separated)."
    )
