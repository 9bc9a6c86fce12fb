"""`mwaa-local`: start, stop and look at a local MWAA environment.

Commands print what a user reads; library code raises the project's exceptions
(emulator/errors.py), which `main` turns into one message and an exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from emulator.config import settings
from emulator.errors import MwaaLocalError, UsageError
from emulator.runtime.base import UP_TIMEOUT_S


def _progress(message: str) -> None:
    print(f"mwaa-local: {message}", flush=True)


def _environment():  # -> EnvironmentSpec
    from emulator.environment import spec

    return spec.load(settings().environment_path)


def _cmd_up(args: argparse.Namespace) -> int:
    from emulator.environment import spec
    from emulator.runtime import select, up_lock

    config = settings()
    try:
        environment = _environment()
    except spec.SpecError as exc:
        print(f"mwaa-local: {config.environment_path.name}: {exc}", file=sys.stderr)
        print(
            "mwaa-local: nothing was started; fix the file and run `make up` again", file=sys.stderr
        )
        return 2
    previous = select.remembered()
    name, why = select.choose(args.runtime)
    if previous and previous != name and select.get(previous).status().status == "AVAILABLE":
        raise UsageError(
            f"the environment is running on the {previous} runtime; run `make down` first"
        )
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds (got {args.timeout:g})")
    _progress(f"runtime: {name} ({why})")
    runtime = select.get(name)
    select.remember(name)
    started = time.monotonic()
    with up_lock.held(config.state_root):
        runtime.up(_progress, args.timeout)
    _progress(
        f"environment {environment.name} is AVAILABLE after {time.monotonic() - started:.1f} s"
    )
    _addresses(environment)
    return 0


def _addresses(environment) -> None:  # environment: EnvironmentSpec
    ports = settings().ports
    _progress(f"  Airflow UI:        https://localhost:{ports.https}  (`mwaa-local login --open`)")
    _progress(f"  WebServerHostname: localhost:{ports.https}  (self-signed certificate)")
    _progress(f"  MWAA API:          http://127.0.0.1:{ports.web}  (and the UI over plain HTTP)")
    _progress(f"  S3 endpoint:       http://127.0.0.1:{ports.s3}  (bucket {environment.bucket})")
    _progress(
        f"  CloudWatch Logs:   http://127.0.0.1:{ports.logs}  "
        f"(log groups airflow-{environment.name}-*; `mwaa-local logs task`)"
    )


def _cmd_wait(args: argparse.Namespace) -> int:
    from emulator import client
    from emulator.runtime import readiness, select, up_lock

    config = settings()
    environment = _environment()

    def api_status() -> tuple[str | None, str | None]:
        try:
            found = client.mwaa(config).get_environment(Name=environment.name)["Environment"]
        except Exception:  # noqa: BLE001 - not answering yet is a reason to wait, not fail
            return None, None
        error = (found.get("LastUpdate") or {}).get("Error") or {}
        return found["Status"], error.get("ErrorMessage")

    started = time.monotonic()
    status, error = readiness.wait_available(
        select.current(config),
        args.timeout,
        _progress,
        api_status,
        starting=lambda: up_lock.busy(config.state_root),
    )
    took = time.monotonic() - started
    _progress(f"environment {environment.name} is {status} after {took:.1f} s")
    if error:
        _progress(f"  the last update failed: {error}; it runs on what it had before")
    _addresses(environment)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from emulator.runtime import select

    select.current().down(_progress)
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    from emulator.runtime import select
    from emulator.snapshots import store

    select.current().clean(_progress)
    state = settings().state_root
    kept = store.root(state)
    for entry in state.iterdir() if state.is_dir() else ():
        if entry != kept:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    saved = len(store.records(state))
    if saved:
        _progress(
            f"removed {state}, except its {saved} snapshot{'s' if saved != 1 else ''} in "
            f"{kept} (`mwaa-local snapshot list`; `snapshot delete NAME` removes one)"
        )
    else:
        shutil.rmtree(state, ignore_errors=True)
        _progress(f"removed {state}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from emulator.runtime import select

    status = select.current().status()
    if args.json:
        print(json.dumps(status.as_json(settings()), indent=2))
        return 0 if status.status == "AVAILABLE" else 3
    print(f"{status.name}: {status.status} ({status.runtime} runtime)")
    for c in status.components:
        mark = "healthy" if c.healthy else "UNHEALTHY"
        restarts = f"restarts {c.restarts}" if c.restarts else ""
        last = f"last {c.last_exit}" if c.last_exit and not c.healthy else ""
        extra = ", ".join(x for x in (restarts, last) if x)
        print(
            f"  {c.name:<12} {c.state:<10} {mark:<10} {c.detail}" + (f" ({extra})" if extra else "")
        )
    for c in status.components:
        if c.log_tail:
            print(f"  --- {c.name}: the last lines of its log (`mwaa-local logs {c.name}`)")
            for line in c.log_tail:
                print(f"      {line}")
    if status.workers:
        w = status.workers
        print(
            f"  workers: {w['current']} running, {w['wanted']} wanted "
            f"(MinWorkers {w['min_workers']}, MaxWorkers {w['max_workers']}); "
            f"{w['busy']} tasks queued or running, queue depth {w['queue_depth']}"
            + (f"; retiring {', '.join(w['retiring'])}" if w["retiring"] else "")
        )
        print(f"  last decision: {w['reason']}")
    return 0 if status.status == "AVAILABLE" else 3


# `mwaa-local logs NAME` for these reads NAME's CloudWatch log group: (log type, stream prefix).
CLOUDWATCH_COMPONENTS = {
    "scheduler": ("SchedulerLogs", "scheduler_"),
    "webserver": ("WebserverLogs", "webserver_"),
    "worker": ("WorkerLogs", "worker_"),
    "dag-processing": ("DagProcessingLogs", ""),
    "task": ("TaskLogs", ""),
}


def _logging_configuration() -> dict:
    """The environment's LoggingConfiguration as GetEnvironment answers (the file's if the API
    does not answer)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from emulator import client

    try:
        answer = client.mwaa(settings()).get_environment(Name=_environment().name)
        return answer["Environment"]["LoggingConfiguration"]
    except (BotoCoreError, ClientError):
        return _environment().get("LoggingConfiguration") or {}


