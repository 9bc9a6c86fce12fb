"""The Host allow-list (emulator/api/hosts.py): the names a user's programs reach the API by,
and nothing a web page could rebind."""

from __future__ import annotations

import pytest

from emulator.api import hosts
from emulator.runtime import topology
from tests.conftest import PROJECT


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8080",
        "LOCALHOST:8443",
        "127.0.0.1:8080",
        "127.1.2.3",
        "[::1]:8080",
        "airflow.localhost:8443",
        "api.localhost",
        "env.127.0.0.1:8080",
        "api:8080",
        "webserver",
        "localhost.:8080",
        None,
        "",
    ],
)
def test_loopback_prefixed_and_compose_names_are_allowed(host) -> None:
    assert hosts.allowed(host)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example.com",
        "evil.example.com:8080",
        "localhost.evil.example.com",
        "127.0.0.1.nip.io",
        "api.evil.example.com",
        "10.0.0.1:8080",
        "0.0.0.0:8080",
        "[::ffff:7f00:1]x",
    ],
)
def test_every_other_name_is_refused(host) -> None:
    assert not hosts.allowed(host)


def test_configured_names_and_the_web_server_hostname_are_allowed() -> None:
    extra = hosts.configured("mwaa.test, .corp.example", "mwaa-local.internal:8443")
    assert hosts.allowed("mwaa.test:8080", extra)
    assert hosts.allowed("env.mwaa.test", extra)
    assert hosts.allowed("a.b.corp.example", extra) and hosts.allowed("corp.example", extra)
    assert hosts.allowed("mwaa-local.internal:8443", extra)
    assert not hosts.allowed("evilcorp.example", extra)
    assert not hosts.allowed("mwaa.test.evil.example.com", extra)


def test_the_compose_service_names_are_the_compose_files() -> None:
    names = {s.name for s in topology.load(PROJECT / "docker-compose.yml")}
    assert names == hosts.COMPOSE_SERVICES
