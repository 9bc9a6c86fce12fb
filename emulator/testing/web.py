"""MWAA's web server hostname as a test talks to it: the CLI endpoint and the Airflow UI's JSON.

`cli` is MWAA's documented flow: CreateCliToken, then `POST https://{WebServerHostname}/
aws_mwaa/cli` with the token, the answer's stdout and stderr in base64. `UiSession` signs in as
MWAA's console does (CreateWebLoginToken, then `POST /aws_mwaa/login`) and reads the pages the
UI itself reads: task instances, DAG runs, task logs.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import shlex
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

HTTP_TIMEOUT_S = 300  # a CLI command may take up to 120 s on the server


class MwaaCliError(RuntimeError):
    """The CLI endpoint refused the command (MWAA answers an unsupported one with HTTP 500)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status} from /aws_mwaa/cli: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CliResult:
    """What the command printed, decoded. Unpacks as `stdout, stderr`."""

    stdout: str
    stderr: str

    def __iter__(self) -> Iterator[str]:
        return iter((self.stdout, self.stderr))


def _self_signed() -> ssl.SSLContext:
    # The environment's certificate is made for it and signed by nobody (`curl -k`).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def command_text(command: str | Sequence[str]) -> str:
    """The request body: the command without the word `airflow`; a list is quoted as a shell
    would need it (the endpoint splits the body as a POSIX shell does)."""
    return command if isinstance(command, str) else shlex.join(command)


def cli(mwaa: Any, name: str, command: str | Sequence[str]) -> CliResult:
    """Run an Airflow command through MWAA's CLI endpoint; raises MwaaCliError when refused."""
    token = mwaa.create_cli_token(Name=name)
    request = urllib.request.Request(
        f"https://{token['WebServerHostname']}/aws_mwaa/cli",
        data=command_text(command).encode(),
        headers={"Authorization": f"Bearer {token['CliToken']}", "Content-Type": "text/plain"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(
            request, timeout=HTTP_TIMEOUT_S, context=_self_signed()
        ) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc).get("message", "")
        except ValueError:
            message = exc.reason
        raise MwaaCliError(exc.code, message) from None
    return CliResult(
        base64.b64decode(body.get("stdout", "")).decode(errors="replace"),
        base64.b64decode(body.get("stderr", "")).decode(errors="replace"),
    )


class UiSession:
    """A signed-in browser session on the Airflow UI, through the environment's API."""

    def __init__(self, base_url: str, web_token: Callable[[], str]):
        self.base_url = base_url.rstrip("/")
        self._web_token = web_token
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self._signed_in = False

    def sign_in(self) -> None:
        form = urllib.parse.urlencode({"token": self._web_token()}).encode()
        with self._opener.open(
            f"{self.base_url}/aws_mwaa/login", data=form, timeout=HTTP_TIMEOUT_S
        ) as answer:
            if not answer.url.endswith("/home"):
                raise RuntimeError(f"web login ended at {answer.url}, not /home")
        self._signed_in = True

    def get_json(self, path: str, **params: Any) -> Any:
        """GET a JSON page of the UI, signing in (again) when the session is missing."""
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        for attempt in range(2):
            if not self._signed_in:
                self.sign_in()
            with self._opener.open(url, timeout=HTTP_TIMEOUT_S) as answer:
                body = answer.read()
                content_type = answer.headers.get("Content-Type", "")
            if "json" in content_type or body[:1] in (b"{", b"["):
                return json.loads(body)
            # The sign-in page instead: the session has gone (12 hours, or a restart).
            self._signed_in = False
            if attempt:
                raise RuntimeError(f"{path}: the UI answered with a page, not JSON")
        return None
