"""Security data: SAVSECDTA, RSTUSRPRF, RSTAUT (ibmi.md §5.1, §5.2, §12).

Why three commands and an authority reference table: on IBM i, SAVSECDTA saves the profiles with
their private authorities; RSTUSRPRF restores the profiles and, per profile, a table of the
authorities it held; RSTAUT later grants them, but only on objects that exist by then, which is
why it runs last (§5.2). A run that restores in the wrong order sees the grants fail here too.

Also the helpers every save/restore of this family shares (save-file target, archive kinds), used
by :mod:`ibmi_sim.commands.ifs_dlo`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ibmi_sim.cl_parser import CLCommand
from ibmi_sim.commands._base import handler, pause, resolve_savf, restore_data, save_data
from ibmi_sim.commands.savefiles import refresh_savf_object
from ibmi_sim.jobs import Escape, Job
from ibmi_sim.messages import MESSAGES, render
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


# --- helpers shared with ifs_dlo.py ----------------------------------------------------------


def check_savf_device(cmd: CLCommand) -> None:
    """DEV(*SAVF) is the only device simulated; anything else is CPF9814 (as SAVLIB)."""
    device = cmd.text("DEV") or ""
    if device != "*SAVF":
        raise Escape("CPF9814", device)


async def savf_for_save(node: Node, lib: str, name: str, cmd: CLCommand) -> Path:
    """Path of the target save file; a save file with data needs CLEAR (as SAVLIB, [G])."""
    path = node.savf_path(lib, name)
    if path.stat().st_size > 0 and cmd.text("CLEAR", "*NONE") not in ("*ALL", "*REPLACE", "*AFTER"):
        raise Escape("CPF3794", diagnostics=[("CPA4067", (name, lib))])
    return path


async def write_save(
    node: Node,
    savf: tuple[str, str],
    command: str,
    saved_library: str,
    objects: list[ArchivedObject],
    extra_meta: dict[str, Any] | None = None,
) -> datetime:
    """Write the archive of ``objects`` into ``savf`` after the time the data takes to save."""
    savf_lib, savf_name = savf
    await save_data(node, sum(o.size_bytes for o in objects))
    saved_at = datetime.now(UTC)
    meta = {
        "format": 1,
        "command": command,
        "library": saved_library,
        "system": node.system_name,
        "saved_at": saved_at.isoformat(),
        **(extra_meta or {}),
    }

    def payloads() -> Iterator[Iterator[bytes]]:
        for obj in objects:
            yield synthetic_payload(obj.content_hash, obj.payload_len)

    path = node.savf_path(savf_lib, savf_name)
    await asyncio.to_thread(write_archive, path, meta, objects, payloads())
    await node.pool.execute(
        "UPDATE save_files SET save_command = $3, saved_library = $4, objects_saved = $5,"
        " saved_at = $6 WHERE library = $1 AND name = $2",
        savf_lib,
        savf_name,
        command,
        saved_library,
        len(objects),
        saved_at,
    )
    await refresh_savf_object(node, savf_lib, savf_name)
    return saved_at


async def open_archive_of_kind(node: Node, savf: tuple[str, str], commands: set[str]) -> Archive:
    """The verified archive of ``savf``, written by one of ``commands``.

    [G] An empty save file or one written by another kind of save: CPF3806 (ibmi.md §5.4 [O]
    text "Objects from save file &1 in &2 not restored."); damaged: CPF3743 then CPF3794 (as
    RSTLIB).
    """
    lib, name = savf
    try:
        archive = await asyncio.to_thread(read_archive, node.savf_path(lib, name))
    except SavfEmpty as exc:
        raise Escape("CPF3806", name, lib) from exc
    except SavfDamaged as exc:
        raise Escape("CPF3794", diagnostics=[("CPF3743", ())]) from exc
    if archive.meta.get("command") not in commands:
        raise Escape("CPF3806", name, lib)
    return archive


def archived(
    node: Node,
    *,
    name: str,
    obj_type: str,
    size_bytes: int,
    content_hash: str,
    owner: str,
    created_at: datetime | None,
    path: str = "",
    attribute: str = "",
    version: int = 1,
    text: str = "",
) -> ArchivedObject:
    return ArchivedObject(
        name=name[:10],
        obj_type=obj_type,
        attribute=attribute,
        size_bytes=size_bytes,
        version=version,
        content_hash=content_hash,
        owner=owner,
        text=text,
        payload_len=payload_length(size_bytes, node.cfg.size_scale),
        created_at=created_at.isoformat() if created_at else "",
        path=path,
    )


def name_matches(patterns: list[str], name: str) -> bool:
    return any(
        p in ("*ALL", name) or (p.endswith("*") and name.startswith(p[:-1])) for p in patterns
    )


async def history(node: Node, job: Job, msg_id: str, *data: object) -> None:
    """Also send a message to QHST (ibmi_catalog_data.history_log; RSTUSRPRF, ibmi.md §12)."""
    definition = MESSAGES[msg_id]
    await node.pool.execute(
        "INSERT INTO ibm_catalog_data.history_log (message_id, message_type, severity,"
        " from_user, from_job, from_program, message_library, message_file, message_text)"
        " VALUES ($1, $2, $3, $4, $5, 'QSRRSTUP', 'QSYS', 'QCPFMSG', $6)",
        msg_id,
        definition.msg_type.value,
        definition.severity,
        job.user,
        job.qualified_name,
        render(msg_id, *data),
    )


# --- commands -------------------------------------------------------------------------------


@handler("SAVSECDTA")
async def savsecdta(node: Node, job: Job, cmd: CLCommand) -> None:
    """User profiles and their private authorities into a save file (ibmi.md §5.1).

    [I] Completion CPC3722 "n objects saved from library QSYS." (a save to a save file, §5.3;
    profiles live in QSYS). One archived *USRPRF object per profile; the archive header carries
    the profile attributes and the private authorities (the authority tables).
    """
    check_savf_device(cmd)
    savf = await resolve_savf(node, cmd, "SAVF")
    await savf_for_save(node, *savf, cmd)
    profiles = [
        dict(r)
        for r in await node.pool.fetch(
            "SELECT name, status, user_class, special_authorities, group_profile,"
            " text_description FROM user_profiles ORDER BY name"
        )
    ]
    authorities = [
        dict(r)
        for r in await node.pool.fetch(
            "SELECT user_profile, library, object_name, obj_type, authority FROM authorities"
            " ORDER BY user_profile, library, object_name, obj_type"
        )
    ]
    timing = node.cfg.timing
    objects = []
    for profile in profiles:
        held = [a for a in authorities if a["user_profile"] == profile["name"]]
        digest = hashlib.sha256(
            json.dumps([profile, held], sort_keys=True, default=str).encode()
        ).hexdigest()
        objects.append(
            archived(
                node,
                name=profile["name"],
                obj_type="*USRPRF",
                size_bytes=timing.secdta_profile_bytes + timing.secdta_authority_bytes * len(held),
                content_hash=digest,
                owner="QSYS",
                created_at=None,
                text=profile["text_description"],
            )
        )
    await write_save(
        node,
        savf,
        "SAVSECDTA",
        "QSYS",
        objects,
        {"profiles": profiles, "authorities": authorities},
    )
    await job.send("CPC3722", len(objects), "QSYS")


@handler("RSTUSRPRF")
async def rstusrprf(node: Node, job: Job, cmd: CLCommand) -> None:
    """Named profiles (or generic) from a SAVSECDTA save file (ibmi.md §5.1).

    USRPRF(*ALL) needs restricted state, which the simulator never is: CPF3785 [G]. A profile
    that exists keeps its group and password, a new one gets no group (rzarmrstusrw [V]); user
    class, special authorities and text come from the save [G]. Each restored profile's
    authority reference table is replaced by the saved one, for RSTAUT. A name not in the save:
    CPF3776 [G] each, then CPF3775 with counts; else CPC3705. Both also go to QHST (§12).
    """
    check_savf_device(cmd)
    wanted = cmd.texts("USRPRF") or ["*ALL"]
    if "*ALL" in wanted:
        raise Escape("CPF3785")
    savf = await resolve_savf(node, cmd, "SAVF")
    archive = await open_archive_of_kind(node, savf, {"SAVSECDTA"})
    saved = {p["name"]: p for p in archive.meta.get("profiles", [])}
    omitted = cmd.texts("OMITUSRPRF")
    chosen = [
        name
        for name in saved
        if name_matches(wanted, name) and not (omitted and name_matches(omitted, name))
    ]
    missing = [w for w in wanted if not w.endswith("*") and w not in saved]
    chosen_set = set(chosen)
    grants = [a for a in archive.meta.get("authorities", []) if a["user_profile"] in chosen_set]
    timing = node.cfg.timing
    secdta_bytes = timing.secdta_profile_bytes * len(chosen)
    await restore_data(node, secdta_bytes + timing.secdta_authority_bytes * len(grants))
    async with node.pool.acquire() as conn, conn.transaction():
        for name in chosen:
            p = saved[name]
            await conn.execute(
                "INSERT INTO user_profiles (name, status, user_class, special_authorities,"
                " text_description) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE"
                " SET user_class = $3, special_authorities = $4, text_description = $5",
                name,
                p["status"],
                p["user_class"],
                p["special_authorities"],
                p["text_description"],
            )
            await conn.execute("DELETE FROM authority_reference WHERE user_profile = $1", name)
        await conn.executemany(
            "INSERT INTO authority_reference (user_profile, library, object_name, obj_type,"
            " authority) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [
                (a["user_profile"], a["library"], a["object_name"], a["obj_type"], a["authority"])
                for a in grants
            ],
        )
    if missing:
        await history(node, job, "CPF3775", len(chosen), len(missing))
        raise Escape(
            "CPF3775",
            len(chosen),
            len(missing),
            diagnostics=[("CPF3776", (name,)) for name in missing],
        )
    await history(node, job, "CPC3705", len(chosen))
    await job.send("CPC3705", len(chosen))


@handler("RSTAUT")
async def rstaut(node: Node, job: Job, cmd: CLCommand) -> None:
    """Grant the private authorities RSTUSRPRF left in the reference tables (ibmi.md §5.1).

    Only on objects that exist now (hence last, §5.2): for each grant whose object is missing,
    CPF3736 [V text, IBM's RSTAUT job-log sample]; a profile with such grants gets CPF3845
    [G id] and keeps them in its table (RSTAUT can be re-run [V]); the command then ends with
    CPF3846 [G id]. A profile fully granted gets CPC3706 [G] and an empty table. An unknown
    profile: CPF2204 [G] and counts as not fully restored. Duration: per profile plus per
    grant (Timing.rstaut_*, [G]; RSTAUT is long, issue 3 item 9).
    """
    wanted = cmd.texts("USRPRF") or ["*ALL"]
    known = {r["name"] for r in await node.pool.fetch("SELECT name FROM user_profiles")}
    with_tables = {
        r["user_profile"]
        for r in await node.pool.fetch("SELECT DISTINCT user_profile FROM authority_reference")
    }
    if "*ALL" in wanted:
        profiles = sorted(with_tables & known)
    else:
        profiles = sorted(p for p in known if name_matches(wanted, p))
    unknown = [w for w in wanted if w != "*ALL" and not w.endswith("*") and w not in known]
    failed_profiles = len(unknown)
    diagnostics: list[tuple[str, tuple[object, ...]]] = [("CPF2204", (u,)) for u in unknown]
    timing = node.cfg.timing
    for profile in profiles:
        rows = await node.pool.fetch(
            "SELECT library, object_name, obj_type, authority FROM authority_reference"
            " WHERE user_profile = $1 ORDER BY library, object_name, obj_type",
            profile,
        )
        await pause(node, timing.rstaut_per_profile_s + timing.rstaut_per_authority_s * len(rows))
        failed = 0
        async with node.pool.acquire() as conn, conn.transaction():
            for row in rows:
                if row["obj_type"] == "*LIB" and row["library"] == "QSYS":
                    exists = await conn.fetchval(
                        "SELECT 1 FROM libraries WHERE name = $1", row["object_name"]
                    )
                else:
                    exists = await conn.fetchval(
                        "SELECT 1 FROM objects WHERE library = $1 AND name = $2 AND obj_type = $3",
                        row["library"],
                        row["object_name"],
                        row["obj_type"],
                    )
                if not exists:
                    failed += 1
                    await job.send("CPF3736", profile)
                    continue
                await conn.execute(
                    "INSERT INTO authorities (library, object_name, obj_type, user_profile,"
                    " authority) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (library, object_name,"
                    " obj_type, user_profile) DO UPDATE SET authority = EXCLUDED.authority",
                    row["library"],
                    row["object_name"],
                    row["obj_type"],
                    profile,
                    row["authority"],
                )
                await conn.execute(
                    "DELETE FROM authority_reference WHERE user_profile = $1 AND library = $2"
                    " AND object_name = $3 AND obj_type = $4",
                    profile,
                    row["library"],
                    row["object_name"],
                    row["obj_type"],
                )
        if failed:
            failed_profiles += 1
            await job.send("CPF3845", profile)
        else:
            await job.send("CPC3706", len(rows), profile)
    if failed_profiles:
        raise Escape("CPF3846", diagnostics=diagnostics)
