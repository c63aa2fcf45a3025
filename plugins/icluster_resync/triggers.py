"""Deferrable waits: poll one read-only SQL statement on a node until a condition holds.

While IBM i works (a subsystem ends, a batch save runs, DMMRKPOS marks, latency drains), the
task is deferred: the wait runs here, in the triggerer, and holds no worker slot and no SSH
session. What ends the wait is decided by `ibmi_resync.waits.evaluate`, so the trigger only
loops, reconnects and reports; when the operator hands it the rest of the task, it walks that
too (`trigger_walk`: the commands, checks and waits up to the task's end) and ends the task
here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from ibmi_resync.executor import PendingWait
from ibmi_resync.node import Database
from ibmi_resync.plan import load_plan
from ibmi_resync.waits import evaluate
from icluster_resync.transport import SharedOdbcDatabase
from icluster_resync.trigger_walk import TriggerWalk

_CLASSPATH = "icluster_resync.triggers.NodeQueryTrigger"
# The task log line of a task that ended in the triggerer (the deployment test and the
# benchmark count them).
ENDED_HERE = "the trigger walked the rest of the task: it ends here"


class NodeQueryTrigger(BaseTrigger):
    """Poll `sql` with `params` on the node behind `odbc_conn_id` until `condition` is met.

    Yields exactly one event: `status` is "done" (condition met), "failed" (the condition
    says the wait failed, e.g. a failure message or a frozen apply) or "timeout"; `seen` is
    what the last poll saw and `details` what the condition extracted. Connection errors are
    retried until the timeout: a node that drops off for a minute does not fail the wait.

    `resume` is handed back untouched in the event: the deferred task's executor state. It
    rides in the trigger, not in the deferral's kwargs, because `dag.test()` (3.3.2) resumes a
    task with the event alone and drops those kwargs; the real triggerer would keep them.

    With `rest` (the task's steps up to its next wait are commands, batch jobs and checks:
    `trigger_walks_on`), a wait that ends done is followed here (`TriggerWalk`): the steps
    after it, and the waits after them while only such steps lie between; the task ends in
    the triggerer (its XCom pushed, then `TaskSuccessEvent`) when its last step is walked.
    Anything else (a wait followed by a save file to move, a failed wait, command or check)
    resumes the task on a worker at the wait it stands at, as without `rest`.
    """

    def __init__(
        self,
        *,
        odbc_conn_id: str,
        sql: str,
        params: list[Any],
        condition: dict[str, Any],
        poll_seconds: float,
        timeout_seconds: float,
        started_at: float | None = None,
        resume: dict[str, Any] | None = None,
        rest: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.odbc_conn_id = odbc_conn_id
        self.sql = sql
        self.params = list(params)
        self.condition = dict(condition)
        self.poll_seconds = float(poll_seconds)
        self.timeout_seconds = float(timeout_seconds)
        self.started_at = time.time() if started_at is None else float(started_at)
        self.resume = dict(resume or {})
        self.rest = dict(rest) if rest else None
        self._databases: dict[str, Database] = {}  # by connection id (`_connected`)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            _CLASSPATH,
            {
                "odbc_conn_id": self.odbc_conn_id,
                "sql": self.sql,
                "params": self.params,
                "condition": self.condition,
                "poll_seconds": self.poll_seconds,
                "timeout_seconds": self.timeout_seconds,
                "started_at": self.started_at,
                "resume": self.resume,
                "rest": self.rest,
            },
        )

    async def _database(self, odbc_conn_id: str) -> Database:
        """Separated out as a seam for tests: the node's database, on the ODBC connections
        the triggerer's triggers share (`SharedOdbcDatabase`: nothing is looked up or opened
        here)."""
        return SharedOdbcDatabase(odbc_conn_id)

    async def _connected(self, odbc_conn_id: str) -> Database:
        """The trigger's database on `odbc_conn_id`, for all its waits and its walk."""
        if odbc_conn_id not in self._databases:
            self._databases[odbc_conn_id] = await self._database(odbc_conn_id)
        return self._databases[odbc_conn_id]

    async def _disconnect(self, odbc_conn_id: str) -> None:
        """Close and forget the database on `odbc_conn_id`: the next poll starts afresh."""
        database = self._databases.pop(odbc_conn_id, None)
        if database is not None:
            close = getattr(database, "close", None)
            if close is not None:
                await asyncio.to_thread(close)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = _Wait(
            self.odbc_conn_id,
            self.sql,
            self.params,
            self.condition,
            self.poll_seconds,
            self.timeout_seconds,
            self.started_at,
        )
        resume = self.resume
        walk: TriggerWalk | None = None
        try:
            while True:
                event = await self._poll(wait)
                if event["status"] != "done" or self.rest is None:
                    break
                try:
                    if walk is None:
                        walk = await self._walk(resume)
                    step = await asyncio.to_thread(walk.advance, event)
                except Exception as error:  # the worker takes over, at this wait
                    kind = type(error).__name__
                    self.log.info("the task resumes on a worker: %s: %s", kind, error)
                    break
                if isinstance(step, PendingWait):
                    resume = walk.resume
                    wait = _Wait(
                        walk.odbc_conn_ids[step.node],
                        step.sql,
                        step.params,
                        step.condition,
                        step.poll_seconds,
                        step.timeout_seconds,
                        time.time(),
                    )
                    self.log.info("waiting: %s until %s", step.sql, step.condition)
                    continue
                try:
                    ended = await self._finished(step)
                except Exception as error:  # the XCom not pushed: the worker ends the task
                    kind = type(error).__name__
                    self.log.info("the task resumes on a worker: %s: %s", kind, error)
                    break
                yield ended
                return
            yield TriggerEvent({**event, "resume": resume})
        finally:
            if walk is not None:
                await asyncio.to_thread(walk.close)
            for odbc_conn_id in list(self._databases):
                await self._disconnect(odbc_conn_id)

    async def _walk(self, resume: dict[str, Any]) -> TriggerWalk:
        """The rest of the task after this wait, on the plan's two nodes' databases."""
        assert self.rest is not None
        plan = await asyncio.to_thread(load_plan, str(self.rest["plan"]))
        databases = {
            "PRIMARY": await self._connected(plan.primary.odbc_conn_id),
            "BACKUP": await self._connected(plan.backup.odbc_conn_id),
        }
        return await asyncio.to_thread(
            TriggerWalk, self.rest, resume, plan, databases, log=self.log.info
        )

    async def _finished(self, result: dict[str, Any]) -> TriggerEvent:
        """The task ends here, with `result` as its XCom. Under `dag.test()` (no triggerer:
        it resumes the task with the event's payload alone) the result goes back in a done
        event, and the operator returns it (`ResyncTaskOperator._resume`)."""
        ti = self.task_instance
        if ti is None:
            return TriggerEvent({"status": "done", "finished": result})
        # Pushed as a worker pushes it (the SDK's XCom, through the Execution API), not in
        # the event's `xcoms`: Airflow 3.3 stores those json.dumps'ed (XComModel.set with
        # serialize=True, where the API stores the SDK's value as is), so a dict would come
        # back to the next task as a string.
        await asyncio.to_thread(
            XCom.set,
            XCom.XCOM_RETURN_KEY,
            result,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
        )
        self.log.info(ENDED_HERE)
        return TaskSuccessEvent()

    async def _poll(self, wait: _Wait) -> dict[str, Any]:
        """Poll `wait` until it ends; its event's payload (without `resume`). A failed poll
        drops the database; the next one takes another."""
        memory: dict[str, Any] = {}
        seen = "no poll answered yet"
        while True:
            try:
                database = await self._connected(wait.odbc_conn_id)
                rows = await asyncio.to_thread(database.fetch, wait.sql, wait.params)
                verdict = evaluate(wait.condition, rows, memory)
                memory, seen = verdict.memory, verdict.seen
                if verdict.done:
                    status = "done" if verdict.ok else "failed"
                    return {"status": status, "seen": seen, "details": verdict.details}
            except Exception as error:
                seen = f"poll failed: {type(error).__name__}: {error}"
                await self._disconnect(wait.odbc_conn_id)  # the next poll connects again
            if time.time() - wait.started_at >= wait.timeout_seconds:
                return {
                    "status": "timeout",
                    "seen": seen,
                    "details": {},
                    "timeout_seconds": wait.timeout_seconds,
                }
            await asyncio.sleep(wait.poll_seconds)


class _Wait(NamedTuple):
    odbc_conn_id: str
    sql: str
    params: list[Any]
    condition: dict[str, Any]
    poll_seconds: float
    timeout_seconds: float
    started_at: float