def _cloudwatch_logs(component: str, follow: bool) -> int | None:
    """Print a component's log group as `aws logs tail` would; None when it cannot (disabled,
    or the server is not answering), after saying why."""
    from botocore.exceptions import BotoCoreError, ClientError

    from emulator import client
    from emulator.cloudwatch import log_types, reader
    from emulator.runtime import select

    base = "worker" if component.startswith("worker-") else component
    module, prefix = CLOUDWATCH_COMPONENTS[base]
    log_type = log_types.BY_MODULE[module]
    setting = log_types.settings(_logging_configuration())[module]
    if not setting.enabled:
        _progress(f"{module} are disabled in the LoggingConfiguration: nothing goes to CloudWatch")
        return None
    if component != base:
        prefix = f"{prefix}{select.current().log_instance(component)}_"
    group = log_types.group_name(_environment().name, log_type)
    logs = client.logs(settings())
    where = f"{group}{f' (streams {prefix}*)' if prefix else ''}"
    print(
        f"mwaa-local: CloudWatch Logs, log group {where}, LogLevel {setting.level}"
        + ("" if base in ("task", "dag-processing") else "; `--local` shows all of its output"),
        file=sys.stderr,
        flush=True,
    )
    try:
        for event in reader.events(logs, group, prefix or None, follow=follow):
            print(reader.format_event(event), flush=follow)
    except (BotoCoreError, ClientError) as exc:
        _progress(f"CloudWatch Logs is not answering ({exc})")
        return None
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    from emulator.runtime import select

    component = args.component
    cloudwatch = component in CLOUDWATCH_COMPONENTS or (component or "").startswith("worker-")
    if component and cloudwatch and not args.local:
        shown = _cloudwatch_logs(component, args.follow)
        if shown is not None:
            return shown
        if component in ("task", "dag-processing"):
            return 1
        _progress(f"showing {component}'s own output instead (`mwaa-local logs --local`)")
    return select.current().logs(component, args.follow)


