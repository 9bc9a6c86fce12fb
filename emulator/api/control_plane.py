"""MWAA's control plane (rest-json, API version 2020-07-01), as botocore's model lays it out."""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from flask import Blueprint, current_app, jsonify, request

from emulator.api.auth import ROLES, authenticate
from emulator.api.errors import (
    AccessDeniedException,
    ResourceNotFoundException,
    ValidationException,
)
from emulator.api.store import EnvironmentRecord, Store
from emulator.api.updates import failed_update, start_update
from emulator.environment import spec as spec_module
from emulator.watcher import artifacts
from emulator.watcher.s3 import client as s3_client
from emulator.watcher.s3 import versioning_enabled as s3_versioning_enabled

blueprint = Blueprint("control_plane", __name__)

TOKEN_TTL_S = 60
LIST_MAX = 25
LOG_GROUPS = {
    "DagProcessingLogs": "DAGProcessing",
    "SchedulerLogs": "Scheduler",
    "WebserverLogs": "WebServer",
    "WorkerLogs": "Worker",
    "TaskLogs": "Task",
}


def _store() -> Store:
    return current_app.config["STORE"]


def region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def account() -> str:
    return os.environ.get("MWAA_LOCAL_ACCOUNT_ID", "000000000000")


def arn(name: str) -> str:
    return f"arn:aws:airflow:{region()}:{account()}:environment/{name}"


def web_server_hostname() -> str:
    return current_app.config["WEB_SERVER_HOSTNAME"]


def _record(name: str) -> EnvironmentRecord:
    record = _store().get(name)
    if record is None:
        raise ResourceNotFoundException(f"Environment named {name} not found.")
    return record


def describe(record: EnvironmentRecord) -> dict[str, Any]:
    """GetEnvironment's `Environment` for a stored record."""
    spec = record.spec
    env: dict[str, Any] = {
        key: spec[key]
        for key in (
            "AirflowVersion",
            "DagS3Path",
            "EnvironmentClass",
            "ExecutionRoleArn",
            "MaxWorkers",
            "MinWorkers",
            "Schedulers",
            "SourceBucketArn",
            "PluginsS3Path",
            "PluginsS3ObjectVersion",
            "RequirementsS3Path",
            "RequirementsS3ObjectVersion",
            "WebserverAccessMode",
            "WeeklyMaintenanceWindowStart",
            "KmsKey",
        )
        if spec.get(key) not in (None, "")
    }
    logging = {}
    for module, group in LOG_GROUPS.items():
        given = (spec.get("LoggingConfiguration") or {}).get(module) or {
            "Enabled": False,
            "LogLevel": "INFO",
        }
        logging[module] = {**given}
        if given.get("Enabled"):
            logging[module]["CloudWatchLogGroupArn"] = (
                f"arn:aws:logs:{region()}:{account()}:log-group:airflow-{record.name}-{group}"
            )
    env.update(
        Name=record.name,
        Arn=arn(record.name),
        Status=record.status,
        CreatedAt=record.created_at,
        WebserverUrl=web_server_hostname(),
        ServiceRoleArn=f"arn:aws:iam::{account()}:role/aws-service-role/"
        "airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA",
        AirflowConfigurationOptions=spec.get("AirflowConfigurationOptions") or {},
        LoggingConfiguration=logging,
        NetworkConfiguration=spec.get("NetworkConfiguration") or {},
        Tags=record.tags,
        EndpointManagement="SERVICE",
    )
    if record.last_update:
        env["LastUpdate"] = record.last_update
    return env


@blueprint.route("/environments/<name>", methods=["GET"])
def get_environment(name: str):
    authenticate(request)
    return jsonify(Environment=describe(_record(name)))


@blueprint.route("/environments", methods=["GET"])
def list_environments():
    authenticate(request)
    try:
        limit = int(request.args.get("MaxResults", LIST_MAX))
    except ValueError:
        raise ValidationException("MaxResults must be an integer.") from None
    if not 1 <= limit <= LIST_MAX:
        raise ValidationException(f"MaxResults must be between 1 and {LIST_MAX}.")
    names = _store().names()
    start = 0
    token = request.args.get("NextToken")
    if token:
        if token not in names:
            raise ValidationException("The NextToken is not valid.")
        start = names.index(token)
    page = names[start : start + limit]
    body: dict[str, Any] = {"Environments": page}
    if start + limit < len(names):
        body["NextToken"] = names[start + limit]
    return jsonify(body)


