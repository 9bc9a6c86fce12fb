"""The Celery app the workers run: Airflow 1.10.12's own (`airflow.executors.celery_executor.app`,
its broker, result backend and queues unchanged), whose one task, `execute_command`, starts a
task's `airflow run --local` in a fork of the warm pool process instead of a new interpreter.

Airflow 1.10.12's task runs `subprocess.check_call(["airflow", "run", ...])`: a new Python that
imports Airflow again, about 1.5 s of the 2 s between a task being queued and it running on this
machine. Airflow 2.0 made the same change upstream (`_execute_in_fork`, unless
`core.execute_tasks_new_python_interpreter` is true), and the option keeps its meaning here:
the "mwaa" timing sets it, so that tasks start as MWAA starts them. Airflow's code is not
changed: the worker is started on this module's app (services/airflow.py), which is Airflow's
app with the task registered under the same name, so the scheduler's messages reach it.
"""

from __future__ import annotations

import logging
import os
import subprocess

from airflow.exceptions import AirflowException
from airflow.executors import celery_executor

LOG = logging.getLogger(__name__)
TASK = "airflow.executors.celery_executor.execute_command"
# What `airflow run` imports for a typical task, imported once here: the pool processes are
# forks of the worker's main process, and each task's fork starts with them.
WARM = (
    "airflow.bin.cli",
    "airflow.jobs",
    "airflow.task.task_runner.standard_task_runner",
    "airflow.operators.bash_operator",
    "airflow.operators.python_operator",
    "airflow.operators.dummy_operator",
)

app = celery_executor.app


def new_interpreter() -> bool:
    """Whether tasks start in a new `airflow` process, as Airflow 1.10.12 (and MWAA) start them.
    Both timings set the option (environment/airflow_config.py); without it, a fork."""
    from airflow.configuration import AirflowConfigException, conf

    try:
        return conf.getboolean("core", "execute_tasks_new_python_interpreter")
    except AirflowConfigException:
        return False


def _in_fork(command: list[str]) -> int:
    """Run `airflow run ...` in a forked child; its exit status (0 when the task ran)."""
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    code = 1
    try:
        from airflow.bin.cli import CLIFactory
        from setproctitle import setproctitle

        # `airflow run` makes its own database engine (configure_orm) before it touches the
        # database: nothing of this process's connections is used by the child.
        args = CLIFactory.get_parser().parse_args(command[1:])
        setproctitle(f"airflow task supervisor: {' '.join(command)}")
        args.func(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported in the worker's log; the task fails
        LOG.exception("airflow run failed in the worker's fork: %s", command)
    finally:
        logging.shutdown()
        os._exit(code)


def execute_command(command_to_exec: list[str]) -> None:
    """Airflow 1.10.12's `execute_command`, with the command run in a fork."""
    if command_to_exec[0:2] != ["airflow", "run"]:
        raise ValueError('The command must start with ["airflow", "run"].')
    LOG.info("Executing command in Celery: %s", command_to_exec)
    if new_interpreter():
        try:
            subprocess.check_call(command_to_exec, stderr=subprocess.STDOUT, close_fds=True)
        except subprocess.CalledProcessError as exc:
            raise AirflowException("Celery command failed") from exc
        return
    if _in_fork(command_to_exec) != 0:
        raise AirflowException("Celery command failed")


def _register() -> None:
    # Celery keeps the first task registered under a name: Airflow's goes, this one comes.
    app.tasks.unregister(TASK)
    app.task(name=TASK)(execute_command)
    for name in WARM:
        __import__(name)


_register()
