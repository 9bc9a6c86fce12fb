"""MWAA's control plane as rules over the environment's state, with no HTTP in it: each
operation takes and returns botocore's shapes (dicts) and raises MWAA's errors. The routes
(routes.py) only parse requests and serialize answers; tests drive this directly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emulator.api import operations
from emulator.api import status as rules
from emulator.api.auth import ROLES, Principal
from emulator.api.errors import (
    AccessDeniedException,
    ResourceNotFoundException,
    ValidationException,
)
from emulator.artifacts import pinning, staging
from emulator.cloudwatch import log_types
from emulator.environment import spec as spec_module
from emulator.environment.spec import EnvironmentSpec
from emulator.environment.store import EnvironmentRecord, Store, TokenGrant
from emulator.s3 import objects

TOKEN_TTL_S = 60
LIST_MAX = 25
DESCRIBED = (
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
UPDATABLE = frozenset(
    {
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
)


@dataclass
class Backend:
    store: Store
    s3: Any  # a boto3 S3 client for the environment's bucket server
    own: EnvironmentSpec  # this installation's environment (environment.json)
    state_dir: Any
    web_server_hostname: str
    region: str
    account: str
    healthy: Callable[[], bool]
    on_spec_applied: Callable[[dict[str, Any]], None]

    # -- names ---------------------------------------------------------------------------------
    def arn(self, name: str) -> str:
        return f"arn:aws:airflow:{self.region}:{self.account}:environment/{name}"

    def _record(self, name: str) -> EnvironmentRecord:
        record = self.store.get(name)
        if record is None:
            raise ResourceNotFoundException(f"Environment named {name} not found.")
        return record

    # -- reading -------------------------------------------------------------------------------
    def describe(self, record: EnvironmentRecord) -> dict[str, Any]:
        """GetEnvironment's `Environment` for a stored record."""
        spec = record.spec
        env: dict[str, Any] = {k: spec[k] for k in DESCRIBED if spec.get(k) not in (None, "")}
        logging = {}
        chosen = log_types.settings(spec.get("LoggingConfiguration"))
        for log_type in log_types.LOG_TYPES:
            setting = chosen[log_type.module]
            logging[log_type.module] = {"Enabled": setting.enabled, "LogLevel": setting.level}
            if setting.enabled:
                logging[log_type.module]["CloudWatchLogGroupArn"] = log_types.group_arn(
                    self.region, self.account, record.name, log_type
                )
        env.update(
            Name=record.name,
            Arn=self.arn(record.name),
            Status=record.status,
            CreatedAt=record.created_at,
            WebserverUrl=self.web_server_hostname,
            ServiceRoleArn=f"arn:aws:iam::{self.account}:role/aws-service-role/"
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

    def get_environment(self, name: str) -> dict[str, Any]:
        return {"Environment": self.describe(self._record(name))}

    def list_environments(self, max_results: str | None, next_token: str | None) -> dict:
        try:
            limit = int(max_results) if max_results is not None else LIST_MAX
        except ValueError:
            raise ValidationException("MaxResults must be an integer.") from None
        if not 1 <= limit <= LIST_MAX:
            raise ValidationException(f"MaxResults must be between 1 and {LIST_MAX}.")
        names = self.store.names()
        start = 0
        if next_token:
            if next_token not in names:
                raise ValidationException("The NextToken is not valid.")
            start = names.index(next_token)
        body: dict[str, Any] = {"Environments": names[start : start + limit]}
        if start + limit < len(names):
            body["NextToken"] = names[start + limit]
        return body

    # -- tokens --------------------------------------------------------------------------------
    def create_cli_token(self, name: str, principal: Principal) -> dict[str, str]:
        self._record(name)
        token = self.store.issue_token("cli", name, TOKEN_TTL_S, principal.identity)
        return {"CliToken": token, "WebServerHostname": self.web_server_hostname}

    def check_cli_token(self, token: str) -> TokenGrant | None:
        """The grant behind a live CLI token (it may be used again until it expires)."""
        return self.store.check_token("cli", token, single_use=False)

    def create_web_login_token(self, name: str, principal: Principal) -> dict[str, str]:
        self._record(name)
        if not principal.roles:
            raise AccessDeniedException(
                f"User: {principal.identity} is not authorized to perform: "
                f"airflow:CreateWebLoginToken on resource: "
                f"arn:aws:airflow:{self.region}:{self.account}:role/{name}/*"
            )
        # The strongest role granted wins, as when several IAM policies apply.
        role = min(principal.roles, key=ROLES.index)
        token = self.store.issue_token("web", name, TOKEN_TTL_S, principal.identity, role)
        return {
            "WebToken": token,
            "WebServerHostname": self.web_server_hostname,
            "IamIdentity": f"arn:aws:iam::{self.account}:{principal.identity}",
            "AirflowIdentity": principal.identity,
        }

    def invoke_rest_api(self, name: str) -> dict[str, Any]:
        record = self._record(name)
        raise ValidationException(
            f"InvokeRestApi needs Apache Airflow 2 or later; environment {name} runs "
            f"Apache Airflow {record.spec.get('AirflowVersion')}."
        )

    # -- tags ----------------------------------------------------------------------------------
    def _tag_target(self, resource_arn: str) -> EnvironmentRecord:
        prefix = f"arn:aws:airflow:{self.region}:{self.account}:environment/"
        if not resource_arn.startswith(prefix):
            raise ValidationException(f"{resource_arn} is not an MWAA environment ARN.")
        record = self.store.get(resource_arn[len(prefix) :])
        if record is None:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
        return record

    def list_tags(self, resource_arn: str) -> dict[str, Any]:
        return {"Tags": self._tag_target(resource_arn).tags}

    def tag_resource(self, resource_arn: str, tags: dict[str, str] | None) -> dict:
        record = self._tag_target(resource_arn)
        merged = {**record.tags, **(tags or {})}
        try:
            spec_module.check_tags(merged)
        except spec_module.SpecError as exc:
            raise ValidationException(str(exc)) from None
        self.store.update(record.name, tags=merged)
        return {}

    def untag_resource(self, resource_arn: str, keys: list[str]) -> dict:
        record = self._tag_target(resource_arn)
        if not keys:
            raise ValidationException("tagKeys is required.")
        self.store.update(record.name, tags={k: v for k, v in record.tags.items() if k not in keys})
        return {}

    # -- changes -------------------------------------------------------------------------------
    def update_environment(self, name: str, changes: dict[str, Any]) -> dict[str, str]:
        record = self._record(name)
        refusal = rules.update_refusal(name, record.status)
        if refusal:
            raise ValidationException(refusal)
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
        new_spec = _validated({**updated(record.spec, changes), "Name": name})
        if new_spec["SourceBucketArn"] != record.spec["SourceBucketArn"]:
            self._check_bucket(new_spec)
        prepare = self._artifacts_for(record.spec, new_spec)
        operations.start_update(
            self.store, name, new_spec, self.healthy, self.on_spec_applied, prepare
        )
        return {"Arn": self.arn(name)}

    def create_environment(self, name: str, body: dict[str, Any]) -> dict[str, str]:
        if name != self.own.name:
            raise ValidationException(
                f"This mwaa-local installation runs one environment, {self.own.name}. To run "
                f"{name}, use another folder (another installation) with its own "
                "environment.json and ports."
            )
        if self.store.get(name) is not None:
            raise ValidationException(f"Environment {name} already exists.")
        new_spec = _validated({**body, "Name": name})
        self._check_bucket(new_spec)
        prepare = self._artifacts_for({}, new_spec, creating=True)
        # Services still running from before the delete restart onto the new definition once
        # its plugins and requirements are staged: a generation above theirs says so, and the
        # monitor waits for them before AVAILABLE.
        running = max(self.store.live_components(name).values(), default=0)
        self.store.create(name, new_spec, "CREATING", generation=running)
        operations.start_create(self.store, name, running, prepare)
        return {"Arn": self.arn(name)}

    def delete_environment(self, name: str) -> dict:
        self._record(name)
        # The record goes; the processes stay until `make down` (mwaa-local cannot stop itself).
        self.store.delete(name)
        return {}

    # -- the bucket's rules --------------------------------------------------------------------
    def _check_bucket(self, spec: dict[str, Any]) -> None:
        """MWAA's bucket rules beyond the ARN's pattern: the bucket exists and is versioned."""
        bucket = spec_module.validate(spec).bucket
        try:
            enabled = objects.versioning_enabled(self.s3, bucket)
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

    def _artifacts_for(
        self, old: dict[str, Any], new: dict[str, Any], creating: bool = False
    ) -> Callable[[], None] | None:
        """Check the plugins/requirements versions `new` names (refusing unreadable ones now,
        as MWAA does) and return what stages them, or None when they did not change.

        A path without a version means its latest version, pinned from now on. When creating,
        a path whose object does not exist yet is left unpinned, as `make up` does with
        environment.json (plugins.zip appears with the first `deploy`)."""
        fields = [f for pair in staging.FIELDS for f in pair]
        if all(old.get(f) == new.get(f) for f in fields):
            return None
        bucket = spec_module.validate(new).bucket
        try:
            new.update(pinning.pin_latest(self.s3, bucket, new))
            spec = spec_module.validate(new)
            # A version named that does not exist first: it is what the caller asked for.
            problem = pinning.unreadable_version(self.s3, bucket, new)
        except (ClientError, BotoCoreError) as exc:
            raise ValidationException(f"Unable to access bucket {bucket}: {exc}") from None
        if problem:
            raise ValidationException(problem)
        # A path this update names (anew) must exist; one left as it was may stay unpinned.
        named = {
            new.get(path)
            for path, version in staging.FIELDS
            if (old.get(path), old.get(version)) != (new.get(path), new.get(version))
        }
        missing = [path for path in pinning.unpinned(new) if path in named]
        if missing and not creating:
            raise ValidationException(f"Unable to read file {missing[0]}")
        s3, state_dir = self.s3, self.state_dir
        return lambda: staging.stage(s3, spec, state_dir)


def updated(spec: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The definition after UpdateEnvironment's `changes`. A LoggingConfiguration module the
    update leaves out keeps its setting (TaskLogs alone changes only the task logs)."""
    merged = {**spec, **changes}
    if changes.get("LoggingConfiguration") is not None:
        merged["LoggingConfiguration"] = {
            **(spec.get("LoggingConfiguration") or {}),
            **changes["LoggingConfiguration"],
        }
    return merged


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return spec_module.validate(data).data
    except spec_module.SpecError as exc:
        raise ValidationException(str(exc)) from None