@blueprint.route("/clitoken/<name>", methods=["POST"])
def create_cli_token(name: str):
    principal = authenticate(request)
    _record(name)
    token = _store().issue_token("cli", name, TOKEN_TTL_S, principal.identity)
    return jsonify(CliToken=token, WebServerHostname=web_server_hostname())


@blueprint.route("/webtoken/<name>", methods=["POST"])
def create_web_login_token(name: str):
    principal = authenticate(request)
    _record(name)
    if not principal.roles:
        raise AccessDeniedException(
            f"User: {principal.identity} is not authorized to perform: "
            f"airflow:CreateWebLoginToken on resource: "
            f"arn:aws:airflow:{region()}:{account()}:role/{name}/*"
        )
    # The strongest role granted wins, as when several IAM policies apply.
    role = min(principal.roles, key=ROLES.index)
    airflow_user = principal.identity
    token = _store().issue_token("web", name, TOKEN_TTL_S, airflow_user, role)
    return jsonify(
        WebToken=token,
        WebServerHostname=web_server_hostname(),
        IamIdentity=f"arn:aws:iam::{account()}:{principal.identity}",
        AirflowIdentity=airflow_user,
    )


@blueprint.route("/restapi/<name>", methods=["POST"])
def invoke_rest_api(name: str):
    authenticate(request)
    record = _record(name)
    raise ValidationException(
        f"InvokeRestApi needs Apache Airflow 2 or later; environment {name} runs "
        f"Apache Airflow {record.spec.get('AirflowVersion')}."
    )


def _tag_target(resource_arn: str) -> EnvironmentRecord:
    resource_arn = unquote(resource_arn)
    prefix = f"arn:aws:airflow:{region()}:{account()}:environment/"
    if not resource_arn.startswith(prefix):
        raise ValidationException(f"{resource_arn} is not an MWAA environment ARN.")
    record = _store().get(resource_arn[len(prefix) :])
    if record is None:
        raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
    return record


@blueprint.route("/tags/<path:resource_arn>", methods=["GET"])
def list_tags_for_resource(resource_arn: str):
    authenticate(request)
    return jsonify(Tags=_tag_target(resource_arn).tags)


@blueprint.route("/tags/<path:resource_arn>", methods=["POST"])
def tag_resource(resource_arn: str):
    authenticate(request)
    record = _tag_target(resource_arn)
    tags = (request.get_json(silent=True) or {}).get("Tags")
    merged = {**record.tags, **(tags or {})}
    try:
        spec_module.check_tags(merged)
    except spec_module.SpecError as exc:
        raise ValidationException(str(exc)) from None
    _store().update(record.name, tags=merged)
    return jsonify({})


@blueprint.route("/tags/<path:resource_arn>", methods=["DELETE"])
def untag_resource(resource_arn: str):
    authenticate(request)
    record = _tag_target(resource_arn)
    keys = request.args.getlist("tagKeys")
    if not keys:
        raise ValidationException("tagKeys is required.")
    _store().update(record.name, tags={k: v for k, v in record.tags.items() if k not in keys})
    return jsonify({})


UPDATABLE = {
    "AirflowConfigurationOptions",
    "AirflowVersion",
    "DagS3Path",
    "EnvironmentClass",
    "ExecutionRoleArn",
    "LoggingConfiguration",
    "MaxWorkers",
    "MinWorkers",
    "NetworkConfiguration",
    "PluginsS3Path",
    "PluginsS3ObjectVersion",
    "RequirementsS3Path",
    "RequirementsS3ObjectVersion",
    "Schedulers",
    "SourceBucketArn",
    "WebserverAccessMode",
    "WeeklyMaintenanceWindowStart",
}


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return spec_module.validate(data).data
    except spec_module.SpecError as exc:
        raise ValidationException(str(exc)) from None


@blueprint.route("/environments/<name>", methods=["PATCH"])
def update_environment(name: str):
    authenticate(request)
    record = _record(name)
    if record.status == "CREATE_FAILED":
        raise ValidationException("Environments with CREATE_FAILED status cannot be updated.")
    if record.status not in ("AVAILABLE", "UPDATE_FAILED"):
        raise ValidationException(
            f"Environment {name} is {record.status}; it can be updated once it is AVAILABLE."
        )
    changes = request.get_json(silent=True) or {}
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise ValidationException(
            f"{unknown[0]}: cannot be changed by mwaa-local's UpdateEnvironment"
        )
    if (
        changes.get("AirflowVersion", record.spec["AirflowVersion"])
        != record.spec["AirflowVersion"]
    ):
        raise ValidationException(
            "Upgrading Apache Airflow is not supported for 1.10.12 environments."
        )
    new_spec = _validated({**record.spec, **changes, "Name": name})
    if new_spec["SourceBucketArn"] != record.spec["SourceBucketArn"]:
        _check_bucket(new_spec)
    prepare = _artifacts_for(record.spec, new_spec)
    start_update(_store(), name, new_spec, current_app.config["ON_SPEC_APPLIED"], prepare)
    return jsonify(Arn=arn(name))


