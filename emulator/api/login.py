"""Web login: the SSO page MWAA's console opens, with the token in the URL fragment.

The fragment never reaches a server, so the page's script reads it and posts it to
`/aws_mwaa/login`, which the Airflow web server's own plugin
(emulator/airflow_side/login_plugin.py) turns into a Flask-AppBuilder session. That post
passes through the proxy as a route of this blueprint, so that the login's own body limit and
refusals apply to it (body_limits.py, app.py).
"""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.api import proxy

blueprint = Blueprint("login", __name__)

SSO_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Amazon MWAA (mwaa-local): signing in</title>
<link rel="icon" type="image/png" href="/static/pin_32.png"></head>
<body>
<p id="state">Signing in to Apache Airflow...</p>
<form id="login" method="post" action="/aws_mwaa/login">
  <input type="hidden" name="token" id="token">
</form>
<script>
  var token = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  if (token) {
    document.getElementById("token").value = token;
    history.replaceState(null, "", window.location.pathname);
    document.getElementById("login").submit();
  } else {
    document.getElementById("state").textContent =
      "No web login token in the address. Create one with " +
      "`aws mwaa create-web-login-token` (or `mwaa-local login`).";
  }
</script>
</body></html>
"""


@blueprint.route("/aws_mwaa/aws-console-sso", methods=["GET"])
def sso_page() -> Response:
    return Response(SSO_PAGE, mimetype="text/html", headers={"Cache-Control": "no-store"})


@blueprint.route("/aws_mwaa/login", methods=["POST"])
def login() -> Response:
    return proxy.forward("aws_mwaa/login")
