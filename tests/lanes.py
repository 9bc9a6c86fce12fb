"""`make test`'s integration run, in two lanes at once: the Docker files (marker `docker`: compose
projects and ports of their own) beside the native ones (marker `not docker`). Within a lane the
files run in order, as their tests share environments; the two lanes share nothing but the
machine, and running them together saves the Docker lane's ten minutes of CI's run.

The native lane prints as it goes. The Docker lane writes to tests/artifacts/docker-lane.log
(two interleaved runs would be unreadable), says when it ends, and is printed whole after the
native lane. `make test LANES=serial` runs the two one after the other instead.

Usage: python -m tests.lanes [serial|parallel] [PYTEST ARGS...]
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "tests" / "artifacts" / "docker-lane.log"
# pytest's "no tests collected": a selection (PYTEST_ARGS) that leaves a lane empty.
NO_TESTS = 5


def _command(marker: str, args: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "tests/integration", "-m", marker, "--durations=15", *args
    ]  # fmt: skip


def _passed(code: int) -> bool:
    return code in (0, NO_TESTS)


def main(argv: list[str]) -> int:
    mode = argv[0] if argv and argv[0] in ("serial", "parallel") else "parallel"
    args = argv[1:] if argv and argv[0] in ("serial", "parallel") else argv
    if mode == "serial":
        native = subprocess.call(_command("not docker", args), cwd=ROOT)
        docker = subprocess.call(_command("docker", args), cwd=ROOT)
        return 0 if _passed(native) and _passed(docker) else 1

    LOG.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"== the Docker lane runs beside this one; its output: {LOG}", flush=True)
    with LOG.open("w") as log:
        lane = subprocess.Popen(
            _command("docker", args), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )

        def announce_its_end() -> None:
            code = lane.wait()
            took = time.monotonic() - started
            print(f"== the Docker lane ended (exit {code}) after {took:.0f} s", flush=True)

        threading.Thread(target=announce_its_end, daemon=True).start()
        try:
            native = subprocess.call(_command("not docker", args), cwd=ROOT)
            if lane.poll() is None:
                print("== the native lane is done; waiting for the Docker lane", flush=True)
            docker = lane.wait()
        except BaseException:
            lane.terminate()
            lane.wait(timeout=120)
            raise
    print(
        f"\n== the Docker lane (exit {docker}, {time.monotonic() - started:.0f} s in all), "
        f"from {LOG}:",
        flush=True,
    )
    sys.stdout.write(LOG.read_text(errors="replace"))
    sys.stdout.flush()
    return 0 if _passed(native) and _passed(docker) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
