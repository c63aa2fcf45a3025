"""DMSTRGRP REFRESH(*YES) on the simulated pair: synchronise a group over the network.

Rocket describes two ways to resynchronise over the network instead of save files; the first
and easiest is to start the group with the refresh option (icluster.md §9 [V]), which copies
every in-scope object to the backup before mirroring starts (§3.1 [I/G]: keyword and
semantics are not public). The simulator models it so the network-sync DAG can be tested:

1. DMSTRGRP checks the group is *INACTIVE (else escape SIM1015), sets it *STARTING and
   returns (SIM1107), as DMSTRGRP does without refresh (§3.1 [I]: asynchronous).
2. In the background, under DMCLUSTER, the refresh reads the group's scope on PRIMARY
   (libraries, IFS paths, DLO folders, private authorities) and the end of the group's journal
   in one consistent snapshot, so entries journaled after it are exactly those not in the copy.
3. The copy reaches BACKUP in batches over a time that grows with objects and data
   (config ``icluster.refresh_*``, time-scaled); objects in scope only on BACKUP are removed
   [G]. The applications keep running and journaling on PRIMARY meanwhile.
4. SIM1108 goes to the event log; then the group is *ACTIVE from the snapshot's position, so
   the normal apply (ibmi_sim.icluster) replays what was journaled since the refresh started.

Every figure and id is a guess (ibmi_sim.guesses); the ids are synthetic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from ibmi_sim import icluster
from ibmi_sim.icluster import ACTIVE, PRODUCT_SUBSYSTEM, PRODUCT_USER, STARTING

if TYPE_CHECKING:
    from ibmi_sim.node import Node

_OBJECT_COLUMNS = (
    "library, name, obj_type, attribute, size_bytes, version, content_hash, owner,"
    " text_description, created_at"
)
_IFS_COLUMNS = "path, obj_type, size_bytes, version, content_hash, owner, created_at"
_DLO_COLUMNS = "folder, name, obj_type, size_bytes, version, content_hash, owner, created_at"


@dataclass
class Scope:
    """A group's objects on PRIMARY at one moment, and the journal end at that moment."""

    position: int
    libraries: list[asyncpg.Record]
    objects: list[asyncpg.Record]
    ifs: list[asyncpg.Record]
    dlo: list[asyncpg.Record]
    authorities: list[asyncpg.Record]
    library_names: list[str]
    ifs_paths: list[str]
    dlo_folders: list[str]

    @property
    def count(self) -> int:
        return len(self.libraries) + len(self.objects) + len(self.ifs) + len(self.dlo)

    @property
    def data_bytes(self) -> int:
        return sum(int(r["size_bytes"]) for r in [*self.objects, *self.ifs, *self.dlo])


def refresh_seconds(node: Node, objects: int, data_bytes: int) -> float:
    """Nominal duration of the copy: base + per object + data over the network rate [G]."""
    ic = node.cfg.icluster
    return (
        ic.refresh_base_s
        + ic.refresh_per_object_s * objects
        + data_bytes / 1e6 / ic.refresh_mb_per_s
    )


_IFS_SCOPE = (
    "(path = ANY($1::text[]) OR EXISTS (SELECT 1 FROM unnest($1::text[]) AS p(dir)"
    " WHERE ifs_objects.path LIKE p.dir || '/%'))"
)
_DLO_SCOPE = (
    "((folder = '' AND name = ANY($1::text[])) OR folder = ANY($1::text[])"
    " OR EXISTS (SELECT 1 FROM unnest($1::text[]) AS f(dir)"
    " WHERE dlo_objects.folder LIKE f.dir || '/%'))"
)


