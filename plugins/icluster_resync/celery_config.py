"""The Celery configuration of a CeleryExecutor deployment: the provider's own, plus the DAG
files' modules imported in each worker before its pool forks.

Why: a Celery worker runs each task in a process forked from one of its pool processes, which
are forked from the worker's main process. Without this, every task process imported the
providers' SSH, SFTP and ODBC hooks, pydantic and the domain package again when it parsed its
DAG file, about 0.6 s of CPU per task start (docs/benchmarks.md); the LocalExecutor has the same
preload (`icluster_resync.preload`). The provider preloads Airflow's own
modules the same way, on the same signal (``on_celery_import_modules``).

Selected by the deployment as ``[celery] celery_config_options =
icluster_resync.celery_config.CELERY_CONFIG``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

from icluster_resync.preload import preload_for_task_processes

# The provider's configuration, unchanged (the same object: nothing here overrides it).
CELERY_CONFIG: dict[str, Any] = DEFAULT_CELERY_CONFIG


@import_modules.connect
def preload_before_the_pool_forks(*args: Any, **kwargs: Any) -> None:
    """In the worker's main process, before the pool forks: import what the DAG files do."""
    preload_for_task_processes()
