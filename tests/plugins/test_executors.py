"""The deployment's executor drops only the stale SUCCESS of a try that deferred
(plugins/icluster_resync/executors.py), and the deployment selects it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.executors.local_executor import LocalExecutor
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.utils.state import TaskInstanceState

from icluster_resync.executors import ResyncLocalExecutor, stale_defer_exits
from icluster_resync.preload import dag_imports
from scripts import deployment as d

S = TaskInstanceState


def _key(task: str, try_number: int = 1, map_index: int = 0) -> TaskInstanceKey:
    return TaskInstanceKey("icluster_resync", task, "manual__1", try_number, map_index)


def _row(task: str, try_number: int, state: S | None, next_method: str | None) -> tuple:
    return ("icluster_resync", task, "manual__1", 0, try_number, state, next_method)


@pytest.mark.parametrize("state", [S.SCHEDULED, S.QUEUED, S.RUNNING])
def test_a_success_for_a_resumed_try_is_stale(state: S) -> None:
    events = {_key("outage.mark_positions"): (S.SUCCESS, None)}
    rows = [_row("outage.mark_positions", 1, state, "execute_complete")]
    assert stale_defer_exits(events, rows) == {_key("outage.mark_positions")}


@pytest.mark.parametrize(
    ("event", "row"),
    [
        # a task killed externally while running: no deferral behind it
        ((S.SUCCESS, None), _row("t", 1, S.RUNNING, None)),
        # a resumed try that failed: a failure is never dropped
        ((S.FAILED, None), _row("t", 1, S.RUNNING, "execute_complete")),
        # the report of an older try
        ((S.SUCCESS, None), _row("t", 2, S.QUEUED, "execute_complete")),
        # the deferral is still on the triggerer: nothing resumed, nothing to protect
        ((S.SUCCESS, None), _row("t", 1, S.DEFERRED, "execute_complete")),
        # finished: the scheduler's own handling
        ((S.SUCCESS, None), _row("t", 1, S.SUCCESS, None)),
    ],
    ids=["killed-running", "failed", "older-try", "deferred", "finished"],
)
def test_every_other_event_passes(event: tuple, row: tuple) -> None:
    assert stale_defer_exits({_key("t"): event}, [row]) == set()


def test_an_event_of_an_unknown_task_instance_passes() -> None:
    assert stale_defer_exits({_key("gone"): (S.SUCCESS, None)}, []) == set()


def test_it_is_the_local_executor_with_the_filter() -> None:
    assert issubclass(ResyncLocalExecutor, LocalExecutor)
    assert ResyncLocalExecutor.is_local and ResyncLocalExecutor.serve_logs


@pytest.mark.parametrize("name", ["LocalExecutor", "CeleryExecutor"])
def test_the_deployment_selects_the_filtered_executor(tmp_path: Path, name: str) -> None:
    path = d.env(d.Settings(state=tmp_path, executor=name), base={})["AIRFLOW__CORE__EXECUTOR"]
    module, _, cls = path.rpartition(".")
    executor = getattr(__import__(module, fromlist=[cls]), cls)
    assert executor.__name__ == f"Resync{name}"
    assert any(base.__name__ == name for base in executor.__mro__)


# ---- the workers start with the DAG files' modules imported -------------------------------

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_dag_imports_lists_what_the_dag_files_import_at_top_level(tmp_path: Path) -> None:
    assert {"icluster_resync.operators", "ibmi_resync.plan", "airflow.sdk"} <= set(
        dag_imports(DAGS)
    )
    (tmp_path / "a.py").write_text(
        "from __future__ import annotations\nimport json, csv as c\nfrom . import x\n"
        "from email.mime import text\n\ndef f():\n    import zipfile\n"
    )
    (tmp_path / "broken.py").write_text("def (:\n")
    assert dag_imports(tmp_path) == {"json": [], "csv": [], "email.mime": ["text"]}
    assert {"DAG", "task", "task_group"} <= set(dag_imports(DAGS)["airflow.sdk"])


def test_the_executor_imports_them_before_it_forks_its_workers(tmp_path: Path) -> None:
    """In a fresh interpreter: when LocalExecutor.start (which forks the workers) runs, the
    DAG file's modules are already imported; one that cannot be imported is only logged."""
    (tmp_path / "dag.py").write_text("import icluster_resync.transfer\nimport no_such_module\n")
    script = (
        "import sys\n"
        "from airflow.executors.local_executor import LocalExecutor\n"
        "LocalExecutor.start = lambda self: print(sorted(m for m in sys.modules"
        " if m in ('icluster_resync.transfer', 'asyncssh', 'no_such_module')))\n"
        "from icluster_resync.executors import ResyncLocalExecutor\n"
        "assert 'asyncssh' not in sys.modules\n"
        "ResyncLocalExecutor().start()\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['asyncssh', 'icluster_resync.transfer']"
    assert "no_such_module" in done.stdout + done.stderr


def test_a_celery_worker_imports_them_before_its_pool_forks(tmp_path: Path) -> None:
    """In a fresh interpreter: the configuration module keeps the provider's Celery settings,
    and Celery's import_modules signal (sent in the worker's main process before the pool
    forks) imports the DAG file's modules."""
    (tmp_path / "dag.py").write_text("import icluster_resync.transfer\nimport no_such_module\n")
    script = (
        "import sys\n"
        "from celery.signals import import_modules\n"
        "from airflow.providers.celery.executors import celery_executor_utils as utils\n"
        "from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG\n"
        "assert utils.get_celery_configuration() is DEFAULT_CELERY_CONFIG\n"
        "assert 'asyncssh' not in sys.modules\n"
        "import_modules.send(sender=utils.app)\n"
        "print(sorted(m for m in sys.modules"
        " if m in ('icluster_resync.transfer', 'asyncssh', 'no_such_module')))\n"
    )
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "icluster_resync.celery_config.CELERY_CONFIG",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['asyncssh', 'icluster_resync.transfer']"
    assert "no_such_module" in done.stdout + done.stderr
