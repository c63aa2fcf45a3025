"""IFS and QDLS save/restore into save files: SAV, RST, SAVDLO, RSTDLO (ibmi.md §5.1).

Why: replication groups also cover IFS directories and QDLS folders (icluster.md); the resync
saves them on PRIMARY and restores them on BACKUP, from the save file's bytes only, like RSTLIB.
SAV and RST name the save file as an IFS path, ``DEV('/QSYS.LIB/LIB.LIB/NAME.FILE')`` (ibmi.md
§5.1, §6 path forms).
"""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibmi_sim.cl_parser import CLCommand, ValueList, element_text
from ibmi_sim.commands._base import handler, resolve_file, resolve_savf, restore_data
from ibmi_sim.commands.security import (
    archived,
    check_savf_device,
    open_archive_of_kind,
    savf_for_save,
    write_save,
)
from ibmi_sim.jobs import Escape, Job
from ibmi_sim.savf import Archive, ArchivedObject

if TYPE_CHECKING:
    from ibmi_sim.node import Node

_SAVF_PATH = re.compile(r"^/QSYS\.LIB/(?:([^/]+)\.LIB/)?([^/]+)\.FILE$", re.IGNORECASE)


async def _savf_from_device(node: Node, cmd: CLCommand) -> tuple[str, str]:
    """(library, name) of DEV('/QSYS.LIB/LIB.LIB/NAME.FILE'), as resolve_savf checks it.

    [G] A device that is not such a path: CPF9814 (tape and optical are not simulated).
    """
    device = cmd.text("DEV") or ""
    match = _SAVF_PATH.match(device)
    if match is None:
        raise Escape("CPF9814", device)
    lib, name = (match.group(1) or "QSYS").upper(), match.group(2).upper()
    if await resolve_file(node, lib, name) is None:
        raise Escape("CPF9812", name, lib)
    if not await node.pool.fetchval(
        "SELECT 1 FROM save_files WHERE library = $1 AND name = $2", lib, name
    ):
        raise Escape("CPF3782", name, lib)
    return lib, name


def _obj_entries(cmd: CLCommand) -> list[tuple[str, str, str]]:
    """OBJ(('/path' *INCLUDE|*OMIT ['/new'|*SAME]) ...) as (path, include/omit, new path)."""
    entries: list[tuple[str, str, str]] = []
    for value in cmd.values("OBJ"):
        items = value.items if isinstance(value, ValueList) else (value,)
        texts = [element_text(i) for i in items]
        if not texts:
            continue
        path = texts[0].rstrip("/") or "/"
        option = texts[1] if len(texts) > 1 else "*INCLUDE"
        new = texts[2] if len(texts) > 2 and texts[2] != "*SAME" else ""
        entries.append((path, option, new.rstrip("/")))
    return entries or [("*", "*INCLUDE", "")]


def _under(path: str, root: str, subtree: str) -> bool:
    """Whether ``path`` is selected by OBJ ``root`` with SUBTREE (wildcards as fnmatch)."""
    if root in ("*", "/"):
        return subtree in ("*ALL", "*OBJ", "*STG") or path.count("/") == 1
    if any(c in root for c in "*?"):
        if fnmatch.fnmatchcase(path, root):
            return True
        return any(
            fnmatch.fnmatchcase(path[:i], root)
            for i in range(len(path))
            if path[i] == "/" and subtree != "*NONE"
        )
    if path == root:
        return True
    if not path.startswith(root + "/") or subtree == "*NONE":
        return False
    return subtree != "*DIR" or "/" not in path[len(root) + 1 :]


# --- SAV / RST ------------------------------------------------------------------------------


