"""moto's S3 server on 0.0.0.0:9000, as the S3 stand-in's main process (PID 1)."""

import logging
import signal
import sys

from moto.server import main

# As PID 1, Python would ignore `docker stop`'s SIGTERM (no handler) and be killed only after
# the grace period: exit on it instead.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
# The healthcheck (`mc ready local`) asks for / every 2 s: keep those out of the log.
logging.getLogger("werkzeug").addFilter(lambda record: '"GET / HTTP' not in record.getMessage())
main(["-H", "0.0.0.0", "-p", "9000"])
