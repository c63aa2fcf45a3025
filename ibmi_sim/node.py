"""One simulated IBM i node: its database, file tree, jobs and background work.

Why a class per node: PRIMARY and BACKUP are separate machines; each has its own database,
QSYS.LIB blob tree, SSH port and job numbers. Everything a CL command changes goes through
the node, so the command log and (later) the invariant checks have one place to hook in.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from ibmi_sim import db, faults, ibm_catalog, icluster
from ibmi_sim.appjobs import start_all as _start_app_jobs
from ibmi_sim.cl_parser import CLParseError, parse
from ibmi_sim.cl_specs import SPECS
from ibmi_sim.config import NodeKey, SimConfig
from ibmi_sim.jobs import Escape, Job, Message, make_message
from ibmi_sim.messages import MsgType
from ibmi_sim.seed import seed_node

log = logging.getLogger(__name__)


class Node:
    """A node of the pair; create with :meth:`open`, release with :meth:`close`."""

    def __init__(self, cfg: SimConfig, key: NodeKey, state_dir: Path) -> None:
        self.cfg = cfg
        self.key = key
        self.node_cfg = cfg.nodes[key]
        self.role = self.node_cfg.role
        self.system_name = self.node_cfg.system_name
        self.dir = state_dir / "nodes" / key
        self.root = self.dir / "root"  # what SFTP shows as '/'
        self.bin_dir = self.dir / "bin"
        self.socket_path = state_dir / "run" / f"{key}.sock"
        self._pool: asyncpg.Pool | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.batch_jobs: dict[int, asyncio.Task[Any]] = {}
        self.subsystem_changed = asyncio.Condition()
        self.peer: Node | None = None  # the other node of the pair (set by Pair.start)
        self.icluster: Any = None  # ibmi_sim.icluster.ClusterState, made on first use

    @property
    def pool(self) -> asyncpg.Pool:
        """The node database's connection pool (open after :meth:`open`)."""
        if self._pool is None:
            raise RuntimeError(f"node {self.key} is not open")
        return self._pool

    @property
    def database_url(self) -> str:
        return self.cfg.database_url(self.node_cfg.database)

    async def open(self, *, reset: bool) -> None:
        """Create (or reuse) the database and the file tree, and seed a new database."""
        created = await db.ensure_database(
            self.cfg.maintenance_url(), self.node_cfg.database, reset=reset
        )
        if created and self.dir.exists():
            shutil.rmtree(self.dir)  # blobs of an older database would not match it
        self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=40)
        async with self.pool.acquire() as conn:
            await db.create_schema(conn)
            await seed_node(conn, self.cfg, self.key)
            await ibm_catalog.install_async(conn)  # IBM's SQL services over the tables above
            await faults.install(conn)  # before icluster: ICSIM.LOCAL_NODE reads it
            await icluster.install(conn, self)  # iCluster tables and the ICSIM views
            await self._recover(conn)
        for sub in ("QSYS.LIB", "tmp", f"home/{self.cfg.ssh_user.lower()}"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for (lib,) in await self.pool.fetch("SELECT name FROM libraries"):
            self.library_dir(lib).mkdir(exist_ok=True)
        await _start_app_jobs(self)  # application jobs of active subsystems, with locks

    async def _recover(self, conn: asyncpg.Connection) -> None:
        """After a restart (like an IPL [I]): ends in progress are done, and jobs that were
        active or queued when the simulator stopped ended abnormally."""
        await conn.execute("UPDATE subsystems SET status = 'INACTIVE' WHERE status = 'ENDING'")
        await conn.execute(
            "UPDATE jobs SET status = '*OUTQ', completion_status = '*ABNORMAL',"
            " ended_at = now() WHERE status IN ('*ACTIVE', '*JOBQ')"
        )

    async def close(self) -> None:
        """Cancel background work and close the pool."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, kept until it ends or the node closes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # --- paths --------------------------------------------------------------------------------

    def library_dir(self, library: str) -> Path:
        """``/QSYS.LIB/LIB.LIB`` in the node's file tree (ibmi.md §6 path forms)."""
        return self.root / "QSYS.LIB" / f"{library}.LIB"

    def savf_path(self, library: str, name: str) -> Path:
        """``/QSYS.LIB/LIB.LIB/NAME.FILE``: where a save file's bytes live."""
        return self.library_dir(library) / f"{name}.FILE"

    # --- jobs ---------------------------------------------------------------------------------

    async def new_job(
        self,
        *,
        user: str,
        name: str,
        job_type: str,
        subsystem: str | None,
        command: str,
        status: str = "*ACTIVE",
        submitted_by: str | None = None,
        job_queue: str | None = None,
    ) -> Job:
        """Create a job row; ``status`` *ACTIVE starts it now, *JOBQ leaves it queued."""
        number = await self.pool.fetchval("SELECT nextval('job_number_seq')")
        job = Job(self, int(number), user, name)
        await self.pool.execute(
            "INSERT INTO jobs (job_number, user_name, job_name, qualified_name, job_type, status,"
            " subsystem, job_queue, command, submitted_by, submitted_at, started_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), $11)",
            job.number,
            user,
            name,
            job.qualified_name,
            job_type,
            status,
            subsystem,
            job_queue,
            command,
            submitted_by,
            datetime.now(UTC) if status == "*ACTIVE" else None,
        )
        return job

    async def mark_job_active(self, job: Job) -> None:
        await self.pool.execute(
            "UPDATE jobs SET status = '*ACTIVE', started_at = now() WHERE job_number = $1",
            job.number,
        )

    async def execute(self, job: Job, command_text: str) -> Escape | None:
        """Run one CL command in ``job``: request message, then the command's messages.

        Returns the escape that ended the command, or None. A syntax error is diagnostics
        plus CPF0001 (ibmi.md §5.4), like any other escape.
        """
        from ibmi_sim.commands import HANDLERS  # late import: commands need Node

        await job.log(Message(None, MsgType.REQUEST, 0, command_text))
        escape: Escape | None = None
        try:
            try:
                command = parse(command_text, SPECS)
            except CLParseError as exc:
                raise Escape("CPF0001", exc.command, diagnostics=exc.diagnostics) from exc
            handler = HANDLERS.get(command.name)
            if handler is None:
                raise Escape("SIM0001", command.name)
            if command.name in faults.STORAGE_COMMANDS and await faults.peek(
                self, "out_of_storage"
            ):
                # Fault out_of_storage (issue 3 item 10): ibmi.md §5.3/§5.4 CPF3793 [V id].
                raise Escape("CPF3793")
            await handler(self, job, command)
        except Escape as exc:
            escape = exc
        except Exception as exc:
            log.exception("command failed inside the simulator: %s", command_text)
            escape = Escape("SIM0002", f"{type(exc).__name__}: {exc}")
        if escape is not None:
            for msg_id, data in escape.diagnostics:
                await job.log(make_message(msg_id, *data, msg_type=MsgType.DIAGNOSTIC))
            await job.log(make_message(escape.msg_id, *escape.data, msg_type=MsgType.ESCAPE))
        await self.pool.execute(
            "INSERT INTO command_log (node, role, job, user_name, command, exit_status,"
            " escape_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self.key,
            self.role,
            job.qualified_name,
            job.user,
            command_text,
            0 if escape is None else 255,
            escape.msg_id if escape else None,
        )
        return escape

    async def end_job(self, job: Job, escape: Escape | None) -> None:
        """Job ended: status *OUTQ (job log kept), completion *NORMAL or *ABNORMAL."""
        await self.pool.execute(
            "UPDATE jobs SET status = '*OUTQ', ended_at = clock_timestamp(),"
            " completion_status = $2, end_escape = $3 WHERE job_number = $1",
            job.number,
            "*NORMAL" if escape is None else "*ABNORMAL",
            escape.msg_id if escape else None,
        )

    async def run_cl(
        self, command_text: str, *, user: str, job_name: str = "QP0ZSPWP"
    ) -> tuple[list[Message], Escape | None]:
        """Run a command in a new job, as PASE ``system`` does (ibmi.md §2.4 item 1).

        [I] Job name QP0ZSPWP, type BCI, subsystem QUSRWRK (ibmi.md §1 table).
        """
        job = await self.new_job(
            user=user, name=job_name, job_type="BCI", subsystem="QUSRWRK", command=command_text
        )
        escape = await self.execute(job, command_text)
        await self.end_job(job, escape)
        return [m for m in job.messages if m.msg_type is not MsgType.REQUEST], escape

    # --- subsystems -------------------------------------------------------------------------

    async def set_subsystem_status(self, name: str, status: str) -> None:
        """Change a subsystem's status and wake jobs waiting on a job queue."""
        await self.pool.execute(
            "UPDATE subsystems SET status = $2, changed_at = now() WHERE name = $1", name, status
        )
        async with self.subsystem_changed:
            self.subsystem_changed.notify_all()

    async def wait_subsystem_active(self, name: str) -> None:
        """Block until subsystem ``name`` is ACTIVE (a job queue is served only then)."""
        while True:
            async with self.subsystem_changed:
                status = await self.pool.fetchval(
                    "SELECT status FROM subsystems WHERE name = $1", name
                )
                if status == "ACTIVE":
                    return
                await self.subsystem_changed.wait()
