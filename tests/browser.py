"""Headless Chromium as a person's browser: what a page loaded, how it looks, what it does.

Every request the page makes is read from Chromium's own network log (performance log), and
every console error from its browser log, so a test sees what failed to load. A failing test
gets a screenshot (see conftest.py's `browser` fixture).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Chromium's flags for a closed network (../shared: background networking would be refused).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1366,900",
    # The environment's HTTPS certificate is self-signed, made per environment.
    "--ignore-certificate-errors",
)
ARTIFACTS = Path(
    os.environ.get("MWAA_LOCAL_TEST_ARTIFACTS", Path(__file__).resolve().parent / "artifacts")
)


# Chromium aborts what a page is loading when the machine's network changes: on the test
# machines, when the other lane's Docker network comes up. Not the page's fault: it is loaded
# again (at most this many times), and any other problem still counts.
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"
ATTEMPTS = 3


@dataclass
class Problem:
    """A request that failed, or an error the page's console printed."""

    kind: str  # "http 404", "failed net::ERR_...", "console"
    url: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.url} {self.detail}".strip()


def network_changed(problems: list[Problem]) -> bool:
    return any(NETWORK_CHANGED in problem.kind for problem in problems)


@dataclass
class Browser:
    driver: Any
    problems: list[Problem] = field(default_factory=list)

    # -- what the page did ----------------------------------------------------------------
    def _drain(self) -> list[Problem]:
        found: list[Problem] = []
        urls: dict[str, str] = {}
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message["method"], message.get("params", {})
            if method == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
            elif method == "Network.responseReceived":
                response = params["response"]
                if response["url"].startswith("http") and response["status"] >= 400:
                    found.append(Problem(f"http {response['status']}", response["url"]))
            elif method == "Network.loadingFailed":
                url = urls.get(params["requestId"], "?")
                if url.startswith("http"):
                    found.append(Problem(f"failed {params.get('errorText')}", url))
        for entry in self.driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                found.append(Problem("console", entry.get("source", ""), entry["message"]))
        return found

    def visit(self, url: str, ready: str | None = None, timeout: float = 60) -> list[Problem]:
        """Open `url` and wait until it has loaded (and `ready`, a CSS selector, is on it);
        the problems seen meanwhile."""
        self._drain()
        for _attempt in range(ATTEMPTS):
            self.driver.get(url)
            self.settle(None, timeout)  # Chromium's own error page completes too
            found = self._drain()
            if not network_changed(found):
                break
        self.problems.extend(found)
        self.settle(ready, timeout)
        return self.take_problems()

    def settle(self, ready: str | None = None, timeout: float = 60) -> None:
        """Wait for the document, its jQuery requests and `ready` (a CSS selector)."""
        script = (
            "return document.readyState === 'complete'"
            " && (typeof jQuery === 'undefined' || jQuery.active === 0)"
            + (f" && document.querySelector({json.dumps(ready)}) !== null" if ready else "")
        )
        self.wait(lambda: self.driver.execute_script(script), timeout, f"{ready or 'the page'}")

    def network_changed_meanwhile(self) -> bool:
        """Whether the machine's network changed under what the page loads; if so, what it
        saw is dropped (the caller starts again)."""
        self.problems.extend(self._drain())
        if not network_changed(self.problems):
            return False
        self.problems = []
        return True

    def take_problems(self) -> list[Problem]:
        self.problems.extend(self._drain())
        for _attempt in range(ATTEMPTS - 1):
            if not network_changed(self.problems):
                break
            self.problems = []
            self.driver.refresh()
            self.settle()
            self.problems.extend(self._drain())
        found, self.problems = self.problems, []
        return found

    # -- how it looks -------------------------------------------------------------------------
    def style(self, selector: str, prop: str) -> str:
        value = self.driver.execute_script(
            "var e = document.querySelector(arguments[0]);"
            "return e ? getComputedStyle(e).getPropertyValue(arguments[1]) : null;",
            selector,
            prop,
        )
        assert value is not None, f"no element matches {selector} on {self.driver.current_url}"
        return value

    def count(self, selector: str) -> int:
        return self.driver.execute_script(
            "return document.querySelectorAll(arguments[0]).length;", selector
        )

    def visible(self, selector: str) -> bool:
        return bool(
            self.driver.execute_script(
                "var e = document.querySelector(arguments[0]);"
                "return !!e && e.offsetParent !== null && getComputedStyle(e).visibility !== "
                "'hidden';",
                selector,
            )
        )

    def click(self, selector: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, selector).click()

    def wait(self, condition: Callable[[], object], timeout: float, what: str) -> object:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = condition()
            except Exception as exc:  # noqa: BLE001 - the page may be between loads
                last = exc
            if last and not isinstance(last, Exception):
                return last
            time.sleep(0.25)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")

    @property
    def url(self) -> str:
        return self.driver.current_url

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def start_chromium(*extra_flags: str) -> tuple[Any, str] | None:
    """A Chromium session with its network and console logs on (and `extra_flags`); None
    without Chromium."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        return None
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="mwaa-local-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, *extra_flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=driver_path)
    )
    driver.set_page_load_timeout(60)
    return driver, profile
