"""Save to and restore from save files: SAVLIB, SAVOBJ, RSTLIB, RSTOBJ (ibmi.md §5).

Why the archive is the only channel: a restore reads nothing but the save file's bytes, so a
product that transfers the wrong file, a damaged one, or restores the wrong library sees the
consequence on the BACKUP node, as on IBM i.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ibmi_sim import appjobs, faults
from ibmi_sim.cl_parser import CLCommand
from ibmi_sim.commands._base import (
    handler,
    is_omitted,
    library_exists,
    omitted_objects,
    resolve_savf,
    restore_data,
    save_data,
)
from ibmi_sim.commands.savefiles import refresh_savf_object
from ibmi_sim.jobs import Escape, Job
from ibmi_sim.savf import (
    Archive,
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


# --- shared ---------------------------------------------------------------------------------


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while block := src.read(1 << 20):
            yield block


def _check_savf_device(cmd: CLCommand) -> None:
    device = cmd.text("DEV") or ""
    if device != "*SAVF":
        raise Escape("CPF9814", device)


def _name_matches(patterns: list[str], name: str) -> bool:
    """OBJ(*ALL), OBJ(NAME) or OBJ(GEN*) selection."""
    return any(
        p == "*ALL" or p == name or (p.endswith("*") and name.startswith(p[:-1])) for p in patterns
    )


def _type_matches(types: list[str], obj_type: str) -> bool:
    return not types or "*ALL" in types or obj_type in types


async def _save(
    node: Node,
    cmd: CLCommand,
    command: str,
    lib: str,
    keep: Callable[[str, str], bool],
    job_number: int | None = None,
) -> int:
    """Write the archive of ``lib``'s objects accepted by ``keep(name, type)``; return count.

    The target save file is never saved into itself; a save file with data needs CLEAR.
    CPF3770 when nothing was selected (ibmi.md §5.3 [O]). Objects locked by another job
    (:mod:`ibmi_sim.appjobs`) are left out and the save ends with CPF3771 (partial save).
    """
    savf_lib, savf_name = await resolve_savf(node, cmd, "SAVF")
    if not await library_exists(node, lib):
        raise Escape("CPF3781", lib)
    path = node.savf_path(savf_lib, savf_name)
    clear = cmd.text("CLEAR", "*NONE")
    if path.stat().st_size > 0 and clear not in ("*ALL", "*REPLACE", "*AFTER"):
        # [G] In a batch or PASE job the inquiry CPA4067 gets its default reply (cancel).
        raise Escape("CPF3794", diagnostics=[("CPA4067", (savf_name, savf_lib))])
    omitted = omitted_objects(cmd, lib)
    rows = await node.pool.fetch(
        "SELECT o.name, o.obj_type, o.attribute, o.size_bytes, o.version, o.content_hash,"
        " o.owner, o.text_description, o.created_at, s.name IS NOT NULL AS is_savf"
        " FROM objects o LEFT JOIN save_files s ON s.library = o.library AND s.name = o.name"
        " AND o.obj_type = '*FILE' WHERE o.library = $1 ORDER BY o.name, o.obj_type",
        lib,
    )
    selected = [
        r
        for r in rows
        if not (lib == savf_lib and r["name"] == savf_name and r["obj_type"] == "*FILE")
        and not is_omitted(omitted, r["name"], r["obj_type"])
        and keep(r["name"], r["obj_type"])
    ]
    if not selected and command == "SAVOBJ":
        raise Escape("CPF3770", lib)
    # Fault lock_on_save (issue 3 item 10): a SIMLOCKER job locks some of them first.
    fault_id = await faults.lock_for_save(
        node, lib, [(r["name"], r["obj_type"]) for r in selected if not r["is_savf"]]
    )
    try:
        return await _save_selected(node, cmd, command, lib, selected, job_number)
    finally:
        faults.save_ended(node, fault_id)


async def _save_selected(
    node: Node,
    cmd: CLCommand,
    command: str,
    lib: str,
    selected: list[Any],
    job_number: int | None,
) -> int:
    """The part of :func:`_save` after selection: locks, archive, history, CPF3771."""
    savf_lib, savf_name = await resolve_savf(node, cmd, "SAVF")
    path = node.savf_path(savf_lib, savf_name)
    # Objects another job holds a conflicting lock on are not saved (ibmi.md §5.3, §5.6).
    locked = await appjobs.locked_objects(
        node, lib, save_active=cmd.text("SAVACT", "*NO") != "*NO", job_number=job_number
    )
    not_saved = [r for r in selected if (r["name"], r["obj_type"]) in locked]
    selected = [r for r in selected if (r["name"], r["obj_type"]) not in locked]
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
            created_at=r["created_at"].isoformat(),
        )
        for r in selected
    ]
    total_bytes = sum(o.size_bytes for o in objects)
    await save_data(node, total_bytes)

    def payloads() -> Iterator[Iterator[bytes]]:
        for obj in objects:
            if obj.is_savf:
                yield _file_chunks(node.savf_path(lib, obj.name))
            else:
                yield synthetic_payload(obj.content_hash, obj.payload_len)

    saved_at = datetime.now(UTC)
    meta = {
        "format": 1,
        "command": command,
        "library": lib,
        "system": node.system_name,
        "saved_at": saved_at.isoformat(),
        "target_release": cmd.text("TGTRLS", "*CURRENT"),
    }
    await asyncio.to_thread(write_archive, path, meta, objects, payloads())
    async with node.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE save_files SET save_command = $3, saved_library = $4, objects_saved = $5,"
            " saved_at = $6 WHERE library = $1 AND name = $2",
            savf_lib,
            savf_name,
            command,
            lib,
            len(objects),
            saved_at,
        )
        if cmd.text("UPDHST", "*YES") == "*YES":
            await conn.executemany(
                "UPDATE objects SET saved_at = $4 WHERE library = $1 AND name = $2"
                " AND obj_type = $3",
                [(lib, o.name, o.obj_type, saved_at) for o in objects],
            )
    await refresh_savf_object(node, savf_lib, savf_name)
    if not_saved:
        # ibmi.md §5.3: CPF3771 [V] ends a save of one library with objects not saved; one
        # diagnostic per object [G] CPF3761. The save file holds the objects that were saved.
        raise Escape(
            "CPF3771",
            len(objects),
            lib,
            len(not_saved),
            diagnostics=[("CPF3761", (r["name"], r["obj_type"], lib)) for r in not_saved],
        )
    return len(objects)


async def _open_archive(node: Node, cmd: CLCommand, savlib: str, commands: set[str]) -> Archive:
    """The verified archive of the SAVF parameter; CPF3780 unless it holds ``savlib``."""
    savf_lib, savf_name = await resolve_savf(node, cmd, "SAVF")
    try:
        archive = await asyncio.to_thread(read_archive, node.savf_path(savf_lib, savf_name))
    except SavfEmpty as exc:
        raise Escape("CPF3780", savlib) from exc
    except SavfDamaged as exc:
        raise Escape("CPF3794", diagnostics=[("CPF3743", ())]) from exc
    if archive.meta.get("library") != savlib or archive.meta.get("command") not in commands:
        raise Escape("CPF3780", savlib)
    return archive


async def _restore(
    node: Node,
    cmd: CLCommand,
    archive: Archive,
    target: str,
    keep: Callable[[str, str], bool],
) -> int:
    """Restore the archived objects accepted by ``keep`` into ``target``; return count.

    Objects of ``target`` that are not in the archive stay (the runbook clears first, §5.2).
    OPTION(*NEW) skips objects that exist, OPTION(*OLD) those that do not. An owner without a
    profile on this node becomes QDFTOWN (§5.2 [V]).
    """
    option = cmd.text("OPTION", "*ALL")
    allow_differences = bool(_ALWOBJDIF_CREATION & set(cmd.texts("ALWOBJDIF")))
    chosen = [(i, o) for i, o in enumerate(archive.objects) if keep(o.name, o.obj_type)]
    # Fault restore_fails (issue 3 item 10): these are refused like an object that differs.
    refused = await faults.objects_not_restorable(
        node, target, [(o.name, o.obj_type) for _, o in chosen if not o.is_savf]
    )
    slow = await faults.take(node, "restore_slow", target)
    if slow is not None:  # fault restore_slow: this restore takes `seconds` (real) longer
        await asyncio.sleep(faults.delay_of(slow))
    await restore_data(node, sum(o.size_bytes for _, o in chosen))
    restored = 0
    not_restored: list[tuple[str, tuple[object, ...]]] = []
    now = datetime.now(UTC)
    savf_blobs: list[tuple[str, bytes]] = []
    async with node.pool.acquire() as conn, conn.transaction():
        profiles = {r["name"] for r in await conn.fetch("SELECT name FROM user_profiles")}
        await conn.execute(
            "INSERT INTO libraries (name, restored_at) VALUES ($1, $2)"
            " ON CONFLICT (name) DO UPDATE SET restored_at = EXCLUDED.restored_at",
            target,
            now,
        )
        for index, obj in chosen:
            existing = await conn.fetchval(
                "SELECT created_at FROM objects WHERE library = $1 AND name = $2 AND obj_type = $3",
                target,
                obj.name,
                obj.obj_type,
            )
            exists = existing is not None
            if (option == "*NEW" and exists) or (option == "*OLD" and not exists):
                continue
            if (obj.name, obj.obj_type) in refused:
                not_restored.append(("CPF3756", (obj.name, obj.obj_type, target)))
                continue
            created = datetime.fromisoformat(obj.created_at) if obj.created_at else now
            if exists and existing != created and not allow_differences:
                # ibmi.md §5.4: CPF3756 per object not restored, then CPF3773 with counts.
                # [G] Only the creation timestamp is compared, as ALWOBJDIF(*NONE) does.
                not_restored.append(("CPF3756", (obj.name, obj.obj_type, target)))
                continue
            await conn.execute(
                "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, version,"
                " content_hash, owner, text_description, restored_at, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (library, name, obj_type) DO UPDATE SET attribute = $4,"
                " size_bytes = $5, version = $6, content_hash = $7, owner = $8,"
                " text_description = $9, restored_at = $10, changed_at = now(),"
                " created_at = $11",
                target,
                obj.name,
                obj.obj_type,
                obj.attribute,
                obj.size_bytes,
                obj.version,
                obj.content_hash,
                # ibmi.md §5.2 [V]: an owner profile missing on the target makes QDFTOWN the
                # owner; that is why profiles are restored before libraries.
                obj.owner if obj.owner in profiles else "QDFTOWN",
                obj.text,
                now,
                created,
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
    if not_restored:
        # A partial restore keeps what was restored (the transaction above is committed).
        raise Escape("CPF3773", restored, len(not_restored), target, diagnostics=not_restored)
    return restored


# [G] ALWOBJDIF values that let an existing object with another creation date be replaced.
_ALWOBJDIF_CREATION = {"*ALL", "*COMPATIBLE", "*FILELVL"}


def _one_library(values: list[str], escape: Escape) -> str:
    if len(values) != 1 or values[0].startswith("*") or values[0].endswith("*"):
        raise escape
    return values[0]


# --- commands -------------------------------------------------------------------------------


@handler("SAVLIB")
async def savlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """SAVLIB to a save file: CPC3722 (ibmi.md §5.1, §5.3).

    One library per save file (§5.1 [V]); CPF3781 for a missing library (§5.3 [O]); the save
    file itself is left out when it lives in the saved library (§5.1, Ansible adds OMITOBJ).
    """
    _check_savf_device(cmd)
    lib = _one_library(cmd.texts("LIB"), Escape("CPF3737"))
    count = await _save(node, cmd, "SAVLIB", lib, lambda _name, _type: True, job.number)
    await job.send("CPC3722", count, lib)


@handler("SAVOBJ")
async def savobj(node: Node, job: Job, cmd: CLCommand) -> None:
    """SAVOBJ OBJ(names|GEN*|*ALL) LIB(X) OBJTYPE(...) to a save file (ibmi.md §5.1).

    Nothing selected is CPF3770 (§5.3 [O] Ansible tests); [I] completion CPC3722 as SAVLIB.
    """
    _check_savf_device(cmd)
    lib = _one_library(cmd.texts("LIB"), Escape("CPF3737"))
    names, types = cmd.texts("OBJ"), cmd.texts("OBJTYPE")
    count = await _save(
        node,
        cmd,
        "SAVOBJ",
        lib,
        lambda n, t: _name_matches(names, n) and _type_matches(types, t),
        job.number,
    )
    await job.send("CPC3722", count, lib)


@handler("RSTLIB")
async def rstlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """RSTLIB from a save file: CPC3703 (ibmi.md §5.1, §5.4).

    The objects come only from the archive bytes. An empty save file or one holding another
    library gives CPF3780 (§5.4 [O]); [G] so does a save file written by SAVOBJ; a damaged
    one CPF3743 then CPF3794 [G]. The library is created when missing.
    """
    _check_savf_device(cmd)
    savlib_name = _one_library(
        cmd.texts("SAVLIB"), Escape("SIM0001", "RSTLIB of several or generic libraries")
    )
    archive = await _open_archive(node, cmd, savlib_name, {"SAVLIB"})
    target = cmd.text("RSTLIB", "*SAVLIB")
    target = savlib_name if target == "*SAVLIB" else target
    count = await _restore(node, cmd, archive, target, lambda _name, _type: True)
    await job.send("CPC3703", count, savlib_name, target)


@handler("RSTOBJ")
async def rstobj(node: Node, job: Job, cmd: CLCommand) -> None:
    """RSTOBJ into an existing library (ibmi.md §5.1 [V]): CPC3703 [I]; CPF3770 if none."""
    _check_savf_device(cmd)
    savlib_name = _one_library(
        cmd.texts("SAVLIB"), Escape("SIM0001", "RSTOBJ of several or generic libraries")
    )
    archive = await _open_archive(node, cmd, savlib_name, {"SAVLIB", "SAVOBJ"})
    target = cmd.text("RSTLIB", "*SAVLIB")
    target = savlib_name if target == "*SAVLIB" else target
    if not await library_exists(node, target):
        raise Escape("CPF3781", target)  # [G] id for a missing target library
    names, types = cmd.texts("OBJ"), cmd.texts("OBJTYPE")
    selected = [
        o
        for o in archive.objects
        if _name_matches(names, o.name) and _type_matches(types, o.obj_type)
    ]
    if not selected:
        raise Escape("CPF3770", savlib_name)
    count = await _restore(
        node,
        cmd,
        archive,
        target,
        lambda n, t: _name_matches(names, n) and _type_matches(types, t),
    )
    await job.send("CPC3703", count, savlib_name, target)