@handler("SAV")
async def sav(node: Node, job: Job, cmd: CLCommand) -> None:
    """IFS objects into a save file: CPC370C [V id] with the count (ibmi.md §5.1, §5.3).

    [G] An *INCLUDE path that selects nothing: CPFA0A9 "Object not found." SUBTREE *ALL (the
    default), *DIR (one level), *NONE (the named object); *OBJ/*STG as *ALL.
    """
    savf = await _savf_from_device(node, cmd)
    await savf_for_save(node, *savf, cmd)
    subtree = cmd.text("SUBTREE", "*ALL") or "*ALL"
    entries = _obj_entries(cmd)
    rows = await node.pool.fetch(
        "SELECT path, obj_type, size_bytes, version, content_hash, owner, created_at"
        " FROM ifs_objects ORDER BY path"
    )
    selected: dict[str, Any] = {}
    for root, option, _new in entries:
        if option != "*INCLUDE":
            continue
        hits = [r for r in rows if _under(r["path"], root, subtree)]
        if not hits:
            raise Escape("CPFA0A9", root)
        selected.update({r["path"]: r for r in hits})
    for root, option, _new in entries:
        if option == "*OMIT":
            for path in [p for p in selected if _under(p, root, "*ALL")]:
                del selected[path]
    objects = [
        archived(
            node,
            name=r["path"].rsplit("/", 1)[-1] or "/",
            obj_type=r["obj_type"],
            size_bytes=r["size_bytes"],
            content_hash=r["content_hash"],
            owner=r["owner"],
            created_at=r["created_at"],
            path=r["path"],
            version=r["version"],
        )
        for r in selected.values()
    ]
    saved_at = await write_save(node, savf, "SAV", "", objects)
    if cmd.text("UPDHST", "*YES") != "*NO":
        await node.pool.execute(
            "UPDATE ifs_objects SET saved_at = $2 WHERE path = ANY($1::text[])",
            [o.path for o in objects],
            saved_at,
        )
    await job.send("CPC370C", len(objects))


def _restore_path(obj: ArchivedObject, entries: list[tuple[str, str, str]], subtree: str) -> str:
    """Where ``obj`` is restored, or '' when OBJ does not select it."""
    chosen = ""
    for root, option, new in entries:
        if _under(obj.path, root, subtree):
            if option == "*OMIT":
                return ""
            if not chosen:
                chosen = new + obj.path[len(root) :] if new and root not in ("*", "/") else obj.path
    return chosen


@handler("RST")
async def rst(node: Node, job: Job, cmd: CLCommand) -> None:
    """IFS objects from a SAV save file: CPC370F [V id] (ibmi.md §5.1, §5.4).

    Objects not in the save stay. OPTION(*NEW) skips objects that exist, *OLD those that do not
    [G silently]. An existing object is replaced whatever ALWOBJDIF says (for RST it only covers
    owner, group and authorization list [V values]). A missing owner profile becomes QDFTOWN
    (§5.2 [V]); missing parent directories are created [G] (CRTPRNDIR is not checked).
    [G] An *INCLUDE path with nothing in the save: CPFA0A9.
    """
    savf = await _savf_from_device(node, cmd)
    archive = await open_archive_of_kind(node, savf, {"SAV"})
    subtree = cmd.text("SUBTREE", "*ALL") or "*ALL"
    entries = _obj_entries(cmd)
    for root, option, _new in entries:
        if option == "*INCLUDE" and not any(_under(o.path, root, subtree) for o in archive.objects):
            raise Escape("CPFA0A9", root)
    targets = [(o, _restore_path(o, entries, subtree)) for o in archive.objects]
    targets = [(o, p) for o, p in targets if p]
    await restore_data(node, sum(o.size_bytes for o, _ in targets))
    option = cmd.text("OPTION", "*ALL")
    now = datetime.now(UTC)
    restored = 0
    async with node.pool.acquire() as conn, conn.transaction():
        profiles = {r["name"] for r in await conn.fetch("SELECT name FROM user_profiles")}
        for obj, path in targets:
            exists = await conn.fetchval("SELECT 1 FROM ifs_objects WHERE path = $1", path)
            if (option == "*NEW" and exists) or (option == "*OLD" and not exists):
                continue
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                parent = "/" + "/".join(parts[:i])
                await conn.execute(
                    "INSERT INTO ifs_objects (path, obj_type, content_hash, owner)"
                    " VALUES ($1, '*DIR', $2, 'QSYS') ON CONFLICT (path) DO NOTHING",
                    parent,
                    "0" * 64,
                )
            await conn.execute(
                "INSERT INTO ifs_objects (path, obj_type, size_bytes, version, content_hash,"
                " owner, created_at, restored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (path) DO UPDATE SET obj_type = $2, size_bytes = $3, version = $4,"
                " content_hash = $5, owner = $6, created_at = $7, restored_at = $8,"
                " changed_at = now()",
                path,
                obj.obj_type,
                obj.size_bytes,
                obj.version,
                obj.content_hash,
                obj.owner if obj.owner in profiles else "QDFTOWN",
                datetime.fromisoformat(obj.created_at) if obj.created_at else now,
                now,
            )
            restored += 1
    await job.send("CPC370F", restored)


# --- SAVDLO / RSTDLO ------------------------------------------------------------------------


def _folders(cmd: CLCommand, keyword: str) -> list[str]:
    return [f.strip("/").upper() for f in cmd.texts(keyword) if f.strip("/")]


def _in_folder(folder: str, name: str, root: str) -> bool:
    """Whether DLO (folder, name) is folder ``root`` itself or anything inside it."""
    full = f"{folder}/{name}" if folder else name
    return full == root or full.startswith(root + "/")


