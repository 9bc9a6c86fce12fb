"""`mwaa-local run api`: MWAA's API on the environment's web server host."""

from __future__ import annotations

from emulator.config import settings
from emulator.context import ServiceContext


def run(ctx: ServiceContext) -> int:
    from emulator.api.server import serve

    serve(ctx, settings())
    return 0
