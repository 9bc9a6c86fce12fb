"""Helpers for the bench scripts: a throwaway native environment and process accounting."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
VENV_PYTHON = PROJECT / ".venv" / "bin" / "python"


def ensure_venv() -> None:
    """Re-run this script with the project's venv when started with another Python."""
    if Path(sys.prefix).resolve() != (PROJECT / ".venv").resolve():
        if not VENV_PYTHON.exists():
            raise SystemExit("bench: run `make venv` first")
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])


class BenchEnv:
    """A native environment in its own state folder and ports."""

    def __init__(self, ports: dict[str, int]):
        self.home = Path(tempfile.mkdtemp(prefix="mwaa-local-bench-"))
        self.home.chmod(0o755)
        self.ports = ports
        self.env = {
            **os.environ,
            "MWAA_LOCAL_HOME": str(self.home),
            "MWAA_LOCAL_WEB_PORT": str(ports["web"]),
            "MWAA_LOCAL_S3_PORT": str(ports["s3"]),
            "MWAA_LOCAL_POSTGRES_PORT": str(ports["postgres"]),
            "MWAA_LOCAL_REDIS_PORT": str(ports["redis"]),
            "MWAA_LOCAL_LOGS_PORT": str(ports.get("logs", ports["s3"] + 10)),
            "MWAA_LOCAL_HTTPS_PORT": str(ports.get("https", ports["web"] + 363)),
            "MWAA_LOCAL_AIRFLOW_PORT": str(ports.get("airflow", ports["web"] + 1)),
        }

    def mwaa(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(PROJECT / ".venv" / "bin" / "mwaa-local"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )
        if check and result.returncode != 0:
            raise SystemExit(f"mwaa-local {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def timed(self, *args: str) -> float:
        started = time.perf_counter()
        self.mwaa(*args)
        return time.perf_counter() - started

    def db(self):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.ports["postgres"],
            user="airflow",
            password="airflow",
            dbname="airflow",
        )

    def status(self) -> dict:
        import json

        return json.loads(self.mwaa("status", "--json", check=False).stdout)

    def processes(self) -> list:
        """Every process of the environment: each component's process tree, as supervisord
        runs it (supervisord itself and its event listener are left out)."""
        import psutil

        found = []
        for component in self.status()["Components"]:
            if not component.get("pid"):
                continue
            try:
                leader = psutil.Process(component["pid"])
                found += [leader, *leader.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    def running_workers(self) -> list[str]:
        return sorted(
            (
                c["name"]
                for c in self.status()["Components"]
                if c["name"].startswith("worker-") and c["state"] == "running"
            ),
            key=lambda w: int(w.split("-")[1]),
        )

    def close(self) -> None:
        import shutil

        self.mwaa("down", check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def memory(processes: list) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MiB; PSS shares pages between forked processes fairly."""
    import psutil

    rss = pss = 0
    for proc in processes:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def cpu_seconds(processes: list) -> dict[tuple[int, float], float]:
    """CPU seconds each process used so far, keyed by (pid, create time): its own and its
    reaped children's, so the short-lived ones (Airflow's DAG file processors, the tasks' own
    processes) count once their parent has reaped them."""
    import psutil

    found = {}
    for proc in processes:
        try:
            times = proc.cpu_times()
            key = (proc.pid, proc.create_time())
        except psutil.Error:
            continue
        found[key] = times.user + times.system + times.children_user + times.children_system
    return found


class Verdicts:
    """Each figure with its target: met, or MISSED. `finish()` says which were missed and is the
    script's exit status (non-zero when any was), so `make bench` can stop at the first miss."""

    def __init__(self, script: str):
        self.script = script
        self.missed: list[str] = []

    def check(self, name: str, met: bool) -> str:
        """ "" when met, " MISSED" (recorded) otherwise: appended to the figure's line."""
        if met:
            return ""
        self.missed.append(name)
        return " MISSED"

    def finish(self) -> int:
        if self.missed:
            print(f"{self.script}: MISSED {', '.join(self.missed)}", flush=True)
            return 1
        print(f"{self.script}: every target met", flush=True)
        return 0
