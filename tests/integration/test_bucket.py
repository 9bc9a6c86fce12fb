"""The bucket feeds the native environment as on MWAA: DAGs mirrored by the watcher,
plugins.zip and requirements.txt applied by UpdateEnvironment, with the failures MWAA has."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import urllib.request
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    NATIVE_PORTS,
    PROJECT,
    mwaa_client,
    run_dag_to_success,
    s3_client,
    wait_for_update,
    wait_until,
)
from tests.unit.test_requirements import make_wheel

pytestmark = pytest.mark.native

NAME = "mwaa-local"
BUCKET = "airflow-mwaa-local"
WEB = f"http://127.0.0.1:{NATIVE_PORTS['web']}"

LOADER = '''\
"""Loads the team folders' DAGs, as MWAA users do, and exports them into globals()."""
import os

from airflow.models import DagBag

HERE = os.path.dirname(os.path.abspath(__file__))
for team in ("team_a",):
    bag = DagBag(os.path.join(HERE, team), include_examples=False)
    if bag.import_errors:
        raise ImportError(str(bag.import_errors))
    for dag_id, dag in bag.dags.items():
        globals()[dag_id] = dag
'''
TEAM_DAG = """\
import os
from datetime import datetime

from airflow import DAG
from airflow.operators.python_operator import PythonOperator

SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql", "query.sql")


def read_sql():
    with open(SQL) as handle:
        assert handle.read().startswith("select"), "the .sql file travelled with the DAG"


with DAG("{dag_id}", start_date=datetime(2020, 1, 1), schedule_interval=None) as dag:
    PythonOperator(task_id="read_sql", python_callable=read_sql)
"""
# MWAA's user guide loads DAGs of a subfolder this way; it relies on `~` being AIRFLOW_HOME.
# (Airflow's safe mode parses only files that mention both "airflow" and "DAG": the docstring.)
HOME_LOADER = """\
\"\"\"Adds the DAGs of ~/dags/sample, as MWAA's user guide shows.\"\"\"
import os
from airflow.models import DagBag

dags_dirs = ['~/dags/sample']

for dir in dags_dirs:
    dag_bag = DagBag(os.path.expanduser(dir))

    if dag_bag:
        for dag_id, dag in dag_bag.dags.items():
            globals()[dag_id] = dag
"""
HOME_SAMPLE_DAG = """\
import os
from datetime import datetime

from airflow import DAG
from airflow.operators.python_operator import PythonOperator


def home_is_airflow_home():
    assert os.path.expanduser("~") == os.environ["AIRFLOW_HOME"], os.path.expanduser("~")
    assert os.path.isdir(os.path.expanduser("~/dags/sample"))


with DAG("home_sample", start_date=datetime(2020, 1, 1), schedule_interval=None) as dag:
    PythonOperator(task_id="check_home", python_callable=home_is_airflow_home)
"""
# The scheduler skips this folder: its DAGs are only seen through the loader above. (Not
# sample/: Airflow 1.10.12's scheduler deletes the serialized DAG of a file its own listing
# leaves out, so trigger_dag would find home_sample only now and then.)
AIRFLOWIGNORE = "team_a/\n"
PLAIN_DAG = """\
from datetime import datetime

from airflow import DAG
from airflow.operators.dummy_operator import DummyOperator

with DAG("{dag_id}", start_date=datetime(2020, 1, 1), schedule_interval=None) as dag:
    DummyOperator(task_id="noop")
"""


@pytest.fixture(scope="module")
def env(native_env):
    return native_env[0]


@pytest.fixture(scope="module")
def mwaa(native_env):
    client = mwaa_client(NATIVE_PORTS)
    wait_until(
        lambda: client.get_environment(Name=NAME)["Environment"]["Status"] == "AVAILABLE",
        300,
        "the environment to be AVAILABLE",
    )
    return client


@pytest.fixture(scope="module")
def s3(native_env):
    return s3_client(NATIVE_PORTS)


def dags_folder(env) -> Path:
    return env.home / "airflow" / "dags"


def listed_dags(env) -> set[str]:
    out = env.ok("cli", "list_dags")
    return set(out.split())


def put(s3, key: str, body: str | bytes) -> str:
    data = body.encode() if isinstance(body, str) else body
    return s3.put_object(Bucket=BUCKET, Key=key, Body=data)["VersionId"]


# -- DAGs ------------------------------------------------------------------------------------
def test_nested_folders_and_a_dagbag_loader_reach_airflow(env, s3) -> None:
    put(s3, "dags/loader.py", LOADER)
    put(s3, "dags/.airflowignore", AIRFLOWIGNORE)  # the loader, not the scheduler, reads it
    put(s3, "dags/team_a/one.py", TEAM_DAG.format(dag_id="team_a_one"))
    put(s3, "dags/team_a/deeper/two.py", TEAM_DAG.format(dag_id="team_a_two"))
    put(s3, "dags/team_a/sql/query.sql", "select 1\n")
    put(s3, "dags/team_a/deeper/sql/query.sql", "select 2\n")
    put(s3, "dags/nested/deep/er/plain.py", PLAIN_DAG.format(dag_id="nested_plain"))

    wanted = {"team_a_one", "team_a_two", "nested_plain", "example_bash_python"}
    wait_until(lambda: wanted <= listed_dags(env), 60, f"{wanted} in list_dags")
    folder = dags_folder(env)
    assert (folder / "team_a" / "deeper" / "sql" / "query.sql").read_text() == "select 2\n"
    assert (folder / ".airflowignore").read_text() == AIRFLOWIGNORE
    # The loader's DAGs run on the workers too.
    run_dag_to_success(env, "team_a_two")


def put_home_loader(s3) -> None:
    """MWAA's `DagBag(os.path.expanduser('~/dags/sample'))` loader and one DAG for it."""
    put(s3, "dags/.airflowignore", AIRFLOWIGNORE)
    put(s3, "dags/sample/home_sample.py", HOME_SAMPLE_DAG)
    put(s3, "dags/home_loader.py", HOME_LOADER)


def test_home_is_the_airflow_home_so_the_guides_loader_works(env, s3) -> None:
    put_home_loader(s3)
    wait_until(lambda: "home_sample" in listed_dags(env), 60, "home_sample in list_dags")
    run_dag_to_success(env, "home_sample")  # its task checks `~` on the worker


def test_deletions_are_mirrored(env, s3) -> None:
    put(s3, "dags/doomed/deep/doomed.py", PLAIN_DAG.format(dag_id="doomed"))
    wait_until(lambda: "doomed" in listed_dags(env), 60, "doomed in list_dags")
    s3.delete_object(Bucket=BUCKET, Key="dags/doomed/deep/doomed.py")
    wait_until(lambda: "doomed" not in listed_dags(env), 60, "doomed gone from list_dags")
    assert not (dags_folder(env) / "doomed").exists()  # the folders it left empty went too
    assert (dags_folder(env) / "example_dag.py").exists()


def _s3_pid(env) -> int:
    return int(env.component("s3")["pid"])


def _watcher(env) -> dict:
    return json.loads((env.home / "environment" / "watcher.json").read_text())


def test_s3_stopped_mid_sync_deletes_nothing_and_sync_resumes(env, s3) -> None:
    folder = dags_folder(env)
    before = {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}
    assert Path("example_dag.py") in before
    big = os.urandom(96 * 1024 * 1024)
    staging = folder / ".mwaa-local-staging"

    def downloading() -> bool:
        return any(p.stat().st_size > 0 for p in staging.glob("*.partial"))

    pid = _s3_pid(env)  # before: asking `status` takes longer than the download
    put(s3, "dags/data/big.bin", big)
    wait_until(downloading, 60, "the watcher to be downloading big.bin", interval=0.005)
    os.kill(pid, signal.SIGSTOP)  # S3 stops answering mid-download
    try:
        wait_until(lambda: _watcher(env).get("last_error"), 60, "the watcher to notice S3 is gone")
        watcher = next(c for c in env.status()["Components"] if c["name"] == "watcher")
        assert not watcher["healthy"], watcher
        after = {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}
        assert before <= after, f"deleted while S3 was unreachable: {before - after}"
        assert not (folder / "data" / "big.bin").exists()  # never half a file
    finally:
        os.kill(pid, signal.SIGCONT)
    target = folder / "data" / "big.bin"
    wait_until(lambda: target.exists() and not _watcher(env)["last_error"], 120, "the resync")
    assert hashlib.md5(target.read_bytes()).digest() == hashlib.md5(big).digest()
    s3.delete_object(Bucket=BUCKET, Key="dags/data/big.bin")
    wait_until(lambda: not target.exists(), 60, "big.bin deleted")


# -- plugins.zip and requirements.txt --------------------------------------------------------
PLUGIN = """\
from airflow.models import BaseOperator
from airflow.plugins_manager import AirflowPlugin
from flask_appbuilder import BaseView, expose

VERSION = "{version}"


class HelloOperator(BaseOperator):
    def execute(self, context):
        print("hello from plugin", VERSION)
        return VERSION


class HelloView(BaseView):
    route_base = "/hello_plugin"
    default_view = "hello"  # the menu links to it

    @expose("/")
    def hello(self):
        return "hello plugin view " + VERSION


class HelloPlugin(AirflowPlugin):
    name = "hello_plugin"
    operators = [HelloOperator]
    appbuilder_views = [{{"name": "Hello", "category": "Plugins", "view": HelloView()}}]
"""
PLUGIN_DAG = """\
from datetime import datetime

from airflow import DAG
from airflow.operators.python_operator import PythonOperator
from hello_plugin import HelloOperator


def use_requirement():
    import mwaa_local_probe  # installed from requirements.txt on the workers

    print("probe", mwaa_local_probe.VERSION)


with DAG("uses_plugin", start_date=datetime(2020, 1, 1), schedule_interval=None) as dag:
    HelloOperator(task_id="hello") >> PythonOperator(
        task_id="probe", python_callable=use_requirement
    )
"""
REQUIREMENTS = (
    "# wheels shipped in plugins.zip, as MWAA's guide does it\n"
    "--no-index\n--find-links /usr/local/airflow/plugins\nmwaa_local_probe==1.0\n"
)


def make_project(root: Path, plugin_version: str) -> Path:
    """A project folder as `mwaa-local deploy` reads it."""
    for name in ("environment.json", ".env"):
        shutil.copy(PROJECT / name, root / name)
    (root / "dags").mkdir()
    shutil.copy(PROJECT / "dags" / "example_dag.py", root / "dags" / "example_dag.py")
    (root / "dags" / "uses_plugin.py").write_text(PLUGIN_DAG)
    (root / "plugins").mkdir()
    (root / "plugins" / "hello_plugin.py").write_text(PLUGIN.format(version=plugin_version))
    make_wheel(root / "plugins", "mwaa_local_probe", "1.0")
    (root / "requirements").mkdir()
    (root / "requirements" / "requirements.txt").write_text(REQUIREMENTS)
    return root


def plugin_view(mwaa, web: str = WEB) -> str:
    """The plugin's page in the UI, signed in as a user would be."""
    import http.cookiejar

    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    token = mwaa.create_web_login_token(Name=NAME)["WebToken"]
    login = urllib.request.Request(
        f"{web}/aws_mwaa/login", data=f"token={token}".encode(), method="POST"
    )
    browser.open(login, timeout=30).close()
    with browser.open(f"{web}/hello_plugin/", timeout=30) as page:
        return page.read().decode()


@pytest.fixture(scope="module")
def deployed(env, mwaa, tmp_path_factory) -> tuple[dict, Path]:
    """`mwaa-local deploy --wait` of a project with a plugin, a wheel and requirements.txt."""
    project = make_project(tmp_path_factory.mktemp("project"), "v1")
    result = env.run("deploy", "--wait", MWAA_LOCAL_PROJECT_DIR=str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "+ dags/uses_plugin.py" in result.stdout
    assert "PluginsS3ObjectVersion" in result.stdout
    assert "RequirementsS3ObjectVersion" in result.stdout
    environment = mwaa.get_environment(Name=NAME)["Environment"]
    assert environment["Status"] == "AVAILABLE", environment
    assert environment["LastUpdate"]["Status"] == "SUCCESS"
    return environment, project


def _pythonpath(env, component: str) -> str:
    """PYTHONPATH of the component's Airflow process, as it runs."""
    import psutil

    leader = psutil.Process(env.component(component)["pid"])
    return leader.children()[0].environ().get("PYTHONPATH", "")


def test_plugin_and_requirement_work_after_an_update(env, mwaa, deployed) -> None:
    wait_until(lambda: "uses_plugin" in listed_dags(env), 60, "uses_plugin in list_dags")
    run_dag_to_success(env, "uses_plugin")
    # The web server loaded the plugin's view too.
    assert plugin_view(mwaa) == "hello plugin view v1"
    log = env.ok("logs", "requirements")
    assert "mwaa_local_probe" in log or "mwaa-local-probe" in log
    # As on MWAA with Airflow 1.10.12: the packages reach the scheduler and the workers (the
    # run above imported one in a task), not the web server. (Celery rewrites its process
    # title over its environment, so a worker's cannot be read this way.)
    version = deployed[0]["RequirementsS3ObjectVersion"]
    assert f"requirements/{version}" in _pythonpath(env, "scheduler")
    assert "requirements/" not in _pythonpath(env, "webserver")


def test_the_same_deploy_again_changes_nothing(env, deployed) -> None:
    result = env.run("deploy", MWAA_LOCAL_PROJECT_DIR=str(deployed[1]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing changed" in result.stdout


def test_a_bad_zip_fails_the_update_and_the_old_plugin_keeps_working(
    env, mwaa, s3, deployed
) -> None:
    bad = put(s3, "plugins.zip", b"PK\x03\x04 this is not a zip file")
    mwaa.update_environment(Name=NAME, PluginsS3ObjectVersion=bad)
    environment = wait_for_update(mwaa, NAME)
    assert environment["Status"] == "UPDATE_FAILED"
    assert environment["LastUpdate"]["Status"] == "FAILED"
    assert environment["LastUpdate"]["Error"]["ErrorCode"] == "INCORRECT_PLUGINS"
    assert "not a valid zip" in environment["LastUpdate"]["Error"]["ErrorMessage"]
    assert environment["PluginsS3ObjectVersion"] == deployed[0]["PluginsS3ObjectVersion"]
    run_dag_to_success(env, "uses_plugin")
    assert plugin_view(mwaa) == "hello plugin view v1"


def test_a_failing_install_fails_the_update_and_keeps_the_old_packages(
    env, mwaa, s3, deployed
) -> None:
    broken = put(s3, "requirements.txt", "--no-index\nno-such-package-anywhere==1.0\n")
    mwaa.update_environment(Name=NAME, RequirementsS3ObjectVersion=broken)
    environment = wait_for_update(mwaa, NAME)
    assert environment["Status"] == "UPDATE_FAILED"
    assert environment["LastUpdate"]["Error"]["ErrorCode"] == "INCORRECT_REQUIREMENTS"
    assert environment["RequirementsS3ObjectVersion"] == deployed[0]["RequirementsS3ObjectVersion"]
    assert "no-such-package-anywhere" in env.ok("logs", "requirements")
    run_dag_to_success(env, "uses_plugin")


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("PluginsS3ObjectVersion", "plugins.zip"),
        ("RequirementsS3ObjectVersion", "requirements.txt"),
    ],
)
def test_a_version_that_does_not_exist_is_refused(mwaa, field: str, key: str) -> None:
    before = mwaa.get_environment(Name=NAME)["Environment"]
    with pytest.raises(ClientError) as caught:
        mwaa.update_environment(Name=NAME, **{field: "no-such-version"})
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == f"Unable to read version no-such-version of file {key}"
    after = mwaa.get_environment(Name=NAME)["Environment"]
    assert (after["Status"], after.get(field)) == (before["Status"], before.get(field))


def test_a_bucket_without_versioning_is_refused(mwaa, s3) -> None:
    s3.create_bucket(Bucket="airflow-unversioned")
    with pytest.raises(ClientError) as caught:
        mwaa.update_environment(Name=NAME, SourceBucketArn="arn:aws:s3:::airflow-unversioned")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "versioning" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        mwaa.update_environment(Name=NAME, SourceBucketArn="arn:aws:s3:::my-dags")
    assert "SourceBucketArn" in caught.value.response["Error"]["Message"]
    assert mwaa.get_environment(Name=NAME)["Environment"]["SourceBucketArn"].endswith(BUCKET)


def _airflow_processes(env) -> dict[str, set[int]]:
    """The Airflow processes under each component (they change when it restarts)."""
    import psutil

    found = {}
    for name in ("scheduler", "webserver", "worker-1"):
        leader = psutil.Process(env.component(name)["pid"])
        found[name] = {p.pid for p in leader.children()}
    return found


def test_zip_is_checked_before_anything_restarts(env, mwaa, s3) -> None:
    """A zip whose entries would leave the plugins folder is refused like a corrupt one:
    nothing of it is written anywhere, and no component restarts for it."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("../escape.py", "x = 1\n")
    version = put(s3, "plugins.zip", data.getvalue())
    before = _airflow_processes(env)
    mwaa.update_environment(Name=NAME, PluginsS3ObjectVersion=version)
    environment = wait_for_update(mwaa, NAME)
    assert environment["Status"] == "UPDATE_FAILED"
    assert "leaves the folder" in environment["LastUpdate"]["Error"]["ErrorMessage"]
    assert environment["PluginsS3ObjectVersion"] != version
    assert not list(env.home.rglob("escape.py")), "an entry left the plugins folder"
    assert _airflow_processes(env) == before, "a component restarted for a refused zip"
