"""Subsystem commands: ENDSBS (asynchronous), STRSBS (ibmi.md §7.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ibmi_sim import appjobs
from ibmi_sim.cl_parser import CLCommand
from ibmi_sim.commands._base import (
    handler,
    library_exists,
    pause,
)
from ibmi_sim.jobs import Escape, Job

if TYPE_CHECKING:
    from ibmi_sim.node import Node


# --- subsystems -----------------------------------------------------------------------------


@handler("ENDSBS")
async def endsbs(node: Node, job: Job, cmd: CLCommand) -> None:
    """ENDSBS is asynchronous: CPF0943 now, ENDING, INACTIVE later (ibmi.md §7.1, §12).

    Ending an inactive or unknown subsystem is CPF1054 [O]. The time to end is a config figure
    [G] (*IMMED shorter than *CNTRLD, which is also capped by DELAY).
    """
    name = cmd.text("SBS") or ""
    if name == "*ALL":
        raise Escape("SIM0001", "ENDSBS SBS(*ALL) (restricted state)")
    status = await node.pool.fetchval("SELECT status FROM subsystems WHERE name = $1", name)
    if status in (None, "INACTIVE"):
        raise Escape("CPF1054", name)
    if status == "ENDING":
        raise Escape("CPF1053", name)
    timing = node.cfg.timing
    if cmd.text("OPTION", "*CNTRLD") == "*IMMED":
        seconds = timing.endsbs_immed_s
    else:
        delay = cmd.text("DELAY", "*NOLIMIT") or "*NOLIMIT"
        seconds = timing.endsbs_cntrld_s
        if delay.isdigit():
            seconds = min(seconds, max(float(delay), timing.endsbs_immed_s))
    await node.set_subsystem_status(name, "ENDING")
    node.spawn(_finish_ending(node, name, seconds, datetime.now(UTC)))
    await job.send("CPF0943", name)


async def _finish_ending(
    node: Node, name: str, nominal_seconds: float, started_at: datetime
) -> None:
    await pause(node, nominal_seconds)
    # Batch jobs still running in the subsystem are ended with it.
    rows = await node.pool.fetch(
        "SELECT job_number FROM jobs WHERE subsystem = $1 AND status = '*ACTIVE'"
        " AND job_type = 'BCH'",
        name,
    )
    for (number,) in rows:
        task = node.batch_jobs.get(number)
        if task is not None:
            task.cancel()
    await appjobs.end(node, name)  # its application jobs end and release their locks
    await node.set_subsystem_status(name, "INACTIVE")
    # The ending is IBM i work without a job of its own: recorded for the critical path.
    await node.pool.execute(
        "INSERT INTO work_spans (kind, name, detail, started_at, ended_at)"
        " VALUES ('SBSEND', $1, $2, $3, clock_timestamp())",
        name,
        f"ENDSBS SBS({name})",
        started_at,
    )


@handler("STRSBS")
async def strsbs(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPF0902 being started; CPF1010 active; CPF1080 library missing (ibmi.md §7.1 [O])."""
    lib, name = cmd.qualified("SBSD") or ("*LIBL", "")
    if lib not in ("*LIBL", "*CURLIB") and not await library_exists(node, lib):
        raise Escape("CPF1080", lib)
    row = await node.pool.fetchrow("SELECT library, status FROM subsystems WHERE name = $1", name)
    if row is None or (lib not in ("*LIBL", "*CURLIB") and row["library"] != lib):
        raise Escape("CPF1019", name, lib)
    if row["status"] in ("ACTIVE", "ENDING"):
        raise Escape("CPF1010", name)
    await node.set_subsystem_status(name, "ACTIVE")
    await appjobs.start(node, name)  # [G] application jobs start at once, locks with them
    await job.send("CPF0902", name, row["library"])