async def read_scope(primary: Node, group: str) -> Scope:
    """The group's scope and journal end in one repeatable-read transaction (step 2 above):
    the workload changes objects and the journal end in one transaction, so no change is both
    in the copy and after the position, or in neither."""
    libraries = await icluster.group_libraries(primary, group)
    seed = next((g for g in primary.cfg.replication_groups if g.name == group), None)
    ifs_paths = list(seed.ifs_paths) if seed else []
    dlo_folders = [f.upper() for f in seed.dlo_folders] if seed else []
    async with primary.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        position = await conn.fetchval(
            "SELECT last_sequence FROM icluster_groups WHERE group_name = $1", group
        )
        return Scope(
            position=int(position or 0),
            libraries=await conn.fetch(
                "SELECT name, lib_type, text_description FROM libraries"
                " WHERE name = ANY($1::text[])",
                libraries,
            ),
            objects=await conn.fetch(
                f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE library = ANY($1::text[])"
                " AND NOT (obj_type = '*FILE' AND attribute = 'SAVF')",
                libraries,
            ),
            ifs=await conn.fetch(
                f"SELECT {_IFS_COLUMNS} FROM ifs_objects WHERE {_IFS_SCOPE}", ifs_paths
            )
            if ifs_paths
            else [],
            dlo=await conn.fetch(
                f"SELECT {_DLO_COLUMNS} FROM dlo_objects WHERE {_DLO_SCOPE}", dlo_folders
            )
            if dlo_folders
            else [],
            authorities=await conn.fetch(
                "SELECT library, object_name, obj_type, user_profile, authority FROM authorities"
                " WHERE library = ANY($1::text[])"
                " OR (library = 'QSYS' AND obj_type = '*LIB' AND object_name = ANY($1::text[]))",
                libraries,
            ),
            library_names=libraries,
            ifs_paths=ifs_paths,
            dlo_folders=dlo_folders,
        )


