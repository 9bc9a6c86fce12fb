"""The SSO URL flow in a real browser: headless Chromium, as a person would log in."""

from __future__ import annotations

import os
import shutil
import tempfile

import boto3
import pytest
from botocore.config import Config

from tests.conftest import NATIVE_PORTS, wait_until

pytestmark = pytest.mark.native

NAME = "mwaa-local"
WEB = f"http://127.0.0.1:{NATIVE_PORTS['web']}"


def _client(key: str, secret: str = "secret"):
    return boto3.client(
        "mwaa",
        endpoint_url=WEB,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(inject_host_prefix=False),
    )


@pytest.fixture
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed in CI (.ci/run does)")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="mwaa-local-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=driver_path)
    )
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _sso(browser, token: str) -> None:
    browser.get(f"{WEB}/aws_mwaa/aws-console-sso?login=true#{token}")
    wait_until(lambda: browser.current_url.endswith("/home"), 60, "the Airflow home page")


def test_sso_url_lands_on_home_as_admin(native_env, browser) -> None:
    answer = _client("AKIDADMIN").create_web_login_token(Name=NAME)
    _sso(browser, answer["WebToken"])
    page = browser.page_source
    assert "DAGs" in page
    assert "example_bash_python" in page
    # Admin sees the Security menu; the fragment was dropped from the address.
    assert "Security" in page
    assert "#" not in browser.current_url


def test_sso_url_maps_the_viewer_role(native_env, browser) -> None:
    answer = _client("AKIDVIEWER", "viewer-secret").create_web_login_token(Name=NAME)
    assert answer["AirflowIdentity"] == "assumed-role/Viewer/vera"
    _sso(browser, answer["WebToken"])
    page = browser.page_source
    assert "DAGs" in page
    assert "List Users" not in page and ">Security<" not in page


def test_no_role_means_access_denied(native_env) -> None:
    client = _client("AKIDNOBODY", "nobody-secret")
    with pytest.raises(client.exceptions.AccessDeniedException) as caught:
        client.create_web_login_token(Name=NAME)
    assert "airflow:CreateWebLoginToken" in caught.value.response["Error"]["Message"]


def test_browser_without_token_is_sent_to_login(native_env, browser) -> None:
    browser.get(f"{WEB}/home")
    wait_until(lambda: "/login/" in browser.current_url, 30, "the login page")
    assert "Sign In" in browser.page_source
    browser.get(f"{WEB}/aws_mwaa/aws-console-sso?login=true")
    assert "No web login token" in browser.page_source
