"""The thin part of mwaa-local that lives inside Airflow's web server: `/aws_mwaa/login`
turns a web login token into a Flask-AppBuilder session for the token's user and role.

Loaded through the `airflow.plugins` entry point, so it is there whatever the user's
plugins folder holds.
"""

from __future__ import annotations

import secrets

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from flask import Blueprint, Response, current_app, redirect, request
from flask_login import login_user

from emulator.api.store import Store

blueprint = Blueprint("mwaa_local_login", __name__)


def _exempt_from_csrf(state) -> None:
    # The token is the proof here; a browser arriving from the SSO page has no CSRF token.
    state.app.extensions["csrf"].exempt(blueprint)


blueprint.record_once(_exempt_from_csrf)


def _refuse(message: str) -> Response:
    page = (
        "<!doctype html><title>Amazon MWAA (mwaa-local): login refused</title>"
        f"<h1>Login refused</h1><p>{message}</p>"
        "<p>Create a new token with <code>aws mwaa create-web-login-token</code> "
        "(or <code>mwaa-local login</code>): tokens last 60 seconds and work once.</p>"
    )
    return Response(page, status=403, mimetype="text/html")


@blueprint.route("/aws_mwaa/login", methods=["POST"])
def login() -> Response:
    token = request.form.get("token", "").strip()
    if not token:
        return _refuse("No token was sent.")
    grant = Store(conf.get("core", "sql_alchemy_conn")).check_token("web", token, single_use=True)
    if grant is None:
        return _refuse("The web login token is invalid, expired or already used.")
    sm = current_app.appbuilder.sm
    role = sm.find_role(grant.role)
    if role is None:
        return _refuse(f"Airflow has no role named {grant.role}.")
    user = sm.find_user(username=grant.identity)
    if user is None:
        user = sm.add_user(
            username=grant.identity,
            first_name=grant.identity.rsplit("/", 1)[-1],
            last_name="",
            email=f"{secrets.token_hex(8)}@mwaa-local.invalid",
            role=role,
            password=secrets.token_urlsafe(32),  # never used: login is by token only
        )
    elif user.roles != [role]:
        user.roles = [role]
        sm.update_user(user)
    login_user(user, remember=False)
    return redirect("/home")


class MwaaLocalLoginPlugin(AirflowPlugin):
    name = "mwaa_local_login"
    flask_blueprints = [blueprint]
