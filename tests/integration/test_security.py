"""Hostile callers against the native environment: the CLI endpoint cannot reach the host's
files, web pages in the user's browser cannot use the API (Host allow-list, SigV4-shaped
Authorization, refused preflights, cross-site logins), and oversized bodies leave the API's
memory flat. Each probe is one an attacker ran against the emulator before it was closed."""

from __future__ import annotations

import base64
import http.server
import json
import os
import pwd
import shutil
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest

from tests.browser import start_chromium
from tests.conftest import NATIVE_PORTS, Env, mwaa_client, ports, unavailable, wait_until
from tests.hostile import MIB, PeakMemory, send_body

pytestmark = pytest.mark.native

NAME = "mwaa-local"
WEB = f"http://127.0.0.1:{NATIVE_PORTS['web']}"
HTTPS = f"https://localhost:{NATIVE_PORTS['https']}"
EVIL_PORT = ports(evil=28990)["evil"]
SIGV4_SHAPED = (
    "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/airflow/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


@pytest.fixture(scope="module")
def env(native_env) -> Env:
    environment, _ = native_env
    mwaa = mwaa_client(NATIVE_PORTS)
    wait_until(
        lambda: mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "AVAILABLE",
        120,
        "AVAILABLE",
    )
    return environment


def _http(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request, no redirect followed: (status, headers, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
            return None

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=120) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def _cli(token: str, command: str) -> tuple[int, dict]:
    status, _, body = _http(
        f"{WEB}/aws_mwaa/cli",
        "POST",
        command.encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
    )
    return status, json.loads(body)


def _out(body: dict, stream: str) -> str:
    return base64.b64decode(body.get(stream, "")).decode(errors="replace")


def _db():
    return psycopg2.connect(
        host="127.0.0.1",
        port=NATIVE_PORTS["postgres"],
        user="airflow",
        password="airflow",
        dbname="airflow",
    )


def _tokens() -> int:
    with _db() as conn, conn.cursor() as cur:
        cur.execute("select count(*) from mwaa_local_token")
        return cur.fetchone()[0]


@pytest.fixture
def token() -> str:
    return mwaa_client(NATIVE_PORTS).create_cli_token(Name=NAME)["CliToken"]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the environment that the commands' user could write to, were it not
    refused (pytest's own tmp folder is closed to other users)."""
    folder = tmp_path / "host"
    folder.mkdir()
    folder.chmod(0o777)
    return folder


def exchange_folder(env: Env) -> Path:
    return env.home / "airflow" / "exchange"


# -- 1. the CLI endpoint reaches nothing on the host outside the environment ----------------
@pytest.mark.parametrize(
    "template",
    [
        "variables -e {outside}/variables.json",
        "variables --export={outside}/variables.json",
        "variables --exp {outside}/variables.json",
        "variables -e{outside}/variables.json",
        "variables -e ../../../../../../..{outside}/variables.json",
        "pool -e {outside}/pools.json",
        "show_dag example_bash_python -s {outside}/graph.png",
    ],
)
def test_exports_cannot_write_outside_the_exchange_folder(
    env, token, outside: Path, template: str
) -> None:
    command = template.format(outside=outside)
    status, body = _cli(token, command)
    assert status == 400, body
    assert "exchange folder" in body["message"], body
    assert str(exchange_folder(env)) in body["message"]
    assert list(outside.iterdir()) == [], "a file was written outside the exchange folder"


def test_a_symbolic_link_in_the_exchange_folder_does_not_lead_out(env, token, outside) -> None:
    profile = outside / ".bashrc"
    profile.write_text("# the user's shell profile\n")
    link = exchange_folder(env) / "innocent.json"
    link.unlink(missing_ok=True)
    link.symlink_to(profile)
    try:
        status, body = _cli(token, 'variables -s shell "$(touch /tmp/owned)"')
        assert status == 200, body
        status, body = _cli(token, "variables -e innocent.json")
        assert status == 400 and str(profile) in body["message"], body
        assert profile.read_text() == "# the user's shell profile\n"
    finally:
        link.unlink()
        _cli(token, "variables -x shell")


def test_run_cfg_path_cannot_delete_a_file_outside(env, token, outside) -> None:
    victim = outside / "settings.json"
    victim.write_text('{"keep": "me"}')
    status, body = _cli(token, f"run --cfg_path {victim} example_bash_python say_hello 2020-01-01")
    assert status == 400, body
    assert victim.read_text() == '{"keep": "me"}'


def test_imports_cannot_read_outside_nor_tell_what_exists(env, token, tmp_path) -> None:
    secret = tmp_path / "there" / "secret.json"
    secret.parent.mkdir()
    secret.write_text('{"api_key": "s3cr3t"}')
    secret.chmod(0o600)
    answers = []
    for path in (secret, tmp_path / "not-there" / "secret.json"):
        status, body = _cli(token, f"variables -i {path}")
        assert status == 400, body
        answers.append(body["message"].replace(str(path), "PATH"))
    assert answers[0] == answers[1], "the refusal tells an existing file from a missing one"
    status, body = _cli(token, "variables -g api_key")
    assert "s3cr3t" not in _out(body, "stdout") + _out(body, "stderr")


def test_dag_folder_options_cannot_execute_code_from_elsewhere(env, token, outside) -> None:
    marker = outside / "executed"
    (outside / "evil_dag.py").write_text(
        f"# airflow DAG\nopen({str(marker)!r}, 'w').write('ran')\n"
    )
    for command in (
        f"list_dags -sd {outside}",
        f"list_dags -sd DAGS_FOLDER/../../../../../../..{outside}",
        f"list_tasks some_dag -sd {outside}/evil_dag.py",
        f"trigger_dag some_dag --subdir={outside}",
    ):
        status, body = _cli(token, command)
        assert status == 400, (command, body)
        assert "DAGs folder" in body["message"]
    assert not marker.exists(), "Python from outside the DAGs folder was executed"
    status, body = _cli(token, "list_dags -sd DAGS_FOLDER")
    assert status == 200 and "example_bash_python" in _out(body, "stdout"), body


def test_the_exchange_folder_is_how_an_export_gets_out(env, token) -> None:
    status, body = _cli(token, "variables -s exchange_probe forty-two")
    assert status == 200, body
    try:
        status, body = _cli(token, "variables -e exported-variables.json")
        assert status == 200, body
        exported = exchange_folder(env) / "exported-variables.json"
        assert json.loads(exported.read_text())["exchange_probe"] == "forty-two"
        # Read back from there, by its absolute path this time.
        status, body = _cli(token, "variables -x exchange_probe")
        status, body = _cli(token, f"variables -i {exported}")
        assert status == 200, body
        status, body = _cli(token, "variables -g exchange_probe")
        assert _out(body, "stdout").strip().splitlines()[-1] == "forty-two"
        if os.geteuid() == 0:
            # Started as root, the commands ran as an unprivileged user.
            owner = pwd.getpwuid(exported.stat().st_uid).pw_name
            assert owner != "root", owner
    finally:
        _cli(token, "variables -x exchange_probe")
        (exchange_folder(env) / "exported-variables.json").unlink(missing_ok=True)


def test_commands_run_unprivileged_when_started_as_root(env, token) -> None:
    if os.geteuid() != 0:
        pytest.skip("the environment runs as this user already (not root)")
    locked = exchange_folder(env) / "root-only.json"
    locked.write_text('{"root_only": "yes"}')
    locked.chmod(0o600)
    try:
        status, body = _cli(token, "variables -i root-only.json")
        assert status == 200, body
        assert "Permission denied" in _out(body, "stderr") + _out(body, "stdout"), body
        status, body = _cli(token, "variables -g root_only")
        assert "yes" not in _out(body, "stdout")
    finally:
        locked.unlink()


# -- 2. only the user's own programs reach the API -----------------------------------------
@pytest.mark.parametrize(
    "host",
    [
        f"localhost:{NATIVE_PORTS['web']}",
        f"127.0.0.1:{NATIVE_PORTS['web']}",
        f"[::1]:{NATIVE_PORTS['web']}",
        f"api.localhost:{NATIVE_PORTS['web']}",
        f"env.127.0.0.1:{NATIVE_PORTS['web']}",
        "airflow.localhost",
        "api:8080",
    ],
)
def test_the_names_a_users_programs_use_are_answered(env, host: str) -> None:
    status, headers, _ = _http(f"{WEB}/aws_mwaa/aws-console-sso", headers={"Host": host})
    assert status == 200


@pytest.mark.parametrize(
    "host", ["evil.example.com", "localhost.evil.example.com", "127.0.0.1.nip.io:8080"]
)
def test_any_other_host_is_refused_so_dns_rebinding_finds_nothing(env, host: str) -> None:
    status, headers, body = _http(f"{WEB}/", headers={"Host": host})
    assert status == 400
    assert headers.get("x-amzn-ErrorType") == "ValidationException"
    assert "MWAA_LOCAL_ALLOWED_HOSTS" in json.loads(body)["message"]
    assert "Location" not in headers  # Airflow never got to build a redirect to that host


def test_control_plane_calls_need_a_sigv4_authorization(env) -> None:
    before = _tokens()
    # What a cross-site form or a no-cors fetch can send: no Authorization header.
    status, headers, body = _http(
        f"{WEB}/clitoken/{NAME}",
        "POST",
        b"{}",
        {"Content-Type": "text/plain", "Origin": "http://evil.example.com"},
    )
    assert status == 403, body
    assert headers.get("x-amzn-ErrorType") == "AccessDeniedException"
    assert "CliToken" not in body.decode()
    assert _tokens() == before
    status, _, body = _http(f"{WEB}/environments/{NAME}")
    assert status == 403 and "SigV4" in json.loads(body)["Message"]
    # In SigV4's shape it is accepted (the signature itself is checked in strict mode only).
    status, _, body = _http(f"{WEB}/environments/{NAME}", headers={"Authorization": SIGV4_SHAPED})
    assert status == 200 and json.loads(body)["Environment"]["Name"] == NAME


@pytest.mark.parametrize("path", [f"/clitoken/{NAME}", "/aws_mwaa/cli", "/aws_mwaa/login"])
def test_cors_preflights_are_refused(env, path: str) -> None:
    status, headers, _ = _http(
        f"{WEB}{path}",
        "OPTIONS",
        headers={
            "Origin": "http://evil.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert status == 403
    assert not [h for h in headers if h.lower().startswith("access-control-")]


def _web_token() -> str:
    return mwaa_client(NATIVE_PORTS).create_web_login_token(Name=NAME)["WebToken"]


def test_cross_site_login_posts_are_refused(env) -> None:
    token = _web_token()
    for headers in (
        {"Origin": "http://evil.example.com"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        status, answer, body = _http(
            f"{WEB}/aws_mwaa/login",
            "POST",
            f"token={token}".encode(),
            {"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        assert status == 403, headers
        assert b"another site" in body
        # The cookie it got back is no signed-in session: /home sends it to sign in.
        cookie = answer.get("Set-Cookie", "").split(";", 1)[0]
        status, home, _ = _http(f"{WEB}/home", headers={"Cookie": cookie})
        assert status == 302 and "/login" in home["Location"], home
    # The same token from the SSO page's own origin still works (it was not spent).
    status, answer, _ = _http(
        f"{WEB}/aws_mwaa/login",
        "POST",
        f"token={token}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": WEB},
    )
    assert status == 302 and answer["Location"].endswith("/home")


def _session_cookie(base: str) -> str:
    status, headers, _ = _http(
        f"{base}/aws_mwaa/login",
        "POST",
        f"token={_web_token()}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 302
    return headers["Set-Cookie"]


def test_session_cookies_are_as_mwaas(env) -> None:
    cookie = _session_cookie(HTTPS)
    attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure"} <= attributes, cookie
    assert "samesite=lax" in cookie.lower().replace(" ", ""), cookie
    expires = next(p.split("=", 1)[1] for p in cookie.split(";") if "expires" in p.lower())
    left = (
        datetime.strptime(expires.strip(), "%a, %d-%b-%Y %H:%M:%S GMT")
        .replace(tzinfo=UTC)
        .timestamp()
    )
    assert 11.9 * 3600 < left - time.time() <= 12 * 3600 + 60, cookie
    assert "secure" not in _session_cookie(WEB).lower()


class _EvilSite(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: object) -> None:
        pass


ATTACK = """<!doctype html><html><body><script>
window.results = {};
const api = %(api)s;
async function attempt(name, url, options) {
  try { const r = await fetch(url, options); window.results[name] = "answered " + r.status; }
  catch (e) { window.results[name] = "blocked"; }
}
(async () => {
  await attempt("token_no_cors", api + "/clitoken/mwaa-local",
    {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"});
  await attempt("token_signed", api + "/clitoken/mwaa-local",
    {method: "POST", headers: {"Authorization": %(sigv4)s}, body: "{}"});
  await attempt("cli", api + "/aws_mwaa/cli",
    {method: "POST", headers: {"Authorization": "Bearer x"}, body: "version"});
  await attempt("environment", api + "/environments/mwaa-local", {});
  window.results.done = true;
})();
</script>
<form id="login" method="post" action="%(login)s"><input name="token" value="%(token)s"></form>
</body></html>"""


@pytest.fixture
def evil_site() -> Iterator[type[_EvilSite]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", EVIL_PORT), _EvilSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _EvilSite
    finally:
        server.shutdown()
        server.server_close()


def test_a_web_page_in_the_users_browser_gets_nothing(env, evil_site) -> None:
    """A page on another site (and one that rebinds its own name to 127.0.0.1) in headless
    Chromium: no token is made, no call answers it, its login post is refused."""
    started = start_chromium(
        "--host-resolver-rules=MAP evil.example.test 127.0.0.1, MAP rebind.example.test 127.0.0.1"
    )
    if started is None:
        unavailable("Debian's chromium and chromium-driver are not installed")
    driver, profile = started
    token = _web_token()
    evil_site.page = (
        ATTACK
        % {
            "api": json.dumps(WEB),
            "sigv4": json.dumps(SIGV4_SHAPED),
            "login": f"{WEB}/aws_mwaa/login",
            "token": token,
        }
    ).encode()
    before = _tokens()
    try:
        driver.get(f"http://evil.example.test:{EVIL_PORT}/attack.html")
        results = wait_until(
            lambda: driver.execute_script("return window.results.done && window.results"),
            60,
            "the page's attempts",
        )
        assert _tokens() == before, "a page in the browser made a CLI token"
        assert results["token_signed"] == "blocked", results  # preflight refused
        assert results["cli"] == "blocked", results
        assert results["environment"] == "blocked", results  # no CORS: unreadable
        driver.execute_script("document.getElementById('login').submit()")
        wait_until(lambda: "another site" in driver.page_source, 60, "the refused login")
        driver.get(f"{WEB}/home")
        assert "/login" in driver.current_url, "the page signed the browser in"
        # DNS rebinding: the page's own name, now pointing at the API, is not answered.
        driver.get(f"http://rebind.example.test:{NATIVE_PORTS['web']}/home")
        assert "is not a name this MWAA endpoint answers to" in driver.page_source
        assert driver.current_url.startswith("http://rebind.example.test")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- 4. oversized bodies are refused before they are buffered -------------------------------
def test_oversized_bodies_leave_the_apis_memory_flat(env, token) -> None:
    api = env.component("api")["pid"]
    probes = [
        ("POST", "/home", False, {}),
        ("POST", "/home", True, {}),
        ("POST", "/aws_mwaa/cli", False, {"Authorization": f"Bearer {token}"}),
        ("POST", "/aws_mwaa/cli", True, {"Authorization": f"Bearer {token}"}),
        ("POST", "/aws_mwaa/cli", True, {}),
        # An environment that does not exist: nothing may change, whatever is answered.
        ("PATCH", "/environments/probe-nothing", False, {"Authorization": SIGV4_SHAPED}),
        ("PATCH", "/environments/probe-nothing", True, {"Authorization": SIGV4_SHAPED}),
        ("POST", "/aws_mwaa/login", False, {}),
        ("POST", "/aws_mwaa/login", True, {}),
    ]
    with PeakMemory(api) as memory:
        for method, path, chunked, headers in probes:
            answer = send_body(
                NATIVE_PORTS["web"], path, 128 * MIB, chunked, headers, method=method
            )
            assert answer.status is not None and 400 <= answer.status < 500, (path, answer)
            if not chunked or path != "/home":
                assert answer.status in (401, 403, 413), (path, chunked, answer)
            if answer.status == 413:
                assert b"x-amzn-errortype: validationexception" in answer.head.lower()
    assert memory.growth_mib < 24, f"the API grew by {memory.growth_mib:.0f} MiB"
    status, body = _cli(token, "version")
    assert status == 200 and "1.10.12" in _out(body, "stdout")