def _check_bucket(spec: dict[str, Any]) -> None:
    """MWAA's bucket rules beyond the ARN's pattern: the bucket exists and is versioned."""
    ctx = current_app.config["CONTEXT"]
    bucket = spec_module.validate(spec).bucket
    try:
        enabled = s3_versioning_enabled(s3_client(ctx.infra), bucket)
    except ClientError as exc:
        raise ValidationException(
            f"Unable to access bucket {bucket}: {exc.response['Error'].get('Code')}"
        ) from None
    if not enabled:
        raise ValidationException(
            f"The bucket {bucket} does not have versioning enabled. MWAA needs it to pin "
            "plugins.zip and requirements.txt by object version: enable it (aws s3api "
            f"put-bucket-versioning --bucket {bucket} --versioning-configuration "
            "Status=Enabled) and try again."
        )


ARTIFACT_FIELDS = (
    ("PluginsS3Path", "PluginsS3ObjectVersion"),
    ("RequirementsS3Path", "RequirementsS3ObjectVersion"),
)


def _artifacts_for(old: dict[str, Any], new: dict[str, Any], creating: bool = False):
    """Check the plugins/requirements versions `new` names (refusing unreadable ones now, as
    MWAA does) and return what stages them, or None when they did not change.

    A path without a version means its latest version, pinned from now on. When creating,
    a path whose object does not exist yet is left unpinned, as `make up` does with
    environment.json (plugins.zip appears with the first `deploy`)."""
    fields = [f for pair in ARTIFACT_FIELDS for f in pair]
    if all(old.get(f) == new.get(f) for f in fields):
        return None
    ctx = current_app.config["CONTEXT"]
    s3 = s3_client(ctx.infra)
    for path_key, version_key in ARTIFACT_FIELDS:
        if new.get(path_key) and not new.get(version_key):
            # No version given: the latest one, pinned from now on.
            latest = artifacts.latest_version(s3, ctx.spec.bucket, new[path_key])
            if latest is not None:
                new[version_key] = latest
            elif not creating:
                raise ValidationException(f"Unable to read file {new[path_key]}")
    spec = spec_module.validate(new)
    problem = artifacts.check_versions(s3, spec)
    if problem:
        raise ValidationException(problem)
    return lambda: artifacts.stage(s3, spec, ctx.state_dir)


@blueprint.route("/environments/<name>", methods=["PUT"])
def create_environment(name: str):
    authenticate(request)
    own = current_app.config["CONTEXT"].spec.name
    if name != own:
        raise ValidationException(
            f"This mwaa-local installation runs one environment, {own}. To run {name}, "
            "use another folder (another installation) with its own environment.json and ports."
        )
    if _store().get(name) is not None:
        raise ValidationException(f"Environment {name} already exists.")
    new_spec = _validated({**(request.get_json(silent=True) or {}), "Name": name})
    _check_bucket(new_spec)
    prepare = _artifacts_for({}, new_spec, creating=True)
    store = _store()
    # Services still running from before the delete restart onto the new definition once its
    # plugins and requirements are staged: a generation above theirs says so, and the
    # monitor waits for them before AVAILABLE.
    running = max(store.live_components(name).values(), default=0)
    store.create(name, new_spec, "CREATING", generation=running)

    def stage_then_start() -> None:
        try:
            if prepare is not None:
                prepare()
        except artifacts.StagingError as exc:
            store.update(name, status="CREATE_FAILED", last_update=failed_update(exc))
            return
        store.update(name, generation=running + 1)

    threading.Thread(target=stage_then_start, name=f"create-{name}", daemon=True).start()
    return jsonify(Arn=arn(name))


@blueprint.route("/environments/<name>", methods=["DELETE"])
def delete_environment(name: str):
    authenticate(request)
    _record(name)
    # The record goes; the processes stay until `make down` (mwaa-local cannot stop itself).
    _store().delete(name)
    return jsonify({})
