"""mwaa-local for a user's own tests: the pytest plugin (plugin.py, loaded through the `pytest11`
entry point) and what its fixtures are made of.

It runs in the user's Python, where only the light part of mwaa-local is installed: standard
library, pytest, and boto3 for the clients (imported when a client is first asked for). The
environment itself runs on the platform `mwaa-local` brings along; the plugin talks to it as a
user's script would, through `mwaa-local` commands, MWAA's API and the S3 endpoint.
"""
