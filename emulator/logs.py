"""Logging of the emulator's own services: stdlib logging, one format, the service's name in
each line. Modules log through `LOG = logging.getLogger(__name__)`; `print` is only for the
CLI's output to its user."""

from __future__ import annotations

import logging
import sys

FORMAT = "[%(asctime)s] {service} %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def setup(service: str, level: int = logging.INFO) -> None:
    """Send this process's log records to stderr as `[time] SERVICE LEVEL module: message`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT.format(service=service), DATE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that talk a lot at INFO: their warnings are enough.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
