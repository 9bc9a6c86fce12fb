"""MWAA's API on the native environment, through real clients: boto3, the AWS CLI, curl."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    NATIVE_PORTS,
    PROJECT,
    curl_cli,
    mwaa_client,
    s3_client,
    unavailable,
    wait_for_update,
    wait_until,
)

pytestmark = pytest.mark.native

NAME = "mwaa-local"
WEB = f"http://127.0.0.1:{NATIVE_PORTS['web']}"
AWS = PROJECT / ".venv-servers" / "bin" / "aws"


@pytest.fixture(scope="module")
def mwaa(native_env):
    client = mwaa_client(NATIVE_PORTS)
    wait_until(
        lambda: client.get_environment(Name=NAME)["Environment"]["Status"] == "AVAILABLE",
        60,
        "GetEnvironment to report AVAILABLE",
    )
    return client


def post_cli(token: str, body: bytes, url: str = WEB) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/aws_mwaa/cli",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def decoded(body: dict, stream: str) -> str:
    return base64.b64decode(body[stream]).decode()


def test_get_environment_has_mwaa_shape(mwaa) -> None:
    env = mwaa.get_environment(Name=NAME)["Environment"]
    assert env["Name"] == NAME
    assert env["Arn"] == f"arn:aws:airflow:us-east-1:000000000000:environment/{NAME}"
    assert env["Status"] == "AVAILABLE"
    assert env["AirflowVersion"] == "1.10.12"
    assert env["EnvironmentClass"] == "mw1.small"
    assert (env["MinWorkers"], env["MaxWorkers"]) == (1, 3)
    assert env["SourceBucketArn"] == "arn:aws:s3:::airflow-mwaa-local"
    assert env["WebserverUrl"] == f"localhost:{NATIVE_PORTS['https']}"
    assert env["CreatedAt"].year >= 2026  # botocore parsed an epoch-seconds timestamp
    assert env["LoggingConfiguration"]["TaskLogs"]["CloudWatchLogGroupArn"].endswith(
        f"log-group:airflow-{NAME}-Task"
    )
    assert env["Tags"] == {"project": "mwaa-local"}


def test_unknown_environment_is_resource_not_found(mwaa) -> None:
    with pytest.raises(ClientError) as caught:
        mwaa.get_environment(Name="nope")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(mwaa.exceptions.ResourceNotFoundException):
        mwaa.create_cli_token(Name="nope")


def test_list_environments_paginates(mwaa) -> None:
    """More environments than a page holds (records of the test's own beside this one):
    boto3's paginator follows NextToken through every page."""
    from emulator.environment.store import Store

    assert mwaa.list_environments()["Environments"] == [NAME]
    store = Store(f"postgresql://airflow:airflow@127.0.0.1:{NATIVE_PORTS['postgres']}/airflow")
    extra = [f"zz-http-page-{i}" for i in range(3)]
    for name in extra:
        store.create(name, {"Name": name}, "AVAILABLE")
    try:
        pages = list(
            mwaa.get_paginator("list_environments").paginate(PaginationConfig={"PageSize": 1})
        )
    finally:
        for name in extra:
            store.delete(name)
    assert len(pages) == 4
    assert all("NextToken" in page for page in pages[:-1])
    assert [name for page in pages for name in page["Environments"]] == [NAME, *extra]
    with pytest.raises(ClientError) as caught:
        mwaa.list_environments(MaxResults=26)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_tags(mwaa) -> None:
    arn = mwaa.get_environment(Name=NAME)["Environment"]["Arn"]
    mwaa.tag_resource(ResourceArn=arn, Tags={"team": "data", "cost-centre": "42"})
    assert mwaa.list_tags_for_resource(ResourceArn=arn)["Tags"] == {
        "project": "mwaa-local",
        "team": "data",
        "cost-centre": "42",
    }
    mwaa.untag_resource(ResourceArn=arn, tagKeys=["team", "cost-centre"])
    assert mwaa.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"project": "mwaa-local"}


def test_invoke_rest_api_explains_it_needs_airflow_2(mwaa) -> None:
    with pytest.raises(ClientError) as caught:
        mwaa.invoke_rest_api(Name=NAME, Path="/dags", Method="GET")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "Airflow 2" in caught.value.response["Error"]["Message"]


