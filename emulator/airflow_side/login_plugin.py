"""The thin part of mwaa-local that lives inside Airflow's web server.

- `/aws_mwaa/login` turns a web login token into a Flask-AppBuilder session for the token's
  user and role; the session lasts 12 hours, as MWAA's does. A post from another site's page
  (its `Origin` or `Sec-Fetch-Site` says so) is refused: a program's post (Airflow's amazon
  provider, curl) has neither, and the SSO page posts from the same origin.
- Airflow's username/password page is replaced by one that says how to sign in (nobody has
  a password here, as on MWAA), or, for a signed-in user sent there because their role may
  not open a page, says so.
- It fills the two holes in Airflow 1.10.12's own UI assets, so that its pages load with no
  failed request (stock 1.10.12 answers both with 404; the pages work anyway):
  Bootstrap 3's `glyphicons-halflings-regular.woff2`, which Flask-AppBuilder 2.3.4 leaves out
  although its CSS asks for it first (Flask-Admin, pinned by Airflow, ships the same font);
  and the graph view's `url_for_asset('graph.js')`, which the 1.10.12 build left out of its
  manifest, so the page asks for `/static/` (its inline script holds that code already).

Loaded through the `airflow.plugins` entry point, so it is there whatever the user's
plugins folder holds.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import flask_admin
import psycopg2
from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template_string,
    request,
    send_from_directory,
)
from flask_login import current_user, login_user

from emulator.environment.store import Store

blueprint = Blueprint("mwaa_local_login", __name__)

# MWAA's `[aws_mwaa] session_duration_minutes`.
SESSION_LIFETIME = timedelta(minutes=720)
GLYPHICONS_WOFF2 = "glyphicons-halflings-regular.woff2"
_FONTS = (
    Path(flask_admin.__file__).parent / "static" / "bootstrap" / "bootstrap3" / "swatch" / "fonts"
)
# Flask-AppBuilder's password login, where Airflow sends a browser without a session.
_PASSWORD_LOGIN = "AuthDBView.login"

_PAGE = """{% extends base_template %}
{% block content %}
{{ super() }}
<div class="container" id="mwaa-local-sign-in">
{% if user %}
  <h2>Not allowed for your role</h2>
  <p>You are signed in as <strong>{{ user.username }}</strong>
     ({{ user.roles | join(", ", attribute="name") }}), which may not open that page.
     Ask for a web login token with a stronger role, or go back to the
     <a href="{{ url_for('Airflow.index') }}">DAGs</a>.</p>
{% else %}
  <h2>{{ title }}</h2>
  {% if problem %}<p class="text-danger" id="mwaa-local-problem">{{ problem }}</p>{% endif %}
  <p>This Airflow UI is reached as Amazon MWAA's is: with a one-time web login token, not a
     password. Tokens last 60 seconds and work once.</p>
  <p>From the mwaa-local project folder:</p>
  <pre>mwaa-local login --open</pre>
  <p>or, with the AWS CLI pointed at mwaa-local (<code>eval "$(mwaa-local env)"</code>):</p>
  <pre>aws mwaa create-web-login-token --name {{ name }}</pre>
  <p>then open
     <code>https://{WebServerHostname}/aws_mwaa/aws-console-sso?login=true#{WebToken}</code>
     with the two values it printed.</p>
{% endif %}
</div>
{% endblock %}
"""


def _page(status: int, title: str = "Sign in to Apache Airflow", problem: str = "") -> Response:
    user = current_user if current_user.is_authenticated else None
    html = render_template_string(
        _PAGE,
        appbuilder=current_app.appbuilder,
        base_template=current_app.appbuilder.base_template,
        title=title,
        problem=problem,
        user=user,
        name=os.environ.get("AIRFLOW_ENV_NAME", "mwaa-local"),
    )
    return Response(
        html, status=status, mimetype="text/html", headers={"Cache-Control": "no-store"}
    )


def _setup(state) -> None:
    app = state.app
    # The token is the proof here; a browser arriving from the SSO page has no CSRF token.
    app.extensions["csrf"].exempt(blueprint)
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME

    @app.before_request
    def _no_password_login() -> Response | None:
        if request.endpoint != _PASSWORD_LOGIN:
            return None
        if current_user.is_authenticated:
            # FAB sends a user here when their role may not open a page.
            return _page(403)
        return _page(403 if request.method == "POST" else 200)


blueprint.record_once(_setup)


def cross_site(origin: str | None, fetch_site: str | None, own_origin: str) -> bool:
    """Whether a browser sent this request from another site's page."""
    if fetch_site and fetch_site.lower() not in ("same-origin", "none"):
        return True
    return origin is not None and origin.rstrip("/").lower() != own_origin.lower()


@blueprint.route("/aws_mwaa/login", methods=["POST"])
def login() -> Response:
    # request.host and .scheme are the browser's (the API's proxy tells Airflow, ProxyFix).
    own = f"{request.scheme}://{request.host}"
    if cross_site(request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), own):
        return _page(
            403,
            "Login refused",
            "This sign-in was sent by another site's page. Open the link that "
            "`mwaa-local login` (or the MWAA console) gives you instead.",
        )
    token = request.form.get("token", "").strip()
    if not token:
        return _page(403, "Login refused", "No token was sent.")
    try:
        grant = Store(conf.get("core", "sql_alchemy_conn")).check_token(
            "web", token, single_use=True
        )
    except psycopg2.OperationalError:
        return _page(
            503, "Try again shortly", "The metadata database is not answering; it restarts."
        )
    if grant is None:
        return _page(403, "Login refused", "The web login token is invalid, expired or used.")
    sm = current_app.appbuilder.sm
    role = sm.find_role(grant.role)
    if role is None:
        return _page(403, "Login refused", f"Airflow has no role named {grant.role}.")
    identity = grant.identity or "user/anonymous"  # the API always records one
    user = sm.find_user(username=identity)
    if user is None:
        user = sm.add_user(
            username=identity,
            first_name=identity.rsplit("/", 1)[-1],
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


# A rule with no variable part wins over Airflow's `/static/<path:filename>`.
@blueprint.route(f"/static/appbuilder/fonts/{GLYPHICONS_WOFF2}")
def glyphicons_woff2() -> Response:
    return send_from_directory(_FONTS, GLYPHICONS_WOFF2, cache_timeout=43200)


@blueprint.route("/static/")
def missing_graph_asset() -> Response:
    return Response(
        "/* graph.js of Airflow 1.10.12: its code is inline in the graph view's page. */\n",
        mimetype="application/javascript",
        headers={"Cache-Control": "public, max-age=43200"},
    )


class MwaaLocalLoginPlugin(AirflowPlugin):
    name = "mwaa_local_login"
    flask_blueprints = [blueprint]