@handler("SAVDLO")
async def savdlo(node: Node, job: Job, cmd: CLCommand) -> None:
    """Whole folders into a save file: CPC9063 [V id] (ibmi.md §5.1).

    Only DLO(*ALL) FLR(folders) is simulated (SIM0001 for other selections); [G] a folder that
    does not exist: CPF8A16.
    """
    check_savf_device(cmd)
    selection = cmd.texts("DLO") or ["*ALL"]
    folders = _folders(cmd, "FLR")
    if selection != ["*ALL"] or not folders or "*ANY" in folders:
        raise Escape("SIM0001", "SAVDLO other than DLO(*ALL) FLR(folder ...)")
    savf = await resolve_savf(node, cmd, "SAVF")
    await savf_for_save(node, *savf, cmd)
    rows = await node.pool.fetch(
        "SELECT folder, name, obj_type, size_bytes, version, content_hash, owner, created_at"
        " FROM dlo_objects ORDER BY folder, name"
    )
    chosen = []
    for root in folders:
        hits = [r for r in rows if _in_folder(r["folder"], r["name"], root)]
        if not any(r["obj_type"] == "*FLR" for r in hits):
            raise Escape("CPF8A16", root)
        chosen += [r for r in hits if r not in chosen]
    objects = [
        archived(
            node,
            name=r["name"],
            obj_type=r["obj_type"],
            size_bytes=r["size_bytes"],
            content_hash=r["content_hash"],
            owner=r["owner"],
            created_at=r["created_at"],
            path=f"{r['folder']}/{r['name']}",
            version=r["version"],
        )
        for r in chosen
    ]
    saved_at = await write_save(node, savf, "SAVDLO", "QDOC", objects, {"folders": folders})
    await node.pool.executemany(
        "UPDATE dlo_objects SET saved_at = $3 WHERE folder = $1 AND name = $2",
        [(*o.path.rsplit("/", 1), saved_at) for o in objects],
    )
    await job.send("CPC9063", len(objects))


@handler("RSTDLO")
async def rstdlo(node: Node, job: Job, cmd: CLCommand) -> None:
    """Folders from a SAVDLO save file: CPC9053 [V id] (ibmi.md §5.1, §5.4).

    DLO(*ALL) SAVFLR(folders) only (SIM0001 otherwise); documents of the folder not in the save
    stay [G]. A missing owner profile becomes QDFTOWN (§5.2 [V]). [G] A folder not in the save
    file: CPF909B with 0 restored (IBM's "restored and not restored" DLO escape, §5.4).
    """
    check_savf_device(cmd)
    selection = cmd.texts("DLO") or ["*ALL"]
    folders = _folders(cmd, "SAVFLR")
    if selection != ["*ALL"] or not folders:
        raise Escape("SIM0001", "RSTDLO other than DLO(*ALL) SAVFLR(folder ...)")
    savf = await resolve_savf(node, cmd, "SAVF")
    archive: Archive = await open_archive_of_kind(node, savf, {"SAVDLO"})
    chosen = [
        o
        for o in archive.objects
        if any(_in_folder(*o.path.rsplit("/", 1), root) for root in folders)
    ]
    not_found = [
        root
        for root in folders
        if not any(_in_folder(*o.path.rsplit("/", 1), root) for o in archive.objects)
    ]
    await restore_data(node, sum(o.size_bytes for o in chosen))
    now = datetime.now(UTC)
    async with node.pool.acquire() as conn, conn.transaction():
        profiles = {r["name"] for r in await conn.fetch("SELECT name FROM user_profiles")}
        for obj in chosen:
            folder, name = obj.path.rsplit("/", 1)
            await conn.execute(
                "INSERT INTO dlo_objects (folder, name, obj_type, size_bytes, version,"
                " content_hash, owner, created_at, restored_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (folder, name)"
                " DO UPDATE SET obj_type = $3, size_bytes = $4, version = $5,"
                " content_hash = $6, owner = $7, created_at = $8, restored_at = $9,"
                " changed_at = now()",
                folder,
                name,
                obj.obj_type,
                obj.size_bytes,
                obj.version,
                obj.content_hash,
                obj.owner if obj.owner in profiles else "QDFTOWN",
                datetime.fromisoformat(obj.created_at) if obj.created_at else now,
                now,
            )
    if not_found:
        raise Escape(
            "CPF909B",
            len(chosen),
            len(not_found),
            diagnostics=[("CPF8A16", (root,)) for root in not_found],
        )
    await job.send("CPC9053", len(chosen))