def test_host_prefixes_botocore_adds_are_accepted(mwaa) -> None:
    # botocore prefixes api. and env. to any endpoint's host; the server must not care (other
    # names are refused: tests/integration/test_security.py). Any request in SigV4's shape is
    # accepted unless strict mode is on.
    for host in ("api.localhost", "env.localhost:8080", "api.127.0.0.1"):
        request = urllib.request.Request(
            f"{WEB}/environments/{NAME}",
            headers={
                "Host": host,
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/"
                "airflow/aws4_request, SignedHeaders=host, Signature=" + "0" * 64,
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["Environment"]["Name"] == NAME


def test_cli_version_and_list_dags_through_boto3_token(mwaa) -> None:
    token = mwaa.create_cli_token(Name=NAME)
    assert token["WebServerHostname"] == f"localhost:{NATIVE_PORTS['https']}"
    status, body = post_cli(token["CliToken"], b"version")
    assert status == 200
    assert "1.10.12" in decoded(body, "stdout")
    status, body = post_cli(token["CliToken"], b"list_dags")
    assert status == 200
    assert "example_bash_python" in decoded(body, "stdout")


def test_documented_curl_example_over_https(mwaa) -> None:
    token = mwaa.create_cli_token(Name=NAME)
    body = curl_cli(token["WebServerHostname"], token["CliToken"], "list_dags")
    assert "example_bash_python" in decoded(body, "stdout")


def test_airflow_error_comes_back_in_stderr(mwaa) -> None:
    token = mwaa.create_cli_token(Name=NAME)["CliToken"]
    status, body = post_cli(token, b"list_tasks no_such_dag")
    assert status == 200
    assert "no_such_dag" in decoded(body, "stderr")


def test_quotes_are_split_like_a_shell_but_nothing_is_executed(mwaa, tmp_path: Path) -> None:
    token = mwaa.create_cli_token(Name=NAME)["CliToken"]
    marker = tmp_path / "pwned"
    for body in (
        f"version; touch {marker}",
        f"version && touch {marker}",
        f"version $(touch {marker})",
        f"version `touch {marker}`",
        f"version | touch {marker}",
    ):
        status, answer = post_cli(token, body.encode())
        # Either refused before Airflow ("version;" is no command) or Airflow's own complaint
        # about extra words: never a shell.
        if status == 500:
            assert "allow-list" in answer["message"]
        else:
            assert status == 200
            assert "unrecognized arguments" in decoded(answer, "stderr")
    assert not marker.exists()
    status, answer = post_cli(token, b'variables --set greeting "hello world"')
    assert status == 200, answer
    status, answer = post_cli(token, b"variables --get greeting")
    assert decoded(answer, "stdout").strip().splitlines()[-1] == "hello world"


@pytest.mark.parametrize(
    "command",
    [
        "initdb",
        "resetdb -y",
        "shell",
        "connections --list",
        "create_user -r Admin -u x -e x -f x -l x -p x",
        "no_such_command",
    ],
)
def test_unsupported_commands_are_refused_with_500(mwaa, command: str) -> None:
    token = mwaa.create_cli_token(Name=NAME)["CliToken"]
    status, body = post_cli(token, command.encode())
    assert status == 500
    assert command.split()[0] in body["message"]


def test_bad_tokens_are_refused(mwaa) -> None:
    assert post_cli("forged-token", b"version")[0] == 403
    request = urllib.request.Request(f"{WEB}/aws_mwaa/cli", data=b"version", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401


def test_oversized_body_is_refused(mwaa) -> None:
    token = mwaa.create_cli_token(Name=NAME)["CliToken"]
    status, body = post_cli(token, b"version " + b"x" * 20000)
    assert status == 413


def test_aws_cli_unchanged_scripts(mwaa) -> None:
    if not AWS.exists():
        unavailable("the AWS CLI is installed by `make venv` into .venv-servers")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "AWS_ENDPOINT_URL_MWAA": WEB,
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDCLI",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    got = json.loads(
        subprocess.run(
            [str(AWS), "mwaa", "get-environment", "--name", NAME],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert got["Environment"]["Status"] == "AVAILABLE"
    token = json.loads(
        subprocess.run(
            [str(AWS), "mwaa", "create-cli-token", "--name", NAME],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    status, body = post_cli(token["CliToken"], b"version")
    assert status == 200 and "1.10.12" in decoded(body, "stdout")


def test_mwaa_local_cli_and_env_commands(native_env) -> None:
    env, _ = native_env
    out = env.ok("cli", "list_dags")
    assert "example_bash_python" in out
    exports = env.ok("env")
    assert f"export AWS_ENDPOINT_URL_MWAA=http://127.0.0.1:{NATIVE_PORTS['web']}" in exports
    assert "export AWS_DISABLE_HOST_PREFIX_INJECTION=true" in exports
    assert f"export AWS_ENDPOINT_URL_S3=http://127.0.0.1:{NATIVE_PORTS['s3']}" in exports


def test_web_login_token_gives_an_airflow_session(mwaa) -> None:
    import http.cookiejar

    answer = mwaa.create_web_login_token(Name=NAME)
    assert answer["AirflowIdentity"] == "user/AKIDTEST"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(
        urllib.request.Request(
            f"{WEB}/aws_mwaa/login", data=f"token={answer['WebToken']}".encode(), method="POST"
        ),
        timeout=30,
    ) as page:
        assert page.url.endswith("/home")
    assert "session" in {c.name for c in jar}
    # The session opens what needs one (the user's own profile); nobody else gets in.
    with opener.open(f"{WEB}/users/userinfo/", timeout=30) as profile:
        assert profile.url == f"{WEB}/users/userinfo/"  # not sent to sign in
    # The proxy keeps no one's cookies: a client without a session is sent to sign in.
    with urllib.request.urlopen(f"{WEB}/users/userinfo/", timeout=30) as anonymous:
        assert "/login/" in anonymous.url
    # Single use: the same token again is refused.
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{WEB}/aws_mwaa/login", data=f"token={answer['WebToken']}".encode(), method="POST"
            ),
            timeout=30,
        )
    assert caught.value.code == 403


def test_update_environment_applies_configuration(mwaa) -> None:
    before = mwaa.get_environment(Name=NAME)["Environment"]
    options = {**before["AirflowConfigurationOptions"], "webserver.navbar_color": "#ab12cd"}
    answer = mwaa.update_environment(Name=NAME, AirflowConfigurationOptions=options)
    assert answer["Arn"] == before["Arn"]
    assert mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "UPDATING"

    env = wait_for_update(mwaa, NAME, 300)
    assert env["Status"] == "AVAILABLE"
    assert env["LastUpdate"]["Status"] == "SUCCESS"
    assert env["AirflowConfigurationOptions"]["webserver.navbar_color"] == "#ab12cd"
    # It took effect: the restarted web server paints its bar with it.
    with urllib.request.urlopen(f"{WEB}/login/", timeout=30) as page:
        assert b"#ab12cd" in page.read()


def test_update_environment_validates_like_create(mwaa) -> None:
    for changes, field in (
        ({"MinWorkers": 5, "MaxWorkers": 2}, "MinWorkers"),
        ({"EnvironmentClass": "mw1.gigantic"}, "EnvironmentClass"),
        ({"AirflowConfigurationOptions": {"core.executor": "Local"}}, "core.executor"),
    ):
        with pytest.raises(ClientError) as caught:
            mwaa.update_environment(Name=NAME, **changes)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert field in caught.value.response["Error"]["Message"]
    assert mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "AVAILABLE"


def test_delete_then_create_the_installation_environment(mwaa) -> None:
    spec = json.loads((PROJECT / "environment.json").read_text())
    with pytest.raises(ClientError) as caught:
        mwaa.create_environment(**{**spec, "Name": "another-one"}, NetworkConfiguration={})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    mwaa.delete_environment(Name=NAME)
    with pytest.raises(mwaa.exceptions.ResourceNotFoundException):
        mwaa.get_environment(Name=NAME)
    assert mwaa.list_environments()["Environments"] == []
    s3_client(NATIVE_PORTS).create_bucket(Bucket="airflow-unversioned-create")
    unversioned = {**spec, "SourceBucketArn": "arn:aws:s3:::airflow-unversioned-create"}
    with pytest.raises(ClientError) as caught:
        mwaa.create_environment(**unversioned, NetworkConfiguration={})
    assert "versioning" in caught.value.response["Error"]["Message"]
    assert mwaa.list_environments()["Environments"] == []
    created = mwaa.create_environment(**spec, NetworkConfiguration={})
    assert created["Arn"].endswith(f"environment/{NAME}")
    # CREATING until every service runs on the new definition.
    assert mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "CREATING"
    wait_until(
        lambda: mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "AVAILABLE",
        300,
        "the re-created environment to be AVAILABLE (its services restart onto it)",
    )


def test_concurrent_cli_requests_all_succeed(mwaa) -> None:
    """Eight at once (the runner runs two at a time: tests/integration/test_cli_runner.py shows
    the queue); each gets its own command's answer."""
    from concurrent.futures import ThreadPoolExecutor

    token = mwaa.create_cli_token(Name=NAME)["CliToken"]
    commands = [b"version", b"list_dags"] * 4
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        answers = list(pool.map(lambda body: post_cli(token, body), commands))
    assert [status for status, _ in answers] == [200] * len(commands)
    assert all("1.10.12" in decoded(body, "stdout") for _, body in answers[::2])
    assert all("example_bash_python" in decoded(body, "stdout") for _, body in answers[1::2])


def test_expired_tokens_are_refused(mwaa) -> None:
    cli = mwaa.create_cli_token(Name=NAME)["CliToken"]
    web = mwaa.create_web_login_token(Name=NAME)["WebToken"]
    issued = time.monotonic()
    assert post_cli(cli, b"version")[0] == 200
    # Tokens live 60 seconds: wait until that has passed (the behaviour under test).
    wait_until(lambda: time.monotonic() - issued > 61, 70, "the 60-second token lifetime")
    assert post_cli(cli, b"version")[0] == 403
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{WEB}/aws_mwaa/login", data=f"token={web}".encode(), method="POST"
            ),
            timeout=30,
        )
    assert caught.value.code == 403
