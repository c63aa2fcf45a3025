"""Deferrable waits: poll one read-only SQL statement on a node until a condition holds.

While IBM i works (a subsystem ends, a batch save runs, DMMRKPOS marks, latency drains), the
task is deferred: the wait runs here, in the triggerer, and holds no worker slot and no SSH
session. What ends the wait is decided by `ibmi_resync.waits.evaluate`, so the trigger only
loops, reconnects and reports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from ibmi_resync.waits import evaluate
from icluster_resync.transport import OdbcDatabase

_CLASSPATH = "icluster_resync.triggers.NodeQueryTrigger"


class NodeQueryTrigger(BaseTrigger):
    """Poll `sql` with `params` on the node behind `odbc_conn_id` until `condition` is met.

    Yields exactly one event: `status` is "done" (condition met), "failed" (the condition
    says the wait failed, e.g. a failure message or a frozen apply) or "timeout"; `seen` is
    what the last poll saw and `details` what the condition extracted. Connection errors are
    retried until the timeout: a node that drops off for a minute does not fail the wait.

    `resume` is handed back untouched in the event: the deferred task's executor state. It
    rides in the trigger, not in the deferral's kwargs, because `dag.test()` (3.3.2) resumes a
    task with the event alone and drops those kwargs; the real triggerer would keep them.
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
            },
        )

    async def _database(self) -> OdbcDatabase:
        """Separated out as a seam for tests; fetches the connection without blocking."""
        connection = await BaseHook.aget_connection(self.odbc_conn_id)
        return OdbcDatabase(connection=connection)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        memory: dict[str, Any] = {}
        seen = "no poll answered yet"
        database: OdbcDatabase | None = None
        while True:
            try:
                if database is None:
                    database = await self._database()
                rows = await asyncio.to_thread(database.fetch, self.sql, self.params)
                verdict = evaluate(self.condition, rows, memory)
                memory, seen = verdict.memory, verdict.seen
                if verdict.done:
                    status = "done" if verdict.ok else "failed"
                    yield TriggerEvent(
                        {
                            "status": status,
                            "seen": seen,
                            "details": verdict.details,
                            "resume": self.resume,
                        }
                    )
                    return
            except Exception as error:
                seen = f"poll failed: {type(error).__name__}: {error}"
                if database is not None:
                    await asyncio.to_thread(database.close)
                database = None
            if time.time() - self.started_at >= self.timeout_seconds:
                yield TriggerEvent(
                    {
                        "status": "timeout",
                        "seen": seen,
                        "details": {},
                        "timeout_seconds": self.timeout_seconds,
                        "resume": self.resume,
                    }
                )
                return
            await asyncio.sleep(self.poll_seconds)
