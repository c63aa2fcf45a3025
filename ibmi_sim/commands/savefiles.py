"""Save-file commands: CRTSAVF, CLRSAVF, DLTF (ibmi.md §5.1, §10.3, §11)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ibmi_sim.cl_parser import CLCommand, Qualified, element_text
from ibmi_sim.commands._base import (
    EMPTY_HASH,
    handler,
    library_exists,
    resolve_file,
    resolve_savf,
    target_library,
)
from ibmi_sim.jobs import Escape, Job

if TYPE_CHECKING:
    from ibmi_sim.node import Node


# --- save files -----------------------------------------------------------------------------


@handler("CRTSAVF")
async def crtsavf(node: Node, job: Job, cmd: CLCommand) -> None:
    """CPC7301 created; CPF5813 then CPF7302 when the file exists (ibmi.md §5.1, §12)."""
    lib_raw, name = cmd.qualified("FILE") or ("*CURLIB", "")
    lib = target_library(lib_raw)
    if not await library_exists(node, lib):
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
    size, digest = await asyncio.to_thread(_file_digest, node.savf_path(lib, name))
    await node.pool.execute(
        "UPDATE objects SET size_bytes = $3, content_hash = $4, version = version + 1,"
        " changed_at = now() WHERE library = $1 AND name = $2 AND obj_type = '*FILE'",
        lib,
        name,
        size,
        digest,
    )


def _file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in blocks (save files can be large)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as src:
        while block := src.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


@handler("CLRSAVF")
async def clrsavf(node: Node, job: Job, cmd: CLCommand) -> None:
    """Empty a save file (ibmi.md §5.1). [G] no completion message is sent."""
    lib, name = await resolve_savf(node, cmd, "FILE")
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
        lib = await resolve_file(node, lib_raw, name)
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