def _cmd_airflow(args: argparse.Namespace) -> int:
    from emulator.runtime import select

    return select.current().airflow(args.args, capture=False).returncode


def _cmd_cli(args: argparse.Namespace) -> int:
    from emulator import client

    status, out, err = client.run_cli(settings(), _environment().name, " ".join(args.command))
    sys.stdout.buffer.write(out)
    sys.stderr.buffer.write(err)
    return 0 if status == 200 else 1


def _cmd_login(args: argparse.Namespace) -> int:
    from emulator import client

    config = settings()
    answer = client.mwaa(config).create_web_login_token(Name=_environment().name)
    path = f"/aws_mwaa/aws-console-sso?login=true#{answer['WebToken']}"
    # MWAA's console link: https://{WebServerHostname}/aws_mwaa/aws-console-sso?login=true#...
    host = (
        f"http://127.0.0.1:{config.ports.web}"
        if args.http
        else f"https://{answer['WebServerHostname']}"
    )
    url = host + path
    print(url)
    if args.open:
        import webbrowser

        webbrowser.open(url)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from emulator import client

    exports = client.exports(settings())
    if args.json:
        print(json.dumps(exports, indent=2))
        return 0
    for key, value in exports.items():
        print(f"export {key}={value}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from emulator import logs
    from emulator.context import ServiceContext
    from emulator.services import entrypoint

    logs.setup(args.service)
    ctx = ServiceContext.from_settings()
    if args.service == "airflow":
        from emulator.services.airflow import airflow_cli

        airflow_cli(ctx, args.args)  # replaces this process
        return 0
    run = entrypoint(args.service)
    if run is None:
        raise UsageError(f"unknown service {args.service!r}")
    return run(ctx) or 0


def _cmd_images(args: argparse.Namespace) -> int:
    from emulator.runtime import images

    if not args.offline:
        images.ensure_airflow_image(_progress)
        return 0
    overrides = images.build_offline(_progress)
    _progress("to run on them, set MWAA_LOCAL_OFFLINE=1, or these (in .env or the shell):")
    for name, value in overrides.items():
        print(f"{name}={value}")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    from emulator import health

    ok, detail = health.check(args.component)
    print(f"{args.component}: {'healthy' if ok else 'unhealthy'}: {detail}")
    return 0 if ok else 1


def _cmd_test_requirements(args: argparse.Namespace) -> int:
    from emulator import project as project_files
    from emulator.artifacts import requirements

    project = settings().project_dir
    found = project_files.requirements_file(project)
    if args.file:
        file = project / args.file  # an absolute --file stays as it is
    elif found is None:
        raise UsageError(
            f"{project} has no {' or '.join(project_files.REQUIREMENTS)}; name one with --file"
        )
    else:
        file = found
    if not file.is_file():
        raise UsageError(f"{file}: no such file")
    plugins = project_files.plugins_dir(project)
    with tempfile.TemporaryDirectory(prefix="mwaa-local-test-requirements-") as scratch:
        _progress(
            f"installing {file} into a throwaway environment with the platform's constraints"
            + (
                f" (--find-links {requirements.PLATFORM_PLUGINS} means {plugins})"
                if plugins.is_dir()
                else ""
            )
        )
        started = time.monotonic()
        result = requirements.install(
            file,
            Path(scratch) / "packages",
            Path(scratch) / "requirements_install.log",
            plugins_dir=plugins if plugins.is_dir() else None,
        )
        took = time.monotonic() - started
        if result.ok:
            print(f"requirements OK: {result.summary} ({took:.1f} s)")
            return 0
        print(f"requirements FAILED: {result.summary} ({took:.1f} s)", file=sys.stderr)
        print("--- last lines of pip's output:", file=sys.stderr)
        for line in result.log.read_text(errors="replace").splitlines()[-30:]:
            print(f"    {line}", file=sys.stderr)
    print(
        "mwaa-local: fix the file and run `make test-requirements` again; on MWAA the "
        "install would fail the same way (log stream requirements_install) and Airflow "
        "would start without these packages",
        file=sys.stderr,
    )
    return 1


def _cmd_check_dags(args: argparse.Namespace) -> int:
    from emulator.check_dags import check, report

    config = settings()
    path = Path(args.path) if args.path else config.project_dir
    found = check.check(
        path,
        config.state_root / "check-dags",
        progress=None if args.json else _progress,
    )
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        print(report.render(found))
    return 0 if found.ok else 1


def _cmd_deploy(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from emulator import deploy
    from emulator import project as project_files
    from emulator.environment import spec

    config = settings()
    try:
        environment = _environment()
    except spec.SpecError as exc:
        raise UsageError(f"{config.environment_path.name}: {exc}") from None
    s3, mwaa = deploy.clients(config)
    project = Path(args.path).resolve() if args.path else config.project_dir
    if not project.is_dir():
        raise UsageError(f"{project}: no such folder")
    _progress(f"deploying {project} to s3://{environment.bucket} ({environment.name})")
    try:
        result = deploy.deploy(
            s3,
            mwaa,
            environment,
            project,
            update=not args.no_update,
            wait=args.wait,
            say=lambda line: print(f"  {line}", flush=True),
        )
    except ClientError as exc:
        print(f"mwaa-local: deploy stopped: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(
            f"mwaa-local: deploy stopped: {exc}; is the environment running? (`make up`)",
            file=sys.stderr,
        )
        return 1
    if not result.changes:
        print("  nothing changed")
    if result.update and not args.wait:
        _progress("the environment is UPDATING; `mwaa-local status` shows when it is done")
    if result.error:
        print(f"mwaa-local: {result.status}: {result.error}", file=sys.stderr)
        return 1
    if result.status:
        _progress(f"environment {environment.name} is {result.status}")
    if args.wait and project_files.dags_dir(project).is_dir():
        from emulator.runtime import select
        from emulator.watcher.dag_sync import MANIFEST

        runtime = select.current(config)
        count = deploy.wait_for_dag_sync(s3, environment, lambda: runtime.read_state(MANIFEST))
        _progress(f"the environment's DAGs folder holds the bucket's {count} files")
    return 0


def _read_secret_file(path: str, what: str) -> bytes:
    """A passphrase or key from a file (`-`: the first line of standard input)."""
    if path == "-":
        data = sys.stdin.buffer.readline()
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the {what} from {path}: {exc.strerror}") from None
    value = data.rstrip(b"\r\n")
    if not value:
        raise UsageError(f"{path} holds no {what}")
    return value


def _passphrase(args: argparse.Namespace, needed: bool) -> bytes | None:
    if args.passphrase_file and args.no_secrets:
        raise UsageError("give --passphrase-file or --no-secrets, not both")
    if args.passphrase_file:
        return _read_secret_file(args.passphrase_file, "passphrase")
    if needed and not args.no_secrets:
        raise UsageError(
            "connection passwords and extras and variable values are sealed under a passphrase: "
            "give one with --passphrase-file FILE, or leave them out with --no-secrets"
        )
    return None


def _source_keys(args: argparse.Namespace) -> str | None:
    if not args.fernet_key_file:
        return None
    return _read_secret_file(args.fernet_key_file, "Fernet key").decode()


def _history_environment():  # -> emulator.history.transfer.Environment
    from emulator.history.transfer import Environment
    from emulator.runtime import select

    runtime = select.current()
    spec = _environment()
    try:
        secrets = runtime.environment_secrets()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    return Environment(
        spec.name,
        spec["AirflowVersion"],
        runtime.metadata_db_url(),
        secrets.fernet_key,
        runtime.postgres_tool,
    )


def _is_database_url(source: str) -> bool:
    return source.split("://", 1)[0] in ("postgresql", "postgres", "postgresql+psycopg2")


def _cmd_db_export(args: argparse.Namespace) -> int:
    from emulator.history import transfer

    path = Path(args.file)
    passphrase = _passphrase(args, needed=True)
    started = time.monotonic()
    say = lambda line: _progress(f"  {line}")  # noqa: E731
    if args.source:
        if not _is_database_url(args.source):
            raise UsageError("--from takes a postgresql://USER:PASSWORD@HOST:PORT/DB address")
        _progress(f"exporting the Airflow database at {transfer.redacted(args.source)}")
        record = transfer.export_database(args.source, _source_keys(args), path, passphrase, say)
    else:
        env = _history_environment()
        _progress(f"exporting the history of environment {env.name}")
        record = transfer.export_environment(env, path, passphrase, say)
    counts = {name: entry["rows"] for name, entry in record["tables"].items()}
    sealed = record["secrets"]
    secrets = (
        f"{sealed['values']} secrets sealed under the passphrase"
        if sealed["state"] == "sealed"
        else "secrets left out"
    )
    _progress(
        f"wrote {path} ({path.stat().st_size} bytes, {time.monotonic() - started:.1f} s): "
        f"{transfer.summary(counts)}; {secrets}"
    )
    return 0


def _cmd_db_import(args: argparse.Namespace) -> int:
    from emulator.history import transfer

    if bool(args.file) == bool(args.source):
        raise UsageError("give an archive (db import FILE) or --from SOURCE, one of them")
    env = _history_environment()
    started = time.monotonic()
    say = lambda line: _progress(f"  {line}")  # noqa: E731
    if args.file:
        passphrase = _passphrase(args, needed=False)
        _progress(f"importing {args.file} into environment {env.name}")
        reports = transfer.import_archive(env, Path(args.file), passphrase, args.no_secrets, say)
    elif _is_database_url(args.source):
        _progress(f"importing the Airflow database at {transfer.redacted(args.source)}")
        reports = transfer.import_database(
            env, args.source, _source_keys(args), args.no_secrets, say
        )
    else:
        dump = Path(args.source)
        if not dump.is_file():
            raise UsageError(
                f"{dump}: no such file (--from takes a postgresql:// address or a pg_dump file)"
            )
        _progress(f"importing the pg_dump file {dump}")
        reports = transfer.import_dump(env, dump, _source_keys(args), args.no_secrets, say)
    added = sum(r.added for r in reports.values())
    updated = sum(r.updated for r in reports.values())
    _progress(
        f"imported in {time.monotonic() - started:.1f} s: {added} rows added, {updated} updated"
        + ("" if added or updated else " (all of it was here already)")
    )
    return 0


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from emulator.runtime import select
    from emulator.snapshots import flow, store

    config = settings()
    if args.action == "list":
        records = store.records(config.state_root)
        if not records:
            print("no snapshots yet (`mwaa-local snapshot save NAME`)")
            return 0
        header = ("NAME", "SAVED (UTC)", "RUNTIME", "DAG RUNS", "TASKS", "SIZE")
        print("{:<24} {:<21} {:<8} {:>8} {:>8} {:>11}".format(*header))
        for r in records:
            size = store.size(store.folder(config.state_root, r["name"]))
            counts = r.get("counts", {})
            print(
                f"{r['name']:<24} {r['created_at']:<21} {r['runtime']:<8} "
                f"{counts.get('dag_run', '?'):>8} {counts.get('task_instance', '?'):>8} "
                f"{size / 2**20:>8.1f} MB"
            )
        return 0
    if not args.name:
        raise UsageError(f"snapshot {args.action} needs a NAME")
    say = lambda line: _progress(f"  {line}")  # noqa: E731
    if args.action == "delete":
        store.delete(config.state_root, args.name)
        _progress(f"deleted snapshot {args.name}")
        return 0
    runtime = select.current()
    if args.action == "save":
        _progress(f"saving snapshot {args.name}")
        record = flow.save(runtime, config, args.name, say)
        counts = record["counts"]
        _progress(
            f"snapshot {args.name} saved ({record['bytes'] / 2**20:.1f} MB): "
            f"{counts['dag_run']} DAG runs, {counts['task_instance']} task instances, "
            f"{counts['variable']} variables, {record['bucket']['versions']} object versions"
        )
        return 0
    _progress(f"restoring snapshot {args.name}")
    result = flow.restore(runtime, config, args.name, say)
    name = _environment().name
    _progress(
        f"environment {name} is AVAILABLE as it was at {result['created_at']} "
        f"({result['seconds']:.1f} s)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mwaa-local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the environment and wait until it is AVAILABLE")
    up.add_argument("--runtime", default="auto", help="auto (default), docker or native")
    up.add_argument(
        "--timeout",
        type=float,
        default=UP_TIMEOUT_S,
        metavar="SECONDS",
        help="give up after this long, naming what is not ready with its last log lines "
        "(default %(default)g; in Docker counted once the images are built)",
    )
    up.set_defaults(func=_cmd_up)

    wait = sub.add_parser(
        "wait",
        help="wait until the running environment is AVAILABLE (after a restart, an update, "
        "`docker compose up -d`); exit 1 naming a failing component with its last log lines",
    )
    wait.add_argument(
        "--timeout",
        type=float,
        default=UP_TIMEOUT_S,
        metavar="SECONDS",
        help="give up after this long (default %(default)g)",
    )
    wait.set_defaults(func=_cmd_wait)

    sub.add_parser("down", help="stop everything, keeping the state").set_defaults(func=_cmd_down)

    images_cmd = sub.add_parser("images", help="build the Airflow image for the Docker runtime")
    images_cmd.add_argument(
        "--offline",
        action="store_true",
        help="with no registry: also the base image (debootstrap) and stand-ins for "
        "PostgreSQL, Redis and MinIO",
    )
    images_cmd.set_defaults(func=_cmd_images)
    sub.add_parser("clean", help="stop everything and delete the state").set_defaults(
        func=_cmd_clean
    )

    status = sub.add_parser("status", help="the environment's status and each component's health")
    status.add_argument("--json", action="store_true", help="machine-readable, with addresses")
    status.set_defaults(func=_cmd_status)

    logs = sub.add_parser(
        "logs",
        help="a component's log: scheduler, webserver, worker(-N), dag-processing and task read "
        "their CloudWatch log group; others (and --local) the process's own output",
    )
    logs.add_argument(
        "component", nargs="?", help="a component, or `requirements` for pip's install log"
    )
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument(
        "--local",
        action="store_true",
        help="the component's own output (every level), not its CloudWatch log group",
    )
    logs.set_defaults(func=_cmd_logs)

    airflow = sub.add_parser("airflow", help="run an Airflow CLI command in the environment")
    airflow.add_argument("args", nargs=argparse.REMAINDER)
    airflow.set_defaults(func=_cmd_airflow)

    cli = sub.add_parser("cli", help="an Airflow command through MWAA's /aws_mwaa/cli endpoint")
    cli.add_argument("command", nargs=argparse.REMAINDER, help='e.g. "list_dags"')
    cli.set_defaults(func=_cmd_cli)

    login = sub.add_parser(
        "login",
        help="print a one-time UI login URL, https://WebServerHostname/... as MWAA's console "
        "link (60 seconds; the certificate is self-signed)",
    )
    login.add_argument("--open", action="store_true", help="open it in a browser")
    login.add_argument("--http", action="store_true", help="the plain http://127.0.0.1 URL instead")
    login.set_defaults(func=_cmd_login)

    env = sub.add_parser("env", help="exports that point boto3 and the AWS CLI here")
    env.add_argument("--json", action="store_true", help="as one JSON object")
    env.set_defaults(func=_cmd_env)

    run = sub.add_parser("run", help="run one service in the foreground (used by both runtimes)")
    run.add_argument(
        "service", help="init, api, webserver, scheduler, worker, watcher, autoscaler or airflow"
    )
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(func=_cmd_run)

    health = sub.add_parser("health", help="check one component (exit 0 when healthy)")
    health.add_argument("component")
    health.set_defaults(func=_cmd_health)
    deploy = sub.add_parser(
        "deploy",
        help="upload dags/, plugins/ (as plugins.zip) and requirements.txt to the bucket, then "
        "update the environment if plugins or requirements changed",
    )
    deploy.add_argument(
        "path", nargs="?", help="the folder to send (default: the project); its dags/ is mirrored"
    )
    deploy.add_argument(
        "--wait",
        action="store_true",
        help="wait until the update ends (at most 20 minutes) and the environment's DAGs "
        "folder holds what was sent",
    )
    deploy.add_argument(
        "--no-update", action="store_true", help="upload only; do not call UpdateEnvironment"
    )
    deploy.set_defaults(func=_cmd_deploy)

    check_dags = sub.add_parser(
        "check-dags",
        help="parse every DAG file as the environment would (its Airflow, plugins, "
        "requirements, safe mode and .airflowignore) with no environment running; exit 1 on "
        "import errors, duplicate DAG ids, cycles or tasks without an owner",
    )
    check_dags.add_argument(
        "path",
        nargs="?",
        help="a project folder (with dags/) or a DAGs folder (default: the project)",
    )
    check_dags.add_argument("--json", action="store_true", help="the same report, for machines")
    check_dags.set_defaults(func=_cmd_check_dags)

    test_requirements = sub.add_parser(
        "test-requirements",
        help="install requirements.txt into a throwaway folder with the platform's constraints",
    )
    test_requirements.add_argument(
        "--file",
        help="the file to test, relative to the project folder (default: requirements.txt, "
        "else requirements/requirements.txt)",
    )
    test_requirements.set_defaults(func=_cmd_test_requirements)

    db = sub.add_parser("db", help="move the environment's history: export and import")
    db_sub = db.add_subparsers(dest="db_command", required=True)

    def secret_options(command: argparse.ArgumentParser, verb: str) -> None:
        command.add_argument(
            "--passphrase-file",
            metavar="FILE",
            help=f"the passphrase secrets are sealed under in the archive ({verb}); `-` reads "
            "it from standard input",
        )
        command.add_argument(
            "--no-secrets",
            action="store_true",
            help="without connection passwords and extras and variable values",
        )
        command.add_argument(
            "--fernet-key-file",
            metavar="FILE",
            help="with --from: the source Airflow's [core] fernet_key, to decrypt its secrets",
        )

    export = db_sub.add_parser(
        "export",
        help="write the history (runs, task instances, XComs, variables, connections, pools, "
        "event log, ...) into one archive",
    )
    export.add_argument("file", metavar="FILE")
    export.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="export a stock Airflow 1.10.x database instead (postgresql://...)",
    )
    secret_options(export, "required unless --no-secrets")
    export.set_defaults(func=_cmd_db_export)

    import_ = db_sub.add_parser(
        "import",
        help="add an archive's history (or a stock Airflow 1.10.x database's) to this "
        "environment, in one transaction",
    )
    import_.add_argument("file", metavar="FILE", nargs="?", help="an archive of `db export`")
    import_.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="a stock Airflow 1.10.x metadata database: postgresql://USER:PASSWORD@HOST:PORT/DB "
        "(only read), or a pg_dump file of one (custom format, or plain SQL)",
    )
    secret_options(import_, "the one it was exported with")
    import_.set_defaults(func=_cmd_db_import)

    snapshot = sub.add_parser(
        "snapshot",
        help="save the whole environment (database, bucket with its versions, definition, "
        "state) and return to it later",
    )
    snapshot.add_argument("action", choices=("save", "restore", "list", "delete"))
    snapshot.add_argument("name", nargs="?", metavar="NAME")
    snapshot.set_defaults(func=_cmd_snapshot)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except MwaaLocalError as exc:
        print(f"mwaa-local: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `mwaa-local status | head`: the reader left; nothing is wrong with us.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
