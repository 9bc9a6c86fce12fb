"""An environment started as a careful user would start one for CI: strict SigV4
(`MWAA_LOCAL_STRICT_AUTH=true`, keys in an access file) and MWAA's own timing
(`MWAA_LOCAL_TIMING=mwaa`). Real boto3 signatures against the running API; the timing as the
watcher and the scheduler really run with it."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import boto3
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.environment import state_files
from tests.conftest import Env, make_state_dir, ports

pytestmark = pytest.mark.native

PORTS = ports(
    web=20080, https=20443, airflow=20081, s3=20900, postgres=20433, redis=20380, logs=20910
)
NAME = "mwaa-local"
KEYS = {
    "AKIDSTRICT": {"secret": "right-secret", "identity": "assumed-role/Admin/sam", "roles": ["Op"]}
}


@pytest.fixture(scope="module")
def strict_env():
    home = make_state_dir("mwaa-local-strict-")
    access = home / "access.json"
    access.write_text(json.dumps(KEYS))
    env = Env(
        home,
        PORTS,
        {
            "MWAA_LOCAL_ACCESS_FILE": str(access),
            "MWAA_LOCAL_STRICT_AUTH": "true",
            "MWAA_LOCAL_TIMING": "mwaa",
        },
    )
    up = env.run("up", "--runtime", "native")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env
    finally:
        env.run("down")
        shutil.rmtree(home, ignore_errors=True)


def _mwaa(key: str, secret: str):
    return boto3.client(
        "mwaa",
        endpoint_url=f"http://127.0.0.1:{PORTS['web']}",
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
    )


def _denied(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return error


def test_a_valid_signature_is_accepted_and_mapped_to_its_identity(strict_env) -> None:
    client = _mwaa("AKIDSTRICT", "right-secret")
    assert client.get_environment(Name=NAME)["Environment"]["Name"] == NAME
    answer = client.create_web_login_token(Name=NAME)
    assert answer["AirflowIdentity"] == "assumed-role/Admin/sam"
    # A signed body (UpdateEnvironment's JSON) is accepted too.
    client.tag_resource(
        ResourceArn=client.get_environment(Name=NAME)["Environment"]["Arn"],
        Tags={"strict": "yes"},
    )


def test_a_wrong_secret_is_refused(strict_env) -> None:
    error = _denied(lambda: _mwaa("AKIDSTRICT", "wrong").get_environment(Name=NAME))
    assert "signature" in error["Message"]


def test_an_unknown_access_key_is_refused(strict_env) -> None:
    error = _denied(lambda: _mwaa("AKIDNOBODY", "right-secret").create_cli_token(Name=NAME))
    assert "AKIDNOBODY" in error["Message"]


def test_an_unsigned_request_is_refused(strict_env) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['web']}/clitoken/{NAME}", data=b"", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert json.load(caught.value)["Message"]


def _scheduler_setting(env: Env, variable: str) -> str:
    """A setting as the running scheduler's Airflow process has it in its environment."""
    leader = psutil.Process(env.component("scheduler")["pid"])
    return leader.children()[0].environ()[variable]


def test_mwaa_timing_is_what_the_watcher_and_the_scheduler_run_with(strict_env) -> None:
    watcher = state_files.read(strict_env.home / "environment", state_files.WATCHER)
    assert watcher is not None and watcher["interval_s"] == 30.0
    assert _scheduler_setting(strict_env, "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL") == "300"
    assert _scheduler_setting(strict_env, "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL") == "30"


def test_fast_timing_is_the_default(native_env) -> None:
    env, _ = native_env
    watcher = state_files.read(env.home / "environment", state_files.WATCHER)
    assert watcher is not None and watcher["interval_s"] == 1.0
    assert _scheduler_setting(env, "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL") == "10"
