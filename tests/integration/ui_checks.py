"""The Airflow UI through MWAA's web server hostname, as a person sees it in Chromium.

`UIChecks` holds the tests; each runtime's test module subclasses it with a `target` fixture
(test_browser_ui.py natively, test_docker_tier.py in Docker). Every test has a DAG of its
own, put into the bucket as a user would, so its evidence is its own.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.parse
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

from tests.browser import ATTEMPTS, Browser
from tests.conftest import PROJECT, Env, logs_client, run_dag_to_success, s3_client

NAME = "mwaa-local"
BUCKET = "airflow-mwaa-local"
# Airflow 1.10.12's colour for success (airflow.settings.STATE_COLORS), as the tree view fills.
GREEN = "rgb(0, 128, 0)"
# Airflow's navbar colour (its default theme), which unstyled pages lack.
NAVBAR_TEAL = "rgb(0, 122, 135)"
TWO_TASKS = '''"""A DAG of the browser tests: two chained tasks."""
from airflow import DAG
from airflow.operators.bash_operator import BashOperator
from airflow.operators.python_operator import PythonOperator
from airflow.utils.dates import days_ago

with DAG("{dag_id}", start_date=days_ago(1), schedule_interval=None, catchup=False) as dag:
    first = BashOperator(task_id="first", bash_command="echo first")
    second = PythonOperator(task_id="second", python_callable=lambda: print("second"))
    first >> second
'''

# The same DAG, edited: a third task after the second.
THREE_TASKS = TWO_TASKS.replace(
    "    first >> second\n",
    '    third = BashOperator(task_id="third", bash_command="echo third")\n'
    "    first >> second >> third\n",
)
# The fast timing parses a file nothing waits on every 10 s (environment/airflow_config.py);
# an edit must show well before that.
EDIT_SHOWN_S = 8


@dataclass(frozen=True)
class UITarget:
    runtime: str
    env: Env

    @property
    def ports(self) -> dict[str, int]:
        return self.env.ports

    @property
    def https(self) -> str:
        return f"https://localhost:{self.ports['https']}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    def mwaa(self, key: str = "AKIDADMIN", secret: str = "secret"):
        return boto3.client(
            "mwaa",
            endpoint_url=self.http,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(inject_host_prefix=False),
        )

    def dag(self, purpose: str) -> str:
        """A DAG of this test's own, in the bucket; its id."""
        dag_id = f"ui_{purpose}_{self.runtime}_{time.time_ns() % 10**8}"
        s3_client(self.ports).put_object(
            Bucket=BUCKET, Key=f"dags/ui/{dag_id}.py", Body=TWO_TASKS.format(dag_id=dag_id)
        )
        return dag_id

    def runs(self, dag_id: str) -> list[str]:
        """The rows of `list_dag_runs`' table: one per run."""
        out = self.env.airflow("list_dag_runs", dag_id)
        return [line for line in out.splitlines() if re.match(r"\s*\d+\s*\|", line)]


def sign_in(
    browser: Browser,
    target: UITarget,
    key: str = "AKIDADMIN",
    secret: str = "x",
    base: str | None = None,
) -> list:
    """MWAA's documented flow: CreateWebLoginToken, then the SSO URL on WebServerHostname.
    Returns the problems the pages showed on the way."""
    for _attempt in range(ATTEMPTS):
        # A token is good for one sign-in: a new one when the network changed on the way.
        answer = target.mwaa(key, secret).create_web_login_token(Name=NAME)
        host = base or f"https://{answer['WebServerHostname']}"
        seen = browser.visit(f"{host}/aws_mwaa/aws-console-sso?login=true#{answer['WebToken']}")

        def landed() -> str | None:
            if browser.url.endswith("/home"):
                return "home"
            return "network changed" if browser.network_changed_meanwhile() else None

        if browser.wait(landed, 60, "the Airflow home page") == "home":
            break
    browser.settle("nav, .navbar")
    return seen + browser.take_problems()


def wait_for_dag_on_home(browser: Browser, target: UITarget, dag_id: str, base: str) -> None:
    """Reload the DAGs page until the scheduler has put `dag_id` on it."""

    def listed() -> bool:
        browser.visit(f"{base}/home")
        return browser.count(f'a[href*="dag_id={dag_id}"]') > 0

    browser.wait(listed, 120, f"{dag_id} on the DAGs page")


