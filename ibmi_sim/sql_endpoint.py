"""A node's SQL endpoint: its SqlFront, with an IBM i server job per connection.

Why a job per connection: on IBM i every ODBC connection is served by a prestart job
(QZDASOINIT, type PJ, in QUSRWRK), and IBM's SQL services name it with ``'*'``
(``JOBLOG_INFO('*')``, ``ACTIVE_JOB_INFO(JOB_NAME_FILTER => '*')``; ibmi.md §7.2). The endpoint
creates that ``jobs`` row when a client connects, hands its qualified name to the node database
as ``ibmi.current_job`` (a start-up option the front adds, :mod:`ibmi_sim.ibm_catalog`), and ends
the row (*OUTQ) when the connection closes.

[I] Job user QUSER (IBM's prestart jobs run under QUSER; the signed-on profile is the current
user, which the sim does not model separately).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ibmi_sim.jobs import Job
from ibmi_sim.sql_front import SqlFront

if TYPE_CHECKING:
    from ibmi_sim.node import Node

log = logging.getLogger(__name__)

SERVER_JOB_NAME = "QZDASOINIT"
SERVER_JOB_USER = "QUSER"


class NodeSqlEndpoint:
    """The SQL front of one node, mapped to that node's database."""

    def __init__(self, node: Node, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.node = node
        upstream = urlsplit(node.database_url)
        self.front = SqlFront(
            upstream.hostname or "127.0.0.1",
            upstream.port or 5432,
            database=node.node_cfg.database,
            host=host,
            port=port,
            session_opened=self._session_opened,
            session_closed=self._session_closed,
        )
        self._jobs: dict[str, Job] = {}

    @property
    def port(self) -> int:
        return self.front.port

    @property
    def reachable(self) -> bool:
        return self.front.reachable

    async def start(self) -> None:
        await self.front.start()

    async def stop(self) -> None:
        await self.front.stop()

    async def set_reachable(self, reachable: bool) -> None:
        """Fault "node unreachable": refuse new connections and drop open ones (or serve again,
        on the same port)."""
        await self.front.set_reachable(reachable)

    async def _session_opened(self) -> str:
        job = await self.node.new_job(
            user=SERVER_JOB_USER,
            name=SERVER_JOB_NAME,
            job_type="PJ",
            subsystem="QUSRWRK",
            command="",
        )
        self._jobs[job.qualified_name] = job
        return job.qualified_name

    async def _session_closed(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is None:
            return
        try:
            await self.node.end_job(job, None)
        except RuntimeError:  # the node closed first: recovery at the next open ends the row
            log.info("node closed before SQL job %s ended", name)
