"""Library commands: CRTLIB, DLTLIB, CLRLIB, CHKOBJ (ibmi.md §5.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibmi_sim.cl_parser import CLCommand
from ibmi_sim.commands._base import (
    handler,
    library_exists,
    target_library,
)
from ibmi_sim.jobs import Escape, Job

if TYPE_CHECKING:
    from ibmi_sim.node import Node


# --- libraries ------------------------------------------------------------------------------


@handler("CRTLIB")
async def crtlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPC2102 created / CPF2111 exists (ibmi.md §2.3, §10.1)."""
    lib = cmd.text("LIB") or ""
    if await library_exists(node, lib):
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
    lib = target_library(cmd.text("LIB") or "")
    if not await library_exists(node, lib):
        raise Escape("CPF2110", lib)
    await _delete_library_contents(node, lib)
    await job.send("CPC2195", lib)


@handler("DLTLIB")
async def dltlib(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPC2194 deleted / CPF2110 not found (ibmi.md §5.1)."""
    lib = cmd.text("LIB") or ""
    if not await library_exists(node, lib):
        raise Escape("CPF2110", lib)
    await _delete_library_contents(node, lib)
    await node.pool.execute("DELETE FROM libraries WHERE name = $1", lib)
    directory = node.library_dir(lib)
    if directory.exists():
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()
    await job.send("CPC2194", lib)


@handler("CHKOBJ")
async def chkobj(node: Node, job: Job, cmd: CLCommand) -> None:
    """Silent when the object exists; [G] CPF9801-style escape otherwise (CPF9810 for *LIB)."""
    lib_raw, name = cmd.qualified("OBJ") or ("*LIBL", "")
    obj_type = cmd.text("OBJTYPE") or ""
    if obj_type == "*LIB":
        if not await library_exists(node, name):
            raise Escape("CPF9810", name)
        return
    lib = target_library(lib_raw)
    found = await node.pool.fetchval(
        "SELECT 1 FROM objects WHERE library = $1 AND name = $2 AND obj_type = $3",
        lib,
        name,
        obj_type,
    )
    if not found:
        raise Escape("CPF2105", name, lib)
