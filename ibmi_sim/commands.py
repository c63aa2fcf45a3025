"""CL commands with real effects on a node's state.

Each handler gets the node, the job and the parsed command (keywords already checked by
:mod:`ibmi_sim.cl_specs`), changes the database and files, sends completion messages to the job
log, and raises :class:`~ibmi_sim.jobs.Escape` to fail. Message ids and texts come only from
:mod:`ibmi_sim.messages`; the ibmi.md section behind each behaviour is cited at the handler.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ibmi_sim.cl_parser import CLCommand, Qualified, ValueList, Word, element_text
from ibmi_sim.jobs import Escape, Job
from ibmi_sim.savf import (
    ArchivedObject,
    SavfDamaged,
    SavfEmpty,
    payload_length,
    read_archive,
    synthetic_payload,
    write_archive,
)

if TYPE_CHECKING:
    from ibmi_sim.node import Node

Handler = Callable[["Node", Job, CLCommand], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}

EMPTY_HASH = hashlib.sha256(b"").hexdigest()
# [I] *LIBL stands for the system part of the library list plus QGPL; *CURLIB for QGPL.
_LIBL = ("QSYS", "QUSRSYS", "QGPL")


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[name] = func
        return func

    return register


# --- helpers --------------------------------------------------------------------------------


async def _library_exists(node: Node, library: str) -> bool:
    return bool(await node.pool.fetchval("SELECT 1 FROM libraries WHERE name = $1", library))


async def _resolve_file(node: Node, lib: str, name: str) -> str | None:
    """Library holding *FILE ``name`` (resolving *LIBL/*CURLIB), or None when not found."""
    if lib == "*CURLIB":
        lib = "QGPL"
    candidates = _LIBL if lib == "*LIBL" else (lib,)
    for candidate in candidates:
        found = await node.pool.fetchval(
            "SELECT 1 FROM objects WHERE library = $1 AND name = $2 AND obj_type = '*FILE'",
            candidate,
            name,
        )
        if found:
            return candidate
    return None


async def _resolve_savf(node: Node, cmd: CLCommand, keyword: str) -> tuple[str, str]:
    """(library, name) of an existing save file; CPF9812 when missing, CPF3782 if not a SAVF."""
    qualified = cmd.qualified(keyword)
    if qualified is None:
        raise Escape("CPF0001", cmd.name, diagnostics=[("CPD0072", (keyword,))])
    lib, name = qualified
    found = await _resolve_file(node, lib, name)
    if found is None:
        raise Escape("CPF9812", name, "*LIBL" if lib == "*LIBL" else lib)
    is_savf = await node.pool.fetchval(
        "SELECT 1 FROM save_files WHERE library = $1 AND name = $2", found, name
    )
    if not is_savf:
        raise Escape("CPF3782", name, found)
    return found, name


def _target_library(lib: str) -> str:
    return "QGPL" if lib in ("*LIBL", "*CURLIB") else lib


async def _pause(node: Node, nominal_seconds: float) -> None:
    """Let simulated work take its (time-scaled) duration."""
    seconds = node.cfg.scaled(nominal_seconds)
    if seconds > 0:
        await asyncio.sleep(seconds)


def _omitted_objects(cmd: CLCommand, library: str) -> set[tuple[str, str]]:
    """(name, type) pairs named by OMITOBJ((LIB/OBJ TYPE) ...) for ``library``."""
    omitted: set[tuple[str, str]] = set()
    for value in cmd.values("OMITOBJ"):
        items = value.items if isinstance(value, ValueList) else (value,)
        if not items:
            continue
        first = items[0]
        obj_type = element_text(items[1]) if len(items) > 1 else "*ALL"
        if isinstance(first, Qualified):
            lib, obj = first.parts[0].text, first.parts[-1].text
            if lib not in (library, "*ALL"):
                continue
        elif isinstance(first, Word):
            obj = first.text
        else:
            continue
        omitted.add((obj, obj_type))
    return omitted


def _is_omitted(omitted: set[tuple[str, str]], name: str, obj_type: str) -> bool:
    return any(
        (o == name or o == "*ALL" or (o.endswith("*") and name.startswith(o[:-1])))
        and t in (obj_type, "*ALL")
        for o, t in omitted
    )


# --- libraries ------------------------------------------------------------------------------


@handler("CRTLIB")
async def crtlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPC2102 created / CPF2111 exists (ibmi.md §2.3, §10.1)."""
    lib = cmd.text("LIB") or ""
    if await _library_exists(node, lib):
        raise Escape("CPF2111", lib)
    await node.pool.execute(
        "INSERT INTO libraries (name, lib_type, text_description) VALUES ($1, $2, $3)",
        lib,
        (cmd.text("TYPE") or "*PROD").lstrip("*"),
        cmd.text("TEXT", "") or "",
    )
    node.library_dir(lib).mkdir(parents=True, exist_ok=True)
    await job.send("CPC2102", lib)


async def _delete_library_contents(node: Node, lib: str) -> int:
    """Delete every object of ``lib`` (and save-file blobs); return how many."""
    async with node.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch("SELECT name FROM save_files WHERE library = $1", lib)
        await conn.execute("DELETE FROM save_files WHERE library = $1", lib)
        count = await conn.fetchval("SELECT count(*) FROM objects WHERE library = $1", lib)
        await conn.execute("DELETE FROM objects WHERE library = $1", lib)
        await conn.execute("DELETE FROM authorities WHERE library = $1", lib)
    for (name,) in rows:
        node.savf_path(lib, name).unlink(missing_ok=True)
    return int(count)


@handler("CLRLIB")
async def clrlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """Delete all objects, keep the library (ibmi.md §5.1). Completion id/text [G]."""
    lib = _target_library(cmd.text("LIB") or "")
    if not await _library_exists(node, lib):
        raise Escape("CPF2110", lib)
    await _delete_library_contents(node, lib)
    await job.send("CPC2195", lib)


@handler("DLTLIB")
async def dltlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPC2194 deleted / CPF2110 not found (ibmi.md §5.1)."""
    lib = cmd.text("LIB") or ""
    if not await _library_exists(node, lib):
        raise Escape("CPF2110", lib)
    await _delete_library_contents(node, lib)
    await node.pool.execute("DELETE FROM libraries WHERE name = $1", lib)
    directory = node.library_dir(lib)
    if directory.exists():
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()
    await job.send("CPC2194", lib)


# --- save files -----------------------------------------------------------------------------


@handler("CRTSAVF")
async def crtsavf(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPC7301 created; CPF5813 then CPF7302 when the file exists (ibmi.md §5.1, §12)."""
    lib_raw, name = cmd.qualified("FILE") or ("*CURLIB", "")
    lib = _target_library(lib_raw)
    if not await _library_exists(node, lib):
        raise Escape("CPF9810", lib)
    exists = await node.pool.fetchval(
        "SELECT 1 FROM objects WHERE library = $1 AND name = $2 AND obj_type = '*FILE'", lib, name
    )
    if exists:
        raise Escape("CPF7302", name, lib, diagnostics=[("CPF5813", (name, lib))])
    path = node.savf_path(lib, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    maxrcds = cmd.text("MAXRCDS")
    async with node.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, content_hash,"
            " owner, text_description) VALUES ($1, $2, '*FILE', 'SAVF', 0, $3, $4, $5)",
            lib,
            name,
            EMPTY_HASH,
            job.user,
            cmd.text("TEXT", "") or "",
        )
        await conn.execute(
            "INSERT INTO save_files (library, name, blob_path, max_records)"
            " VALUES ($1, $2, $3, $4)",
            lib,
            name,
            str(path),
            int(maxrcds) if maxrcds and maxrcds.isdigit() else None,
        )
    await job.send("CPC7301", name, lib)


async def refresh_savf_object(node: Node, lib: str, name: str) -> None:
    """Record the blob's size and hash on the *FILE object (what node comparisons see).

    Called after every change of a save file's bytes: SAVLIB, CLRSAVF, and an SFTP write.
    """
    data = node.savf_path(lib, name).read_bytes()
    await node.pool.execute(
        "UPDATE objects SET size_bytes = $3, content_hash = $4, version = version + 1,"
        " changed_at = now() WHERE library = $1 AND name = $2 AND obj_type = '*FILE'",
        lib,
        name,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )


@handler("CLRSAVF")
async def clrsavf(node: Node, job: Job, cmd: CLCommand) -> None:
    """Empty a save file (ibmi.md §5.1). [G] no completion message is sent."""
    lib, name = await _resolve_savf(node, cmd, "FILE")
    node.savf_path(lib, name).write_bytes(b"")
    await node.pool.execute(
        "UPDATE save_files SET save_command = NULL, saved_library = NULL, objects_saved = NULL,"
        " saved_at = NULL WHERE library = $1 AND name = $2",
        lib,
        name,
    )
    await refresh_savf_object(node, lib, name)


@handler("DLTF")
async def dltf(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPC2191 per file deleted; CPF2105 when not found (ibmi.md §11, §10.3)."""
    for value in cmd.values("FILE"):
        if isinstance(value, Qualified):
            lib_raw, name = value.parts[0].text, value.parts[-1].text
        else:
            lib_raw, name = "*LIBL", element_text(value)
        lib = await _resolve_file(node, lib_raw, name)
        if lib is None:
            raise Escape("CPF2105", name, lib_raw)
        async with node.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM save_files WHERE library = $1 AND name = $2", lib, name)
            await conn.execute(
                "DELETE FROM objects WHERE library = $1 AND name = $2 AND obj_type = '*FILE'",
                lib,
                name,
            )
        node.savf_path(lib, name).unlink(missing_ok=True)
        await job.send("CPC2191", name, lib)


@handler("CHKOBJ")
async def chkobj(node: Node, job: Job, cmd: CLCommand) -> None:
    """Silent when the object exists; [G] CPF9801-style escape otherwise (CPF9810 for *LIB)."""
    lib_raw, name = cmd.qualified("OBJ") or ("*LIBL", "")
    obj_type = cmd.text("OBJTYPE") or ""
    if obj_type == "*LIB":
        if not await _library_exists(node, name):
            raise Escape("CPF9810", name)
        return
    lib = _target_library(lib_raw)
    found = await node.pool.fetchval(
        "SELECT 1 FROM objects WHERE library = $1 AND name = $2 AND obj_type = $3",
        lib,
        name,
        obj_type,
    )
    if not found:
        raise Escape("CPF2105", name, lib)


# --- save and restore -----------------------------------------------------------------------


@handler("SAVLIB")
async def savlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """SAVLIB to a save file: CPC3722 (ibmi.md §5.1, §5.3).

    One library per save file (§5.1 [V]); CPF3781 for a missing library (§5.3 [O]); the save
    file itself is left out when it lives in the saved library (§5.1, Ansible adds OMITOBJ).
    """
    libraries = cmd.texts("LIB")
    device = cmd.text("DEV") or ""
    if device != "*SAVF":
        raise Escape("CPF9814", device)
    if len(libraries) != 1 or libraries[0].startswith("*") or libraries[0].endswith("*"):
        raise Escape("CPF3737")
    lib = libraries[0]
    savf_lib, savf_name = await _resolve_savf(node, cmd, "SAVF")
    if not await _library_exists(node, lib):
        raise Escape("CPF3781", lib)
    path = node.savf_path(savf_lib, savf_name)
    clear = cmd.text("CLEAR", "*NONE")
    if path.stat().st_size > 0 and clear not in ("*ALL", "*REPLACE", "*AFTER"):
        # [G] In a batch or PASE job the inquiry CPA4067 gets its default reply (cancel).
        raise Escape("CPF3794", diagnostics=[("CPA4067", (savf_name, savf_lib))])
    omitted = _omitted_objects(cmd, lib)
    rows = await node.pool.fetch(
        "SELECT o.name, o.obj_type, o.attribute, o.size_bytes, o.version, o.content_hash,"
        " o.owner, o.text_description, s.name IS NOT NULL AS is_savf"
        " FROM objects o LEFT JOIN save_files s ON s.library = o.library AND s.name = o.name"
        " AND o.obj_type = '*FILE' WHERE o.library = $1 ORDER BY o.name, o.obj_type",
        lib,
    )
    selected = [
        r
        for r in rows
        if not (lib == savf_lib and r["name"] == savf_name and r["obj_type"] == "*FILE")
        and not _is_omitted(omitted, r["name"], r["obj_type"])
    ]
    objects = [
        ArchivedObject(
            name=r["name"],
            obj_type=r["obj_type"],
            attribute=r["attribute"],
            size_bytes=r["size_bytes"],
            version=r["version"],
            content_hash=r["content_hash"],
            owner=r["owner"],
            text=r["text_description"],
            payload_len=(
                node.savf_path(lib, r["name"]).stat().st_size
                if r["is_savf"]
                else payload_length(r["size_bytes"], node.cfg.size_scale)
            ),
            is_savf=bool(r["is_savf"]),
        )
        for r in selected
    ]
    total_bytes = sum(o.size_bytes for o in objects)
    await _pause(node, total_bytes / 1e6 / node.cfg.timing.save_mb_per_s)

    def payloads() -> Iterator[Iterator[bytes]]:
        for obj in objects:
            if obj.is_savf:
                yield iter([node.savf_path(lib, obj.name).read_bytes()])
            else:
                yield synthetic_payload(obj.content_hash, obj.payload_len)

    saved_at = datetime.now(UTC)
    meta = {
        "format": 1,
        "command": "SAVLIB",
        "library": lib,
        "system": node.system_name,
        "saved_at": saved_at.isoformat(),
        "target_release": cmd.text("TGTRLS", "*CURRENT"),
    }
    await asyncio.to_thread(write_archive, path, meta, objects, payloads())
    async with node.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE save_files SET save_command = 'SAVLIB', saved_library = $3, objects_saved = $4,"
            " saved_at = $5 WHERE library = $1 AND name = $2",
            savf_lib,
            savf_name,
            lib,
            len(objects),
            saved_at,
        )
        if cmd.text("UPDHST", "*YES") == "*YES":
            await conn.execute("UPDATE objects SET saved_at = $2 WHERE library = $1", lib, saved_at)
    await refresh_savf_object(node, savf_lib, savf_name)
    await job.send("CPC3722", len(objects), lib)


@handler("RSTLIB")
async def rstlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """RSTLIB from a save file: CPC3703 (ibmi.md §5.1, §5.4).

    The objects come only from the archive bytes. An empty save file or one holding another
    library gives CPF3780 (§5.4 [O]); a damaged one CPF3743 then CPF3794 [G]. Objects in the
    target library that are not in the save stay (that is why the runbook clears first).
    """
    libraries = cmd.texts("SAVLIB")
    device = cmd.text("DEV") or ""
    if device != "*SAVF":
        raise Escape("CPF9814", device)
    if len(libraries) != 1 or libraries[0].startswith("*") or libraries[0].endswith("*"):
        raise Escape("SIM0001", "RSTLIB of several or generic libraries")
    savlib_name = libraries[0]
    savf_lib, savf_name = await _resolve_savf(node, cmd, "SAVF")
    try:
        archive = await asyncio.to_thread(read_archive, node.savf_path(savf_lib, savf_name))
    except SavfEmpty as exc:
        raise Escape("CPF3780", savlib_name) from exc
    except SavfDamaged as exc:
        raise Escape("CPF3794", diagnostics=[("CPF3743", ())]) from exc
    if archive.meta.get("library") != savlib_name:
        raise Escape("CPF3780", savlib_name)
    target = cmd.text("RSTLIB", "*SAVLIB")
    target = savlib_name if target == "*SAVLIB" else target
    option = cmd.text("OPTION", "*ALL")
    await _pause(
        node, sum(o.size_bytes for o in archive.objects) / 1e6 / node.cfg.timing.restore_mb_per_s
    )
    restored = 0
    now = datetime.now(UTC)
    savf_blobs: list[tuple[str, bytes]] = []
    async with node.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO libraries (name, restored_at) VALUES ($1, $2)"
            " ON CONFLICT (name) DO UPDATE SET restored_at = EXCLUDED.restored_at",
            target,
            now,
        )
        for index, obj in enumerate(archive.objects):
            exists = await conn.fetchval(
                "SELECT 1 FROM objects WHERE library = $1 AND name = $2 AND obj_type = $3",
                target,
                obj.name,
                obj.obj_type,
            )
            if (option == "*NEW" and exists) or (option == "*OLD" and not exists):
                continue
            await conn.execute(
                "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, version,"
                " content_hash, owner, text_description, restored_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (library, name, obj_type) DO UPDATE SET attribute = $4,"
                " size_bytes = $5, version = $6, content_hash = $7, owner = $8,"
                " text_description = $9, restored_at = $10, changed_at = now()",
                target,
                obj.name,
                obj.obj_type,
                obj.attribute,
                obj.size_bytes,
                obj.version,
                obj.content_hash,
                obj.owner,
                obj.text,
                now,
            )
            if obj.is_savf:
                path = node.savf_path(target, obj.name)
                await conn.execute(
                    "INSERT INTO save_files (library, name, blob_path) VALUES ($1, $2, $3)"
                    " ON CONFLICT (library, name) DO NOTHING",
                    target,
                    obj.name,
                    str(path),
                )
                savf_blobs.append((obj.name, archive.read_payload(index)))
            restored += 1
    node.library_dir(target).mkdir(parents=True, exist_ok=True)
    for name, data in savf_blobs:
        node.savf_path(target, name).write_bytes(data)
    await job.send("CPC3703", restored, savlib_name, target)


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
    node.spawn(_finish_ending(node, name, seconds))
    await job.send("CPF0943", name)


async def _finish_ending(node: Node, name: str, nominal_seconds: float) -> None:
    await _pause(node, nominal_seconds)
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
    await node.set_subsystem_status(name, "INACTIVE")


@handler("STRSBS")
async def strsbs(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPF0902 being started; CPF1010 active; CPF1080 library missing (ibmi.md §7.1 [O])."""
    lib, name = cmd.qualified("SBSD") or ("*LIBL", "")
    if lib not in ("*LIBL", "*CURLIB") and not await _library_exists(node, lib):
        raise Escape("CPF1080", lib)
    row = await node.pool.fetchrow("SELECT library, status FROM subsystems WHERE name = $1", name)
    if row is None or (lib not in ("*LIBL", "*CURLIB") and row["library"] != lib):
        raise Escape("CPF1019", name, lib)
    if row["status"] in ("ACTIVE", "ENDING"):
        raise Escape("CPF1010", name)
    await node.set_subsystem_status(name, "ACTIVE")
    await job.send("CPF0902", name, row["library"])


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
        await _pause(node, node.cfg.timing.job_start_s)
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