class UIChecks:
    @pytest.fixture
    def target(self) -> UITarget:  # pragma: no cover - each runtime's module provides it
        raise NotImplementedError

    def test_sso_url_on_the_https_hostname_lands_on_a_styled_home(
        self, target: UITarget, browser: Browser
    ) -> None:
        answer = target.mwaa().create_web_login_token(Name=NAME)
        assert answer["WebServerHostname"] == f"localhost:{target.ports['https']}"
        problems = sign_in(browser, target)
        assert browser.url == f"{target.https}/home", browser.url
        assert problems == [], "\n".join(map(str, problems))
        # Styled: Airflow's navbar is fixed at the top in its theme's colour, and the
        # confirmation dialog of its base page is hidden, as only its CSS makes them.
        assert browser.style(".navbar", "position") == "fixed"
        assert browser.style(".navbar", "background-color") == NAVBAR_TEAL
        assert not browser.visible("#modal_confirm, .modal")
        cookie = next(c for c in browser.driver.get_cookies() if c["name"] == "session")
        assert cookie["secure"] and cookie["httpOnly"], cookie
        assert cookie["sameSite"] == "Lax", cookie
        # MWAA's sessions last 12 hours.
        assert 11.9 * 3600 < cookie["expiry"] - time.time() <= 12 * 3600 + 60, cookie
        shot = browser.screenshot(f"airflow-home-{target.runtime}")
        if os.environ.get("MWAA_LOCAL_UPDATE_DOCS") and target.runtime == "native":
            shutil.copy(shot, PROJECT / "docs" / "airflow-ui.png")

    def test_plain_http_keeps_its_scheme_and_port(self, target: UITarget, browser: Browser) -> None:
        problems = sign_in(browser, target, base=target.http)
        assert browser.url == f"{target.http}/home", browser.url
        assert problems == [], "\n".join(map(str, problems))
        cookie = next(c for c in browser.driver.get_cookies() if c["name"] == "session")
        assert cookie["httpOnly"] and not cookie["secure"], cookie
        assert browser.style(".navbar", "background-color") == NAVBAR_TEAL

    def test_every_page_loads_all_it_asks_for(self, target: UITarget, browser: Browser) -> None:
        dag_id = target.dag("pages")
        sign_in(browser, target)
        wait_for_dag_on_home(browser, target, dag_id, target.https)
        pages = [
            "/home",
            f"/tree?dag_id={dag_id}",
            f"/graph?dag_id={dag_id}",
            f"/duration?dag_id={dag_id}",
            f"/tries?dag_id={dag_id}",
            f"/landing_times?dag_id={dag_id}",
            f"/gantt?dag_id={dag_id}",
            f"/dag_details?dag_id={dag_id}",
            f"/code?dag_id={dag_id}",
            "/dagrun/list/",
            "/taskinstance/list/",
            "/log/list/",
            "/job/list/",
            "/slamiss/list/",
            "/variable/list/",
            "/connection/list/",
            "/pool/list/",
            "/xcom/list/",
            "/users/list/",
            "/roles/list/",
            "/version",
        ]
        seen = {}
        for page in pages:
            problems = browser.visit(target.https + page, ready=".navbar")
            seen[page] = problems
            assert browser.url.startswith(target.https), (page, browser.url)
        assert all(not p for p in seen.values()), {
            k: list(map(str, v)) for k, v in seen.items() if v
        }

    def test_a_dag_switched_on_and_triggered_in_the_ui_succeeds_in_the_tree_view(
        self, target: UITarget, browser: Browser
    ) -> None:
        dag_id = target.dag("trigger")
        sign_in(browser, target)
        wait_for_dag_on_home(browser, target, dag_id, target.https)
        # MWAA creates DAGs paused: the toggle is off until someone switches it on.
        toggle = f"#toggle-{dag_id}"
        assert browser.driver.execute_script(f"return $('{toggle}').prop('checked')") is False
        browser.click(f"div.toggle:has({toggle})")
        browser.wait(
            lambda: browser.driver.execute_script("return jQuery.active === 0"), 30, "POST"
        )
        browser.visit(f"{target.https}/home", ready=toggle)
        assert browser.driver.execute_script(f"return $('{toggle}').prop('checked')") is True

        browser.click(f'a[href*="trigger?dag_id={dag_id}"]')
        browser.settle('input[type="submit"][value="Trigger"]')
        browser.click('input[type="submit"][value="Trigger"]')  # the confirmation
        browser.settle(".alert")
        assert f"Triggered {dag_id}" in browser.driver.find_element("css selector", ".alert").text
        assert browser.url.startswith(f"{target.https}/home"), browser.url

        def all_green() -> bool:
            browser.visit(f"{target.https}/tree?dag_id={dag_id}", ready="svg.tree")
            # One run of two tasks: the run's box and one box per task, all success.
            return browser.count("rect.state") == 3 and browser.count("rect.state.success") == 3

        browser.wait(all_green, 180, f"{dag_id}'s run to turn green in the tree view")
        assert browser.style("rect.state.success", "fill") == GREEN
        assert browser.take_problems() == []

    def test_graph_view_draws_the_tasks(self, target: UITarget, browser: Browser) -> None:
        dag_id = target.dag("graph")
        sign_in(browser, target)
        wait_for_dag_on_home(browser, target, dag_id, target.https)
        problems = browser.visit(f"{target.https}/graph?dag_id={dag_id}", ready="svg g.node")
        assert problems == [], "\n".join(map(str, problems))
        nodes = browser.driver.execute_script(
            "return Array.from(document.querySelectorAll('svg g.node')).map(function (n) {"
            "  var box = n.getBBox(); return [n.textContent.trim(), box.width, box.height]; });"
        )
        assert sorted(n[0] for n in nodes) == ["first", "second"], nodes
        assert all(width > 0 and height > 0 for _name, width, height in nodes), nodes
        assert browser.count("svg g.edgePath") == 1

    def test_an_edited_dag_shows_its_new_task_in_the_graph_view_within_seconds(
        self, target: UITarget, browser: Browser
    ) -> None:
        dag_id = target.dag("edit")
        sign_in(browser, target)
        wait_for_dag_on_home(browser, target, dag_id, target.https)
        # The scheduler has just parsed the file (the DAG is listed): unless it notices the
        # edit, its next parse is the periodic one, about 10 s away.
        s3_client(target.ports).put_object(
            Bucket=BUCKET, Key=f"dags/ui/{dag_id}.py", Body=THREE_TASKS.format(dag_id=dag_id)
        )
        edited = time.monotonic()

        def tasks() -> list[str]:
            browser.visit(f"{target.https}/graph?dag_id={dag_id}", ready="svg g.node")
            return sorted(
                browser.driver.execute_script(
                    "return Array.from(document.querySelectorAll('svg g.node'))"
                    ".map(function (n) { return n.textContent.trim(); });"
                )
            )

        browser.wait(lambda: tasks() == ["first", "second", "third"], 60, "the third task")
        shown = time.monotonic() - edited
        assert shown < EDIT_SHOWN_S, f"the edit took {shown:.1f} s to reach the graph view"
        assert browser.count("svg g.edgePath") == 2

    def test_the_task_log_view_shows_the_lines_from_cloudwatch(
        self, target: UITarget, browser: Browser
    ) -> None:
        """As on MWAA, the log view of a finished task reads its stream in the Task group: a
        line put there afterwards, which the task never printed, shows up too."""
        dag_id = target.dag("tasklog")
        run_id = run_dag_to_success(target.env, dag_id)
        row = next(line for line in target.runs(dag_id) if run_id in line)
        when = row.split("|")[3].strip()
        stream = f"{dag_id}/second/{when.replace(':', '_')}/1.log"
        logs = logs_client(target.ports["logs"])

        def lines() -> str:
            try:
                events = logs.get_log_events(
                    logGroupName=f"airflow-{NAME}-Task", logStreamName=stream, startFromHead=True
                )["events"]
            except logs.exceptions.ResourceNotFoundException:
                return ""
            return "\n".join(e["message"] for e in events)

        browser.wait(lambda: "Task exited" in lines(), 60, f"{stream} in CloudWatch Logs")
        injected = f"a line put into CloudWatch Logs by the test for {dag_id}"
        logs.put_log_events(
            logGroupName=f"airflow-{NAME}-Task",
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": injected}],
        )
        sign_in(browser, target)
        query = f"dag_id={dag_id}&task_id=second&execution_date={urllib.parse.quote(when)}"
        problems = browser.visit(f"{target.https}/log?{query}", ready="#try-1")

        def shown() -> str:
            text = browser.driver.find_element("id", "try-1").text
            return text if injected in text else ""

        text = str(browser.wait(shown, 60, "the task's lines in the log view"))
        assert "Reading remote log from CloudWatch Logs" in text, text
        assert f"log stream {stream}" in text, text
        assert "INFO - second" in text, text  # what the task printed
        assert "Marking task as SUCCESS" in text, text
        browser.wait(lambda: not browser.visible("#loading-1"), 30, "the end of the log")
        problems += browser.take_problems()
        assert problems == [], "\n".join(map(str, problems))

    def test_a_viewer_cannot_trigger(self, target: UITarget, browser: Browser) -> None:
        dag_id = target.dag("viewer")
        sign_in(browser, target, "AKIDVIEWER", "viewer-secret")
        wait_for_dag_on_home(browser, target, dag_id, target.https)
        browser.visit(f"{target.https}/trigger?dag_id={dag_id}&origin=/home")
        page = browser.driver.find_element("css selector", "#mwaa-local-sign-in").text
        assert "Not allowed for your role" in page and "Viewer" in page, page
        assert browser.count('input[type="submit"][value="Trigger"]') == 0
        # The users list is Admin's only.
        browser.visit(f"{target.https}/users/list/")
        assert "Not allowed for your role" in browser.driver.page_source
        browser.take_problems()
        assert target.runs(dag_id) == [], "a Viewer's trigger created a run"

    def test_log_out_and_signed_out_browsers_see_how_to_sign_in(
        self, target: UITarget, browser: Browser
    ) -> None:
        sign_in(browser, target)
        browser.click(".navbar-right a.dropdown-toggle .fa-user")  # Bootstrap's JS opens it
        browser.wait(lambda: browser.visible('a[href="/logout/"]'), 10, "the user menu")
        browser.click('a[href="/logout/"]')
        browser.settle("#mwaa-local-sign-in")
        assert browser.url.startswith(f"{target.https}/login/"), browser.url
        browser.visit(f"{target.https}/home", ready="#mwaa-local-sign-in")
        text = browser.driver.find_element("css selector", "#mwaa-local-sign-in").text
        assert "aws mwaa create-web-login-token --name mwaa-local" in text, text
        assert "mwaa-local login" in text, text
        assert browser.count('input[name="password"]') == 0
        assert browser.style(".navbar", "background-color") == NAVBAR_TEAL
