"""The Airflow UI and web login through the native environment's web server hostname, in
headless Chromium (the checks themselves: ui_checks.py, shared with the Docker tier)."""

from __future__ import annotations

import pytest

from tests.browser import Browser
from tests.integration.ui_checks import NAME, UIChecks, UITarget

pytestmark = pytest.mark.native


class TestNativeUI(UIChecks):
    @pytest.fixture
    def target(self, native_env) -> UITarget:
        return UITarget("native", native_env[0])


def test_no_role_means_access_denied(native_env) -> None:
    client = UITarget("native", native_env[0]).mwaa("AKIDNOBODY", "nobody-secret")
    with pytest.raises(client.exceptions.AccessDeniedException) as caught:
        client.create_web_login_token(Name=NAME)
    assert "airflow:CreateWebLoginToken" in caught.value.response["Error"]["Message"]


def test_sso_page_without_a_token_says_how_to_get_one(native_env, browser: Browser) -> None:
    target = UITarget("native", native_env[0])
    browser.visit(f"{target.https}/aws_mwaa/aws-console-sso?login=true", ready="#state")
    text = browser.driver.find_element("css selector", "#state").text
    assert "No web login token" in text and "create-web-login-token" in text, text


def test_mwaa_local_login_prints_the_consoles_https_url(native_env, browser: Browser) -> None:
    env, _ = native_env
    target = UITarget("native", env)
    url = env.ok("login").strip()
    assert url.startswith(f"{target.https}/aws_mwaa/aws-console-sso?login=true#"), url
    browser.visit(url)
    browser.wait(lambda: browser.url == f"{target.https}/home", 60, "the home page over HTTPS")
    browser.settle(".navbar")
    plain = env.ok("login", "--http").strip()
    assert plain.startswith(f"{target.http}/aws_mwaa/aws-console-sso?login=true#"), plain
    browser.visit(plain)
    browser.wait(lambda: browser.url == f"{target.http}/home", 60, "the home page over HTTP")