def _batches(rows: list[Any], count: int) -> list[list[Any]]:
    size = max(1, -(-len(rows) // count))
    return [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]


async def _write_objects(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> None:
    await conn.executemany(
        f"INSERT INTO objects ({_OBJECT_COLUMNS}, changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())"
        " ON CONFLICT (library, name, obj_type) DO UPDATE SET attribute = $4, size_bytes = $5,"
        " version = $6, content_hash = $7, owner = $8, text_description = $9,"
        " created_at = $10, changed_at = now()",
        [tuple(r.values()) for r in rows],
    )


async def _write_ifs(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> None:
    await conn.executemany(
        f"INSERT INTO ifs_objects ({_IFS_COLUMNS}, changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (path) DO UPDATE SET"
        " obj_type = $2, size_bytes = $3, version = $4, content_hash = $5, owner = $6,"
        " created_at = $7, changed_at = now()",
        [tuple(r.values()) for r in rows],
    )


async def _write_dlo(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> None:
    await conn.executemany(
        f"INSERT INTO dlo_objects ({_DLO_COLUMNS}, changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) ON CONFLICT (folder, name) DO UPDATE"
        " SET obj_type = $3, size_bytes = $4, version = $5, content_hash = $6, owner = $7,"
        " created_at = $8, changed_at = now()",
        [tuple(r.values()) for r in rows],
    )


async def _finish_scope(conn: asyncpg.Connection, scope: Scope) -> int:
    """Remove what is in scope only on BACKUP [G] and copy the private authorities; returns
    the number of objects removed."""
    removed = 0
    keep = [(r["library"], r["name"], r["obj_type"]) for r in scope.objects]
    gone = await conn.fetch(
        "DELETE FROM objects WHERE library = ANY($1::text[])"
        " AND NOT (obj_type = '*FILE' AND attribute = 'SAVF')"
        " AND (library, name, obj_type) NOT IN"
        " (SELECT * FROM unnest($2::text[], $3::text[], $4::text[])) RETURNING name",
        scope.library_names,
        [k[0] for k in keep],
        [k[1] for k in keep],
        [k[2] for k in keep],
    )
    removed += len(gone)
    if scope.ifs_paths:
        gone = await conn.fetch(
            f"DELETE FROM ifs_objects WHERE {_IFS_SCOPE} AND NOT (path = ANY($2::text[]))"
            " RETURNING path",
            scope.ifs_paths,
            [r["path"] for r in scope.ifs],
        )
        removed += len(gone)
    if scope.dlo_folders:
        gone = await conn.fetch(
            f"DELETE FROM dlo_objects WHERE {_DLO_SCOPE} AND (folder, name) NOT IN"
            " (SELECT * FROM unnest($2::text[], $3::text[])) RETURNING name",
            scope.dlo_folders,
            [r["folder"] for r in scope.dlo],
            [r["name"] for r in scope.dlo],
        )
        removed += len(gone)
    await conn.execute(
        "DELETE FROM authorities WHERE library = ANY($1::text[])"
        " OR (library = 'QSYS' AND obj_type = '*LIB' AND object_name = ANY($1::text[]))",
        scope.library_names,
    )
    await conn.executemany(
        "INSERT INTO authorities (library, object_name, obj_type, user_profile, authority)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [tuple(r.values()) for r in scope.authorities],
    )
    return removed


async def copy_scope(primary: Node, backup: Node, scope: Scope) -> None:
    """Write the snapshot onto BACKUP in batches, each after its share of the copy time."""
    ic = primary.cfg.icluster
    total = refresh_seconds(primary, scope.count, scope.data_bytes)
    async with backup.pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO libraries (name, lib_type, text_description) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO NOTHING",
            [tuple(r.values()) for r in scope.libraries],
        )
    items: list[tuple[str, Any]] = [
        *(("objects", r) for r in scope.objects),
        *(("ifs", r) for r in scope.ifs),
        *(("dlo", r) for r in scope.dlo),
    ]
    batches = _batches(items, ic.refresh_batches)
    writers = {"objects": _write_objects, "ifs": _write_ifs, "dlo": _write_dlo}
    for batch in batches:
        await asyncio.sleep(primary.cfg.scaled(total / len(batches)))
        async with backup.pool.acquire() as conn, conn.transaction():
            for kind, writer in writers.items():
                rows = [row for k, row in batch if k == kind]
                if rows:
                    await writer(conn, rows)
    async with backup.pool.acquire() as conn, conn.transaction():
        await _finish_scope(conn, scope)


async def run_refresh(primary: Node, group: str, *, apply_enabled: bool) -> None:
    """The background part of DMSTRGRP REFRESH(*YES) (module docstring, steps 2-4)."""
    job = await primary.new_job(
        user=PRODUCT_USER,
        name="DMREFRESH",
        job_type="BCH",
        subsystem=PRODUCT_SUBSYSTEM,
        command=f"DMSTRGRP GROUP({group}) REFRESH(*YES)",
    )
    try:
        backup = primary.peer
        if backup is None or await icluster.inactive_node(primary) is not None:
            await icluster.event(primary, "SIM1109", group, "BACKUP not active", group=group)
            await icluster.update_group(primary, group, status=icluster.INACTIVE)
            return
        scope = await read_scope(primary, group)
        async with icluster.state_of(primary).lock(group):
            await icluster.update_group(
                primary,
                group,
                sent_sequence=scope.position,
                applied_sequence=scope.position,
                apply_enabled=apply_enabled,
            )
        await copy_scope(primary, backup, scope)
        row = await icluster.group_row(primary, group)
        if row is None or row["status"] != STARTING:  # ended by DMENDGRP meanwhile
            await icluster.event(
                primary, "SIM1109", group, "group ended during the refresh", group=group
            )
            return
        await icluster.event(
            primary,
            "SIM1108",
            group,
            scope.count,
            scope.data_bytes,
            backup.system_name,
            group=group,
        )
        receiver = icluster.receiver_name(
            group, scope.position, primary.cfg.replication.receiver_entries
        )
        await icluster.update_group(primary, group, status=ACTIVE)
        await icluster.event(primary, "SIM1101", group, receiver, scope.position, group=group)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # the event log says what went wrong; the group stays ended
        await icluster.event(primary, "SIM1109", group, type(error).__name__, group=group)
        await icluster.update_group(primary, group, status=icluster.INACTIVE)
        raise
    finally:
        await asyncio.shield(primary.end_job(job, None))
