"""Airflow's LocalExecutor and CeleryExecutor, without a race that fails resumed deferred tasks.

Why: every IBM i wait of the resync defers to the triggerer, and many end within a second or
two (a DMMRKPOS, a DMENDGRP at the demo's time scale). When a task defers, its process exits
and the executor reports SUCCESS for that try; if the trigger fires and the task is queued or
running again, under the same try number, before the scheduler has drained that report,
Airflow 3.3.2's scheduler takes the stale SUCCESS for a task killed externally ("finished with
state success, but the task instance's state attribute is queued") and fails the resumed task
(UP_FOR_RETRY: a lost try and the 30 s retry delay). The 20-group benchmark lost 19 task
instances that way on this 2-core machine (docs/benchmarks.md).

Upstream handles the SCHEDULED case (apache/airflow#66431) and, on main, the QUEUED one
(#68741); RUNNING is open (#72716, #72767). The rule is theirs: a same-try SUCCESS for a task
instance that is SCHEDULED, QUEUED or RUNNING with ``next_method`` set (it survives the resume
until the try ends) can only be the stale report of the process that deferred. These executors
drop exactly those reports from the event buffer before the scheduler reads it; every other
event, a FAILED one above all, passes unchanged.

Selected by the deployment (`scripts/deployment.py`, docker-compose.yml) as
``[core] executor = icluster_resync.executors.ResyncLocalExecutor`` (or
``icluster_resync.celery_executor.ResyncCeleryExecutor``, in a module of its own so that a
LocalExecutor deployment does not import Celery).
Remove it once the Airflow release in requirements.txt carries the upstream fix.

The LocalExecutor here also imports, before it forks its workers, the modules the DAG files
import (`icluster_resync.preload`): each task process is forked from a worker and parses its
DAG file, and would otherwise import them again, about 0.6 s of CPU per task start.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.executors.local_executor import LocalExecutor
from airflow.models.taskinstance import TaskInstance
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState
from sqlalchemy import select, tuple_

from icluster_resync.preload import preload_for_task_processes

log = logging.getLogger(__name__)

RESUMABLE = (TaskInstanceState.SCHEDULED, TaskInstanceState.QUEUED, TaskInstanceState.RUNNING)


def stale_defer_exits(events: dict[Any, Any], rows: list[Any]) -> set[TaskInstanceKey]:
    """The keys of ``events`` that are the stale SUCCESS of a process that deferred, given the
    task instance rows (dag_id, task_id, run_id, map_index, try_number, state, next_method)."""
    now = {(r[0], r[1], r[2], r[3]): (r[4], r[5], r[6]) for r in rows}
    stale = set()
    for key, value in events.items():
        if not isinstance(key, TaskInstanceKey) or value[0] != TaskInstanceState.SUCCESS:
            continue
        try_number, state, next_method = now.get(
            (key.dag_id, key.task_id, key.run_id, key.map_index), (None, None, None)
        )
        if try_number == key.try_number and state in RESUMABLE and next_method is not None:
            stale.add(key)
    return stale


class StaleDeferExitFilter:
    """Mixin for an executor: `get_event_buffer` without the stale defer-exit reports."""

    def get_event_buffer(self, dag_ids: Any = None) -> dict[Any, Any]:
        events: dict[Any, Any] = super().get_event_buffer(dag_ids)  # type: ignore[misc]
        successes = [
            key
            for key, value in events.items()
            if isinstance(key, TaskInstanceKey) and value[0] == TaskInstanceState.SUCCESS
        ]
        if not successes:
            return events
        ti = TaskInstance
        with create_session() as session:
            rows = session.execute(
                select(
                    ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, ti.state,
                    ti.next_method,
                ).where(
                    tuple_(ti.dag_id, ti.task_id, ti.run_id, ti.map_index).in_(
                        [(k.dag_id, k.task_id, k.run_id, k.map_index) for k in successes]
                    )
                )
            ).all()  # fmt: skip
        for key in stale_defer_exits(events, list(rows)):
            log.info("%s: the SUCCESS of the try that deferred came after its resume; dropped", key)
            events.pop(key)
        return events


class ResyncLocalExecutor(StaleDeferExitFilter, LocalExecutor):
    """LocalExecutor with `StaleDeferExitFilter`, whose workers start with the DAG files'
    modules imported (`preload_for_task_processes`)."""

    def start(self) -> None:
        preload_for_task_processes()
        super().start()
