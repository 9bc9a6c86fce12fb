"""A component's own output to its log group: the lines its Airflow process prints, passed on
to this process's output unchanged (`mwaa-local logs --local`, `docker logs`) and, at its
LogLevel, into the spool for the group (Scheduler, Worker or WebServer), as MWAA's images
capture their subprocesses' output."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from emulator.cloudwatch import lines
from emulator.cloudwatch.log_types import LEVELS, Setting
from emulator.cloudwatch.redact import Redactor
from emulator.cloudwatch.spool import SpoolWriter

LOG = logging.getLogger(__name__)


@dataclass
class ComponentOutput:
    group: str
    stream: str
    setting: Setting
    redact: Redactor
    spool: SpoolWriter
    _previous: int = field(default=LEVELS["INFO"], repr=False)

    def line(self, raw: bytes, when_ms: int) -> None:
        text = lines.clean(raw.decode("utf-8", "replace"))
        level = lines.level_of(text, self._previous)
        self._previous = level
        if not self.setting.enabled or level < self.setting.levelno or not text.strip():
            return
        self.spool.write(self.group, self.stream, when_ms, self.redact(text))


def tee(source: IO[bytes], out: BinaryIO, output: ComponentOutput | None) -> threading.Thread:
    """Copy `source` to `out` line by line, and each line to `output`, in a thread of its own
    (it only writes local files: the Airflow process never waits for the network)."""

    def run() -> None:
        for raw in iter(source.readline, b""):
            try:
                out.write(raw)
                out.flush()
            except (OSError, ValueError):
                pass  # our own output is gone; the group still gets the line
            if output is not None:
                try:
                    output.line(raw, int(time.time() * 1000))
                except OSError as exc:  # the spool's disk: the line is lost to the group only
                    LOG.warning("could not spool a log line: %s", exc)
        source.close()

    thread = threading.Thread(target=run, name="output-tee", daemon=True)
    thread.start()
    return thread
