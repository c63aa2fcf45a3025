"""CeleryExecutor with the stale defer-exit filter of `icluster_resync.executors` (why: there)."""

from __future__ import annotations

from airflow.providers.celery.executors.celery_executor import CeleryExecutor

from icluster_resync.executors import StaleDeferExitFilter


class ResyncCeleryExecutor(StaleDeferExitFilter, CeleryExecutor):
    """CeleryExecutor with `StaleDeferExitFilter`."""
