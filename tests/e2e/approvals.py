"""Answering a resync's approval from outside the run, the way a person does in the UI.

The api-server's HITL route (PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails) records
who answered and what, then resumes the parked task with `handle_event_submit`. `dag.test()`
keeps a run alive while a task waits in AWAITING_INPUT and picks up exactly that change, so a
thread that does what the route does answers the run under test.
"""

from __future__ import annotations

import threading
import time

DAG_ID = "icluster_resync"


class ApprovalAnswer(threading.Thread):
    """Wait for ``task_id`` to ask, then answer ``choice`` as ``user``; ``asked`` and
    ``answered`` record what happened (for the assertions)."""

    def __init__(self, choice: str, user: str, *, task_id: str = "approve_clearing") -> None:
        super().__init__(daemon=True, name=f"approval-{choice}")
        self.choice, self.user, self.task_id = choice, user, task_id
        self.asked: str | None = None  # the run id whose approval was answered
        self.stop = threading.Event()
        self.errors: list[str] = []  # what went wrong on the way, for a failing assertion
        # Import and configure the ORM here, in the test's thread: done lazily inside this
        # thread, SQLAlchemy's mapper set-up imports every model while dag.test imports too,
        # and the two threads deadlock on Python's import locks.
        import airflow.models.hitl
        import airflow.models.taskinstance
        import airflow.models.trigger  # noqa: F401
        from sqlalchemy.orm import configure_mappers

        configure_mappers()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if self._answer_once():
                    return
            except Exception as error:  # e.g. SQLite busy while dag.test writes: try again
                self.errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.5)

    def _answer_once(self) -> bool:
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.triggers.base import TriggerEvent
        from airflow.utils import timezone
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        with create_session() as session:
            ti = session.scalar(
                select(TaskInstance).where(
                    TaskInstance.dag_id == DAG_ID,
                    TaskInstance.task_id == self.task_id,
                    TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                )
            )
            if ti is None:
                return False
            detail = session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti.id))
            if detail is None or detail.response_received:
                return False
            assert self.choice in (detail.options or []), (self.choice, detail.options)
            detail.responded_by = {"id": self.user, "name": self.user}
            detail.responded_at = timezone.utcnow()
            detail.chosen_options = [self.choice]
            detail.params_input = {}
            session.add(detail)
            handle_event_submit(
                TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
            )
            self.asked = ti.run_id
        return True
