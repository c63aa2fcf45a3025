"""Application jobs of a subsystem and the object locks they hold (issue 3 item 6).

Why: the runbook ends the applications before saving (step 1) because their jobs hold locks on
the files being saved; a save with SAVACT(*NO) of a locked file leaves it out (ibmi.md §5.3,
partial save). So while a subsystem with ``jobs`` (config ``SubsystemSeed.jobs``) is ACTIVE, its
jobs exist in ``jobs`` (QSYS2.ACTIVE_JOB_INFO shows them with their SUBSYSTEM) and hold *SHRUPD
locks on every physical file of their ``locks`` libraries (rows of
``ibm_catalog_data.object_locks``, shown by QSYS2.OBJECT_LOCK_INFO). ENDSBS ends them when the
subsystem reaches INACTIVE, which releases the locks; STRSBS starts them again.

[G] The jobs are type BCH, command ``CALL PGM(NAME)``, started at once with the subsystem (no
job-queue wait), ended with completion *NORMAL; one lock per physical file, no member locks.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from ibmi_sim.jobs import Job

if TYPE_CHECKING:
    from ibmi_sim.node import Node

LOCK_STATE = "*SHRUPD"
# A save needs *SHRNUP on each object; these states held by another job conflict with it [G].
_CONFLICTS_WITH_SAVE = ("*SHRUPD", "*EXCLRD", "*EXCL")
# With save-while-active only an exclusive lock stops the save (after SAVACTWAIT) [G].
_CONFLICTS_WITH_SAVE_ACTIVE = ("*EXCL",)

# node -> subsystem -> running application jobs (a restart ends them all, node._recover).
_RUNNING: weakref.WeakKeyDictionary[Node, dict[str, list[Job]]] = weakref.WeakKeyDictionary()


async def start_all(node: Node) -> None:
    """At node open: start the application jobs of every ACTIVE subsystem that has some."""
    await node.pool.execute(
        "DELETE FROM ibm_catalog_data.object_locks l USING jobs j"
        " WHERE j.job_number = l.job_number AND j.status <> '*ACTIVE'"
    )
    for sbs in node.cfg.subsystems:
        if sbs.jobs:
            status = await node.pool.fetchval(
                "SELECT status FROM subsystems WHERE name = $1", sbs.name
            )
            if status == "ACTIVE":
                await start(node, sbs.name)


async def start(node: Node, subsystem: str) -> list[Job]:
    """Start ``subsystem``'s application jobs (none when already running); take their locks."""
    running = _RUNNING.setdefault(node, {})
    if running.get(subsystem):
        return running[subsystem]
    seeds = next((s.jobs for s in node.cfg.subsystems if s.name == subsystem), [])
    jobs: list[Job] = []
    for seed in seeds:
        job = await node.new_job(
            user=seed.user,
            name=seed.name,
            job_type="BCH",
            subsystem=subsystem,
            command=f"CALL PGM({seed.name})",
        )
        jobs.append(job)
        for library in seed.locks:
            await node.pool.execute(
                "INSERT INTO ibm_catalog_data.object_locks (job_number, library, object_name,"
                " object_type, lock_state) SELECT $1, library, name, '*FILE', $3 FROM objects"
                " WHERE library = $2 AND obj_type = '*FILE' AND attribute = 'PF'"
                " ORDER BY name",
                job.number,
                library,
                LOCK_STATE,
            )
    running[subsystem] = jobs
    return jobs


async def end(node: Node, subsystem: str) -> int:
    """End ``subsystem``'s application jobs and release their locks; return how many ended."""
    jobs = _RUNNING.get(node, {}).pop(subsystem, [])
    for job in jobs:
        await node.pool.execute(
            "DELETE FROM ibm_catalog_data.object_locks WHERE job_number = $1", job.number
        )
        await node.end_job(job, None)
    return len(jobs)


async def locked_objects(
    node: Node, library: str, *, save_active: bool, job_number: int | None = None
) -> set[tuple[str, str]]:
    """(name, type) of ``library``'s objects another active job holds a lock on that stops a
    save: SAVACT(*NO) needs *SHRNUP, save-while-active only fails on *EXCL [G]."""
    states = list(_CONFLICTS_WITH_SAVE_ACTIVE if save_active else _CONFLICTS_WITH_SAVE)
    rows = await node.pool.fetch(
        "SELECT DISTINCT l.object_name, l.object_type FROM ibm_catalog_data.object_locks l"
        " JOIN jobs j ON j.job_number = l.job_number WHERE l.library = $1"
        " AND j.status = '*ACTIVE' AND l.lock_status = 'HELD' AND l.lock_state = ANY($2::text[])"
        " AND l.job_number IS DISTINCT FROM $3",
        library,
        states,
        job_number,
    )
    return {(r["object_name"], r["object_type"]) for r in rows}
