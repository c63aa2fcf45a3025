"""SBMJOB: batch jobs with status and job log (ibmi.md §7.1, §10.3)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ibmi_sim.cl_parser import CLCommand, element_text
from ibmi_sim.commands._base import (
    handler,
    pause,
)
from ibmi_sim.jobs import Escape, Job

if TYPE_CHECKING:
    from ibmi_sim.node import Node


# --- batch jobs -----------------------------------------------------------------------------


@handler("SBMJOB")
async def sbmjob(node: Node, job: Job, cmd: CLCommand) -> None:
    """Submit a batch job: CPC1221 with ``nnnnnn/USER/NAME`` (ibmi.md §7.1, §10.3).

    [G] JOB(*JOBD) names the job QDFTJOBD and JOBQ defaults to QGPL/QBATCH; a job queue is
    served by the subsystem of the same name, and the job waits on the queue (*JOBQ) while that
    subsystem is not active.
    """
    values = cmd.values("CMD")
    if not values:
        raise Escape("CPF0001", "SBMJOB", diagnostics=[("CPD0072", ("CMD",))])
    command_text = element_text(values[0])
    name = cmd.text("JOB", "*JOBD") or "*JOBD"
    name = "QDFTJOBD" if name == "*JOBD" else name
    user = cmd.text("USER", "*CURRENT") or "*CURRENT"
    user = job.user if user in ("*CURRENT", "*JOBD") else user
    queue_lib, queue = cmd.qualified("JOBQ") or ("QGPL", "QBATCH")
    queue_lib = "QGPL" if queue_lib in ("*LIBL", "*CURLIB") else queue_lib
    batch = await node.new_job(
        user=user,
        name=name,
        job_type="BCH",
        subsystem=queue,
        command=command_text,
        status="*JOBQ",
        submitted_by=job.qualified_name,
        job_queue=f"{queue_lib}/{queue}",
    )
    task = node.spawn(_run_batch(node, batch, command_text, queue))
    node.batch_jobs[batch.number] = task
    task.add_done_callback(lambda _t: node.batch_jobs.pop(batch.number, None))
    await job.send("CPC1221", batch.qualified_name, queue, queue_lib)


async def _run_batch(node: Node, batch: Job, command_text: str, subsystem: str) -> None:
    """Wait for the subsystem, run the command, end the job with CPF1241/CPF1240 [G]."""
    escape: Escape | None = None
    try:
        await node.wait_subsystem_active(subsystem)
        await pause(node, node.cfg.timing.job_start_s)
        await node.mark_job_active(batch)
        escape = await node.execute(batch, command_text)
    except asyncio.CancelledError:
        escape = Escape("CPF1240", batch.qualified_name)
        await asyncio.shield(_close_batch(node, batch, escape))
        raise
    await _close_batch(node, batch, escape)


async def _close_batch(node: Node, batch: Job, escape: Escape | None) -> None:
    if escape is None:
        stamp = datetime.now(UTC)
        await batch.send(
            "CPF1241", batch.qualified_name, stamp.strftime("%m/%d/%y"), stamp.strftime("%H:%M:%S")
        )
    else:
        await batch.send("CPF1240", batch.qualified_name)
    await node.end_job(batch, escape)
