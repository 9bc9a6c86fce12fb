"""MWAA's control plane on HTTP (rest-json, API version 2020-07-01, paths as botocore's model
lays them out): each route authenticates, parses, calls the backend and serializes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, current_app, jsonify, request
from flask.wrappers import Response

from emulator.api.auth import authenticate
from emulator.api.backend import Backend
from emulator.api.errors import ValidationException

blueprint = Blueprint("control_plane", __name__)


def _backend() -> Backend:
    return current_app.config["BACKEND"]


def _body() -> dict[str, Any]:
    """The request's JSON object, whatever its Content-Type says; {} for an empty body."""
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValidationException("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationException("The request body must be a JSON object.")
    return body


@blueprint.route("/environments/<name>", methods=["GET"])
def get_environment(name: str) -> Response:
    authenticate(request)
    return jsonify(_backend().get_environment(name))


@blueprint.route("/environments", methods=["GET"])
def list_environments() -> Response:
    authenticate(request)
    args = request.args
    return jsonify(_backend().list_environments(args.get("MaxResults"), args.get("NextToken")))


@blueprint.route("/clitoken/<name>", methods=["POST"])
def create_cli_token(name: str) -> Response:
    return jsonify(_backend().create_cli_token(name, authenticate(request)))


@blueprint.route("/webtoken/<name>", methods=["POST"])
def create_web_login_token(name: str) -> Response:
    return jsonify(_backend().create_web_login_token(name, authenticate(request)))


@blueprint.route("/restapi/<name>", methods=["POST"])
def invoke_rest_api(name: str) -> Response:
    authenticate(request)
    return jsonify(_backend().invoke_rest_api(name))


@blueprint.route("/tags/<path:resource_arn>", methods=["GET"])
def list_tags_for_resource(resource_arn: str) -> Response:
    authenticate(request)
    return jsonify(_backend().list_tags(unquote(resource_arn)))


@blueprint.route("/tags/<path:resource_arn>", methods=["POST"])
def tag_resource(resource_arn: str) -> Response:
    authenticate(request)
    return jsonify(_backend().tag_resource(unquote(resource_arn), _body().get("Tags")))


@blueprint.route("/tags/<path:resource_arn>", methods=["DELETE"])
def untag_resource(resource_arn: str) -> Response:
    authenticate(request)
    keys = request.args.getlist("tagKeys")
    return jsonify(_backend().untag_resource(unquote(resource_arn), keys))


@blueprint.route("/environments/<name>", methods=["PATCH"])
def update_environment(name: str) -> Response:
    authenticate(request)
    return jsonify(_backend().update_environment(name, _body()))


@blueprint.route("/environments/<name>", methods=["PUT"])
def create_environment(name: str) -> Response:
    authenticate(request)
    return jsonify(_backend().create_environment(name, _body()))


@blueprint.route("/environments/<name>", methods=["DELETE"])
def delete_environment(name: str) -> Response:
    authenticate(request)
    return jsonify(_backend().delete_environment(name))
