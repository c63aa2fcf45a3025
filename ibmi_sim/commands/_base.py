"""Shared pieces of the CL command handlers: the registry and object lookups.

Each handler gets the node, the job and the parsed command (keywords already checked by
:mod:`ibmi_sim.cl_specs`), changes the database and files, sends completion messages to the job
log, and raises :class:`~ibmi_sim.jobs.Escape` to fail. Message ids and texts come only from
:mod:`ibmi_sim.messages`; the ibmi.md section behind each behaviour is cited at the handler.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ibmi_sim import capacity
from ibmi_sim.cl_parser import CLCommand, Qualified, ValueList, Word, element_text
from ibmi_sim.jobs import Escape, Job

if TYPE_CHECKING:
    from ibmi_sim.node import Node

Handler = Callable[["Node", Job, CLCommand], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}

EMPTY_HASH = hashlib.sha256(b"").hexdigest()
# [I] *LIBL stands for the system part of the library list plus QGPL; *CURLIB for QGPL.
LIBL = ("QSYS", "QUSRSYS", "QGPL")


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register ``func`` as the implementation of CL command ``name``."""

    def register(func: Handler) -> Handler:
        HANDLERS[name] = func
        return func

    return register


# --- helpers --------------------------------------------------------------------------------


async def library_exists(node: Node, library: str) -> bool:
    return bool(await node.pool.fetchval("SELECT 1 FROM libraries WHERE name = $1", library))


async def resolve_file(node: Node, lib: str, name: str) -> str | None:
    """Library holding *FILE ``name`` (resolving *LIBL/*CURLIB), or None when not found."""
    if lib == "*CURLIB":
        lib = "QGPL"
    candidates = LIBL if lib == "*LIBL" else (lib,)
    for candidate in candidates:
        found = await node.pool.fetchval(
            "SELECT 1 FROM objects WHERE library = $1 AND name = $2 AND obj_type = '*FILE'",
            candidate,
            name,
        )
        if found:
            return candidate
    return None


async def resolve_savf(node: Node, cmd: CLCommand, keyword: str) -> tuple[str, str]:
    """(library, name) of an existing save file; CPF9812 when missing, CPF3782 if not a SAVF."""
    qualified = cmd.qualified(keyword)
    if qualified is None:
        raise Escape("CPF0001", cmd.name, diagnostics=[("CPD0072", (keyword,))])
    lib, name = qualified
    found = await resolve_file(node, lib, name)
    if found is None:
        raise Escape("CPF9812", name, "*LIBL" if lib == "*LIBL" else lib)
    is_savf = await node.pool.fetchval(
        "SELECT 1 FROM save_files WHERE library = $1 AND name = $2", found, name
    )
    if not is_savf:
        raise Escape("CPF3782", name, found)
    return found, name


def target_library(lib: str) -> str:
    return "QGPL" if lib in ("*LIBL", "*CURLIB") else lib


async def pause(node: Node, nominal_seconds: float) -> None:
    """Let simulated work that moves no data take its (time-scaled) duration."""
    seconds = node.cfg.scaled(nominal_seconds)
    if seconds > 0:
        await asyncio.sleep(seconds)


async def save_data(node: Node, data_bytes: float) -> None:
    """A save job writes ``data_bytes`` (nominal): its time follows the node's shared
    throughput (:mod:`ibmi_sim.capacity`), at most ``save_mb_per_s`` for this job."""
    await capacity.of(node).move(data_bytes / 1e6, node.cfg.timing.save_mb_per_s)


async def restore_data(node: Node, data_bytes: float) -> None:
    """A restore job reads ``data_bytes`` (nominal), sharing the node like :func:`save_data`,
    at most ``restore_mb_per_s`` for this job."""
    await capacity.of(node).move(data_bytes / 1e6, node.cfg.timing.restore_mb_per_s)


def omitted_objects(cmd: CLCommand, library: str) -> set[tuple[str, str]]:
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


def is_omitted(omitted: set[tuple[str, str]], name: str, obj_type: str) -> bool:
    return any(
        (o == name or o == "*ALL" or (o.endswith("*") and name.startswith(o[:-1])))
        and t in (obj_type, "*ALL")
        for o, t in omitted
    )
