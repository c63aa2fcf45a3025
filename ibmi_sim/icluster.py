"""Rocket iCluster on the simulated pair: nodes, groups, journal, workload, apply, sync check.

Why a model and not canned answers (issue 3 items 7, 8): a resync that skips a runbook step must
leave the pair visibly out of sync. So PRIMARY keeps a journal per replication group; while an
application subsystem is active a workload changes *FILE objects of the groups' libraries and
journals each change; an *ACTIVE group sends and applies those entries to BACKUP at configured
rates (so latency and backlog rise and fall); DMMRKPOS records the journal position; DMSTRGRP
USEMARKED(*YES) replays the entries after it; DMSTRSC compares the two nodes object by object;
DMSTRGRP REFRESH(*YES) copies the group's scope over the network first (ibmi_sim.refresh).

Apply replays a change on BACKUP's current state (size += delta, hash = H(hash + token)): an
entry lost (no USEMARKED) or applied twice leaves the object different for good, as a lost or
doubled row would on IBM i. Everything here is a guess (icluster.md §12 lists what is not
public); each guess is in :mod:`ibmi_sim.guesses`.

State lives in tables of each node database (``icluster_*``); the product reads it through the
views of schema ``icsim`` (names set by the site profile): LOCAL_NODE, EVENT_LOG, GROUP_STATUS,
NODE_STATUS, GROUP_LATENCY. Group state and the journal are kept on PRIMARY (the groups'
primary node) and copied to BACKUP every tick, so both nodes serve every view.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg

from ibmi_sim import faults
from ibmi_sim.cl_specs import PRODUCT_LIBRARY
from ibmi_sim.config import ICluster
from ibmi_sim.messages import MESSAGES, MsgType, render

if TYPE_CHECKING:
    from ibmi_sim.node import Node

log = logging.getLogger(__name__)

ACTIVE, INACTIVE, STARTING, ENDING = "*ACTIVE", "*INACTIVE", "*STARTING", "*ENDING"
PRODUCT_SUBSYSTEM = "XDMCLUSTER"  # icluster.md §1 [V]
PRODUCT_USER = "DMCLUSTER"  # icluster.md §1 [V]: iCluster work runs under this profile
RECORD_BYTES = 512  # [G] bytes a journaled insert adds to a physical file

SCHEMA = """
CREATE TABLE IF NOT EXISTS icluster_nodes (
    node       varchar(8)  PRIMARY KEY,
    role       varchar(7)  NOT NULL,
    status     varchar(10) NOT NULL DEFAULT '*ACTIVE',
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS icluster_groups (
    group_name            varchar(10) PRIMARY KEY,
    status                varchar(10) NOT NULL DEFAULT '*ACTIVE',
    apply_enabled         boolean     NOT NULL DEFAULT true,   -- STRAPY(*NO) suspends apply
    apply_frozen          boolean     NOT NULL DEFAULT false,  -- fault hook: apply stuck
    sync_check_active     boolean     NOT NULL DEFAULT false,
    continuous_sync_check boolean     NOT NULL DEFAULT false,
    last_sequence         bigint      NOT NULL DEFAULT 0,      -- end of the group's journal
    sent_sequence         bigint      NOT NULL DEFAULT 0,
    applied_sequence      bigint      NOT NULL DEFAULT 0,
    marked_receiver       varchar(21),
    marked_sequence       bigint,
    marked_at             timestamptz,
    source_latency_s      double precision NOT NULL DEFAULT 0,
    apply_latency_s       double precision NOT NULL DEFAULT 0,
    last_oos_count        integer,
    changed_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS icluster_journal (
    group_name  varchar(10) NOT NULL,
    sequence    bigint      NOT NULL,
    receiver    varchar(21) NOT NULL,
    entry_ts    timestamptz NOT NULL DEFAULT clock_timestamp(),
    library     varchar(10) NOT NULL,
    object_name varchar(10) NOT NULL,
    obj_type    varchar(10) NOT NULL,
    entry_type  varchar(2)  NOT NULL,   -- PT insert, UP update [G] (DSPJRN entry types)
    size_delta  bigint      NOT NULL,
    token       text        NOT NULL,
    PRIMARY KEY (group_name, sequence)
);
CREATE TABLE IF NOT EXISTS icluster_event_log (
    id                bigserial   PRIMARY KEY,
    message_timestamp timestamptz NOT NULL DEFAULT clock_timestamp(),
    node              varchar(8)  NOT NULL,
    group_name        varchar(10),
    message_id        varchar(7)  NOT NULL,
    severity          integer     NOT NULL,
    message_text      text        NOT NULL,
    second_level_text text
);
-- Fault latency_stuck (ibmi_sim.faults): GROUP_LATENCY shows at least these figures.
ALTER TABLE icluster_groups ADD COLUMN IF NOT EXISTS latency_floor_s double precision
    NOT NULL DEFAULT 0;
ALTER TABLE icluster_groups ADD COLUMN IF NOT EXISTS backlog_floor bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS icluster_event_log_group
    ON icluster_event_log (group_name, message_timestamp);
"""

# The views hold no data: dropped and rebuilt at every open (as ibm_catalog does for qsys2).
# Names and columns: config/site-profiles/simulator.yaml `sql:` (all synthetic, icluster.md §6,
# §7: no SQL access to iCluster status is documented).
VIEWS = """
DROP SCHEMA IF EXISTS icsim CASCADE;
CREATE SCHEMA icsim;
CREATE VIEW icsim.local_node AS
SELECT (SELECT value FROM node_info WHERE key = 'system_name')::varchar(8) AS node,
       (SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM faults WHERE kind = 'role_mismatch'
                       AND (remaining IS NULL OR remaining > 0)
                       AND (until IS NULL OR until > clock_timestamp())) THEN value
                    WHEN value = 'PRIMARY' THEN 'BACKUP' ELSE 'PRIMARY' END
          FROM node_info WHERE key = 'role')::varchar(7)                      AS role;
CREATE VIEW icsim.event_log AS
SELECT message_timestamp, node, group_name, message_id, severity, message_text,
       second_level_text AS message_second_level_text
  FROM icluster_event_log;
CREATE VIEW icsim.group_status AS
SELECT group_name, status,
       (CASE WHEN sync_check_active THEN 'Y' ELSE 'N' END)::char(1)     AS sync_check_active,
       (CASE WHEN continuous_sync_check THEN 'Y' ELSE 'N' END)::char(1) AS continuous_sync_check,
       (CASE WHEN apply_enabled THEN 'Y' ELSE 'N' END)::char(1)         AS apply_active,
       marked_receiver, marked_sequence, marked_at, last_oos_count AS out_of_sync_objects
  FROM icluster_groups;
CREATE VIEW icsim.node_status AS
SELECT node, status, role FROM icluster_nodes;
CREATE VIEW icsim.group_latency AS
SELECT group_name,
       round(greatest(source_latency_s, latency_floor_s)::numeric, 3)
                                                    AS source_latency_seconds,
       round(greatest(apply_latency_s, latency_floor_s)::numeric, 3)
                                                    AS apply_latency_seconds,
       greatest(last_sequence - applied_sequence, backlog_floor, 0) AS backlog_entries,
       applied_sequence                             AS last_applied_sequence,
       last_sequence                                AS last_journal_sequence,
       sent_sequence                                AS last_sent_sequence
  FROM icluster_groups;
"""

_GROUP_COLUMNS = (
    "group_name, status, apply_enabled, apply_frozen, sync_check_active, continuous_sync_check,"
    " last_sequence, sent_sequence, applied_sequence, marked_receiver, marked_sequence,"
    " marked_at, source_latency_s, apply_latency_s, last_oos_count, changed_at,"
    " latency_floor_s, backlog_floor"
)

# One change of an object, the same on PRIMARY (workload) and BACKUP (apply): $1 library,
# $2 name, $3 type, $4 size delta, $5 token.
CHANGE_OBJECT = (
    "UPDATE objects SET size_bytes = greatest(0, size_bytes + $4), version = version + 1,"
    " content_hash = encode(sha256(convert_to(content_hash || $5, 'UTF8')), 'hex'),"
    " changed_at = now() WHERE library = $1 AND name = $2 AND obj_type = $3"
)


@dataclass
class ClusterState:
    """In-memory part of a node's iCluster (tasks, locks, rate credits)."""

    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    sync_checks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    marks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    enders: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    refreshes: dict[str, asyncio.Task[Any]] = field(default_factory=dict)  # ibmi_sim.refresh
    send_credit: dict[str, float] = field(default_factory=dict)
    apply_credit: dict[str, float] = field(default_factory=dict)
    workload_credit: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def lock(self, group: str) -> asyncio.Lock:
        """Held while entries are applied and while a sync check reads both nodes."""
        return self.locks.setdefault(group, asyncio.Lock())


def state_of(node: Node) -> ClusterState:
    if node.icluster is None:
        node.icluster = ClusterState()
    state: ClusterState = node.icluster
    return state


# --- set-up ----------------------------------------------------------------------------------


async def install(conn: asyncpg.Connection, node: Node) -> None:
    """Tables (kept), views (rebuilt), first rows, and recovery after a restart."""
    async with conn.transaction():
        await conn.execute(SCHEMA)
        await conn.execute(VIEWS)
        if not await conn.fetchval("SELECT 1 FROM node_info WHERE key = 'icluster_installed'"):
            # The product is installed on every node [G]: its library and subsystem exist even
            # when the config does not list them (XDMCLUSTER active, icluster.md §1).
            await conn.execute(
                "INSERT INTO libraries (name, text_description) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                PRODUCT_LIBRARY,
                "Rocket iCluster (simulated)",
            )
            await conn.execute(
                "INSERT INTO subsystems (name, library, status) VALUES ($1, $2, 'ACTIVE')"
                " ON CONFLICT DO NOTHING",
                PRODUCT_SUBSYSTEM,
                PRODUCT_LIBRARY,
            )
            await conn.execute(
                "INSERT INTO node_info (key, value) VALUES ('icluster_installed', 'yes')"
            )
        await conn.executemany(
            "INSERT INTO icluster_nodes (node, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(n.system_name, n.role) for n in node.cfg.nodes.values()],
        )
        await conn.execute(
            "INSERT INTO icluster_groups (group_name) SELECT name FROM replication_groups"
            " ON CONFLICT DO NOTHING"
        )
        # [G] After a restart (IPL-like), transitions in progress are finished and a sync
        # check that was running is gone.
        await conn.execute(
            "UPDATE icluster_groups SET status = CASE status WHEN '*STARTING' THEN '*ACTIVE'"
            " WHEN '*ENDING' THEN '*INACTIVE' ELSE status END, sync_check_active = false"
        )


def start(node: Node) -> None:
    """Start the node's background loop (after both nodes are open and ``peer`` is set)."""
    state_of(node)
    node.spawn(_run(node))


def primary_of(node: Node) -> Node:
    """The node holding group state and the journal (the PRIMARY of the pair)."""
    if node.role == "PRIMARY" or node.peer is None:
        return node
    return node.peer


def node_by_name(node: Node, name: str) -> Node | None:
    for candidate in (node, node.peer):
        if candidate is not None and candidate.system_name == name:
            return candidate
    return None


def receiver_name(group: str, sequence: int, entries_per_receiver: int) -> str:
    """[G] Journal receiver holding ``sequence``: group name (6) + 'R' + a 3-digit count."""
    number = max(sequence - 1, 0) // entries_per_receiver + 1
    return f"{group[:6]}R{number % 1000:03d}"


async def event(
    node: Node, msg_id: str, *data: object, group: str | None = None, detail: str | None = None
) -> None:
    """Write a message to ``node``'s iCluster event log (icluster.md §7).

    Fault ``event_missing`` (issue 3 item 10): the group's next completion event is lost.
    """
    if (
        group is not None
        and MESSAGES[msg_id].msg_type is MsgType.COMPLETION
        and await faults.take_either(node, "event_missing", group)
    ):
        return
    await node.pool.execute(
        "INSERT INTO icluster_event_log (node, group_name, message_id, severity, message_text,"
        " second_level_text) VALUES ($1, $2, $3, $4, $5, $6)",
        node.system_name,
        group,
        msg_id,
        MESSAGES[msg_id].severity,
        render(msg_id, *data),
        detail,
    )


async def set_node_status(node: Node, name: str, status: str) -> None:
    """Node ``name`` becomes ``status`` in both nodes' tables (the cluster view is shared)."""
    for target in (node, node.peer):
        if target is not None and target._pool is not None:
            await target.pool.execute(
                "UPDATE icluster_nodes SET status = $2, changed_at = now() WHERE node = $1",
                name,
                status,
            )


async def subsystem_active(node: Node, name: str = PRODUCT_SUBSYSTEM) -> bool:
    status = await node.pool.fetchval("SELECT status FROM subsystems WHERE name = $1", name)
    return bool(status == "ACTIVE")


async def inactive_node(node: Node) -> str | None:
    """Name of a cluster node that is not *ACTIVE (seen from ``node``), or None."""
    row = await node.pool.fetchrow(
        "SELECT node FROM icluster_nodes WHERE status <> '*ACTIVE' ORDER BY role DESC LIMIT 1"
    )
    return None if row is None else str(row["node"])


async def group_row(node: Node, group: str) -> asyncpg.Record | None:
    return await node.pool.fetchrow(
        f"SELECT {_GROUP_COLUMNS} FROM icluster_groups WHERE group_name = $1", group
    )


async def group_libraries(node: Node, group: str) -> list[str]:
    rows = await node.pool.fetch(
        "SELECT library FROM replication_group_libraries WHERE group_name = $1 ORDER BY library",
        group,
    )
    return [r["library"] for r in rows]


async def update_group(node: Node, group: str, **values: Any) -> None:
    """Set columns of a group row on ``node`` (PRIMARY); BACKUP gets it at the next tick."""
    names = list(values)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    await node.pool.execute(
        f"UPDATE icluster_groups SET {sets}, changed_at = now() WHERE group_name = $1",
        group,
        *values.values(),
    )


# --- background loop -------------------------------------------------------------------------


async def _run(node: Node) -> None:
    """Every ``replication.tick_s`` (real): node status, and on PRIMARY workload + replication."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(node.cfg.replication.tick_s)
        now = loop.time()
        nominal = (now - last) / node.cfg.time_scale
        last = now
        try:
            await _check_local_node(node)
            if node.role == "PRIMARY":
                await _workload(node, nominal)
                await _replicate(node, nominal)
                await _mirror(node)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the loop alive; the log says what went wrong
            log.exception("iCluster tick failed on %s", node.key)


async def _check_local_node(node: Node) -> None:
    """[G] A node whose XDMCLUSTER ended is *INACTIVE until DMSTRNODE/DMSTRCST starts it."""
    status = await node.pool.fetchval(
        "SELECT status FROM icluster_nodes WHERE node = $1", node.system_name
    )
    if status == ACTIVE and not await subsystem_active(node):
        await set_node_status(node, node.system_name, INACTIVE)
        await event(node, "SIM1302", node.system_name)


def _app_subsystems(node: Node) -> dict[str, set[str]]:
    """Application subsystem -> libraries its jobs lock (empty: every group library)."""
    apps: dict[str, set[str]] = {n: set() for n in node.cfg.replication.app_subsystems}
    for sbs in node.cfg.subsystems:
        if sbs.jobs:
            apps.setdefault(sbs.name, set()).update(lib for j in sbs.jobs for lib in j.locks)
    return apps


async def _workload(node: Node, nominal: float) -> None:
    """Change *FILE PF objects of the groups' libraries and journal each change [G]."""
    rep = node.cfg.replication
    state = state_of(node)
    apps = _app_subsystems(node)
    active = []
    if apps:
        rows = await node.pool.fetch(
            "SELECT name FROM subsystems WHERE status = 'ACTIVE' AND name = ANY($1::text[])",
            list(apps),
        )
        active = [r["name"] for r in rows]
    if not active or rep.workload_changes_per_s <= 0:
        state.workload_credit = 0.0
        return
    state.workload_credit += rep.workload_changes_per_s * nominal
    count = min(int(state.workload_credit), rep.workload_max_per_tick)
    state.workload_credit = min(state.workload_credit - count, 1.0)
    if count <= 0:
        return
    group_of = {
        r["library"]: r["group_name"]
        for r in await node.pool.fetch(
            "SELECT library, group_name FROM replication_group_libraries ORDER BY group_name"
        )
    }
    wanted: set[str] = set()
    for name in active:
        wanted |= apps[name] or set(group_of)
    libraries = sorted(wanted & set(group_of))
    if not libraries:
        return
    candidates = await node.pool.fetch(
        "SELECT library, name, obj_type FROM objects WHERE library = ANY($1::text[])"
        " AND obj_type = '*FILE' AND attribute = 'PF'",
        libraries,
    )
    if not candidates:
        return
    rng = state.rng
    changes = []
    for _ in range(count):
        obj = rng.choice(candidates)
        insert = rng.random() < 0.7
        delta = rng.randint(1, 20) * RECORD_BYTES if insert else 0
        changes.append((obj, "PT" if insert else "UP", delta, secrets.token_hex(8)))
    async with node.pool.acquire() as conn, conn.transaction():
        # The jobs change objects only while their subsystem is still ACTIVE, checked under a
        # row lock: ENDSBS (ENDING, then INACTIVE) waits for this tick to commit, so once a
        # subsystem reads INACTIVE no change of its jobs can still arrive (ibmi.md §7: an
        # ended subsystem has no jobs left that could write).
        still = await conn.fetch(
            "SELECT name FROM subsystems WHERE status = 'ACTIVE' AND name = ANY($1::text[])"
            " FOR SHARE",
            active,
        )
        if not still:
            return
        by_group: dict[str, list[Any]] = {}
        for change in changes:
            by_group.setdefault(group_of[change[0]["library"]], []).append(change)
        entries = []
        for group, items in sorted(by_group.items()):
            end = await conn.fetchval(
                "UPDATE icluster_groups SET last_sequence = last_sequence + $2"
                " WHERE group_name = $1 RETURNING last_sequence",
                group,
                len(items),
            )
            if end is None:
                continue
            first = int(end) - len(items) + 1
            for offset, (obj, kind, delta, token) in enumerate(items):
                seq = first + offset
                entries.append(
                    (
                        group,
                        seq,
                        receiver_name(group, seq, rep.receiver_entries),
                        obj["library"],
                        obj["name"],
                        obj["obj_type"],
                        kind,
                        delta,
                        token,
                    )
                )
        await conn.executemany(
            "INSERT INTO icluster_journal (group_name, sequence, receiver, library, object_name,"
            " obj_type, entry_type, size_delta, token) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            entries,
        )
        await conn.executemany(CHANGE_OBJECT, [(e[3], e[4], e[5], e[7], e[8]) for e in entries])


async def _replicate(node: Node, nominal: float) -> None:
    """Send and apply entries of *ACTIVE/*ENDING groups; refresh latency figures.

    Cheap when nothing moves: one read of every group, work only for groups with entries to
    send or apply, and one statement for every group's latency.
    """
    state = state_of(node)
    peer = node.peer if node.peer is not None and await inactive_node(node) is None else None
    if peer is not None:
        moving = await node.pool.fetch(
            "SELECT group_name FROM icluster_groups WHERE status IN ('*ACTIVE', '*ENDING')"
            " AND last_sequence > applied_sequence"
        )
        for row in moving:
            async with state.lock(row["group_name"]):
                await _replicate_group(node, peer, row["group_name"], nominal)
    # Latency in real seconds: source = age of the oldest entry not sent, apply = age of the
    # oldest entry sent and not applied (0 when there is none).
    await node.pool.execute(
        "UPDATE icluster_groups AS g SET"
        " source_latency_s = coalesce((SELECT extract(epoch FROM clock_timestamp() - j.entry_ts)"
        "   FROM icluster_journal j WHERE j.group_name = g.group_name"
        "   AND j.sequence = g.sent_sequence + 1), 0),"
        " apply_latency_s = CASE WHEN g.sent_sequence > g.applied_sequence THEN"
        "   coalesce((SELECT extract(epoch FROM clock_timestamp() - j.entry_ts)"
        "   FROM icluster_journal j WHERE j.group_name = g.group_name"
        "   AND j.sequence = g.applied_sequence + 1), 0) ELSE 0 END"
    )


async def _replicate_group(node: Node, peer: Node, name: str, nominal: float) -> None:
    """Send, then apply, what the rates allow for one group (caller holds its lock)."""
    rep = node.cfg.replication
    state = state_of(node)
    g = await group_row(node, name)
    if g is None or g["status"] not in (ACTIVE, ENDING):
        return
    last, sent, applied = g["last_sequence"], g["sent_sequence"], g["applied_sequence"]
    credit = state.send_credit.get(name, 0.0) + rep.send_entries_per_s * nominal
    moved = max(min(int(credit), last - sent), 0)
    sent += moved
    state.send_credit[name] = credit - moved if sent < last else min(credit - moved, 1.0)
    if g["apply_enabled"] and not g["apply_frozen"]:
        credit = state.apply_credit.get(name, 0.0) + rep.apply_entries_per_s * nominal
        todo = min(int(credit), sent - applied, rep.apply_max_per_tick)
        if todo > 0:
            applied = await _apply(node, peer, name, applied, todo)
            credit -= todo
        state.apply_credit[name] = credit if sent > applied else min(credit, 1.0)
    await node.pool.execute(
        "UPDATE icluster_groups SET sent_sequence = $2, applied_sequence = $3"
        " WHERE group_name = $1",
        name,
        sent,
        applied,
    )


async def _apply(node: Node, peer: Node, group: str, applied: int, count: int) -> int:
    """Replay entries ``applied+1 .. applied+count`` on BACKUP; return the new applied sequence.

    The caller holds the group's lock. [G] An entry for an object missing on BACKUP is skipped
    (iCluster would suspend the object).
    """
    rows = await node.pool.fetch(
        "SELECT sequence, library, object_name, obj_type, size_delta, token"
        " FROM icluster_journal WHERE group_name = $1 AND sequence > $2"
        " ORDER BY sequence LIMIT $3",
        group,
        applied,
        count,
    )
    if not rows:
        return applied
    async with peer.pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            CHANGE_OBJECT,
            [
                (r["library"], r["object_name"], r["obj_type"], r["size_delta"], r["token"])
                for r in rows
            ],
        )
    return int(rows[-1]["sequence"])


async def _mirror(node: Node) -> None:
    """Copy PRIMARY's group rows to BACKUP, so BACKUP serves GROUP_STATUS/GROUP_LATENCY too."""
    peer = node.peer
    if peer is None or peer._pool is None:
        return
    rows = await node.pool.fetch(f"SELECT {_GROUP_COLUMNS} FROM icluster_groups")
    columns = [c.strip() for c in _GROUP_COLUMNS.split(",")]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    await peer.pool.executemany(
        f"INSERT INTO icluster_groups ({_GROUP_COLUMNS}) VALUES ({placeholders})"
        f" ON CONFLICT (group_name) DO UPDATE SET {updates}",
        [tuple(r.values()) for r in rows],
    )


# --- DMMRKPOS ---------------------------------------------------------------------------------


async def mark_duration(node: Node, group: str) -> float:
    """Nominal seconds DMMRKPOS takes for ``group`` on ``node`` (config ``icluster``) [G]."""
    ic = node.cfg.icluster
    libraries = await group_libraries(node, group)
    row = await node.pool.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS bytes FROM objects"
        " WHERE library = ANY($1::text[])",
        libraries,
    )
    locks = await node.pool.fetchval(
        "SELECT count(*) FROM ibm_catalog_data.object_locks l JOIN jobs j"
        " ON j.job_number = l.job_number WHERE j.status = '*ACTIVE'"
        " AND l.library = ANY($1::text[])",
        libraries,
    )
    return mark_seconds(ic, int(row["n"]), int(row["bytes"]), int(locks or 0))


def mark_seconds(ic: ICluster, objects: int, data_bytes: int, locks: int) -> float:
    """Nominal DMMRKPOS duration: grows with objects, data and locks held (runbook a.) [G]."""
    return (
        ic.mark_base_s
        + ic.mark_per_object_s * objects
        + data_bytes / 1e6 / ic.mark_mb_per_s
        + ic.mark_per_lock_s * locks
    )


async def run_mark(node: Node, group: str, nominal_seconds: float) -> None:
    """The background part of DMMRKPOS: wait, record the journal end, write SIM1001/SIM1002."""
    job = await node.new_job(
        user=PRODUCT_USER,
        name="DMMRKPOS",
        job_type="BCH",
        subsystem=PRODUCT_SUBSYSTEM,
        command=f"DMMRKPOS GROUP({group})",
    )
    try:
        await asyncio.sleep(node.cfg.scaled(nominal_seconds))
        slow = await faults.take_either(node, "mark_slow", group)
        if slow is not None:  # fault mark_slow: completion delayed by `seconds` (real)
            await asyncio.sleep(faults.delay_of(slow))
        if await faults.take_either(node, "mark_fails", group):
            # fault mark_fails: SIM1002 instead of SIM1001, no position recorded [G reason]
            await event(node, "SIM1002", group, "journal receiver not available", group=group)
            return
        down = await inactive_node(node)
        if down is not None or not await subsystem_active(node):
            await event(
                node, "SIM1002", group, f"node {down or node.system_name} not active", group=group
            )
            return
        async with node.pool.acquire() as conn, conn.transaction():
            last = await conn.fetchval(
                "SELECT last_sequence FROM icluster_groups WHERE group_name = $1 FOR UPDATE",
                group,
            )
            seq = int(last or 0)
            receiver = receiver_name(group, seq, node.cfg.replication.receiver_entries)
            await conn.execute(
                "UPDATE icluster_groups SET marked_receiver = $2, marked_sequence = $3,"
                " marked_at = now(), changed_at = now() WHERE group_name = $1",
                group,
                receiver,
                seq,
            )
        await event(node, "SIM1001", group, receiver, seq, group=group)
    finally:
        await node.end_job(job, None)


# --- DMSTRGRP / DMENDGRP ----------------------------------------------------------------------


async def finish_start(node: Node, group: str, receiver: str, sequence: int) -> None:
    await asyncio.sleep(node.cfg.scaled(node.cfg.icluster.group_start_s))
    await update_group(node, group, status=ACTIVE)
    await event(node, "SIM1101", group, receiver, sequence, group=group)


async def finish_end(node: Node, group: str, controlled: bool, delay_nominal: float) -> None:
    """*CNTRLD: apply drains the backlog for up to DELAY; then the group is *INACTIVE."""
    ic = node.cfg.icluster
    loop = asyncio.get_running_loop()
    await asyncio.sleep(node.cfg.scaled(ic.group_end_s))
    if controlled:
        deadline = loop.time() + node.cfg.scaled(delay_nominal)
        while loop.time() < deadline:
            row = await group_row(node, group)
            if row is None or row["applied_sequence"] >= row["last_sequence"]:
                break
            await asyncio.sleep(node.cfg.replication.tick_s)
    row = await group_row(node, group)
    await update_group(node, group, status=INACTIVE)
    await event(node, "SIM1102", group, row["applied_sequence"] if row else 0, group=group)


# --- DMSTRSC ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    library: str
    name: str
    obj_type: str
    reason: str  # MIS missing on BACKUP, OBS only on BACKUP, ATR attributes, DTA data, AUT


@dataclass
class SyncResult:
    differences: list[Difference]
    repaired: int
    compared: int


async def _snapshot(
    conn: asyncpg.Connection, libraries: list[str], ifs_paths: list[str], dlo_folders: list[str]
) -> tuple[
    dict[tuple[str, str, str], asyncpg.Record], dict[tuple[str, str, str], set[tuple[str, str]]]
]:
    """Objects of a group's scope keyed (library, name, type); IFS objects as ('*IFS', path,
    type) and QDLS objects as ('*QDLS', folder/name, type); plus private authorities."""
    objects = {
        (r["library"], r["name"], r["obj_type"]): r
        for r in await conn.fetch(
            "SELECT library, name, obj_type, attribute, size_bytes, content_hash, owner"
            " FROM objects WHERE library = ANY($1::text[])",
            libraries,
        )
    }
    for r in await conn.fetch("SELECT name FROM libraries WHERE name = ANY($1::text[])", libraries):
        objects[("QSYS", r["name"], "*LIB")] = r
    if ifs_paths:
        for r in await conn.fetch(
            "SELECT '*IFS' AS library, path AS name, obj_type, '' AS attribute, size_bytes,"
            " content_hash, owner FROM ifs_objects WHERE path = ANY($1::text[])"
            " OR EXISTS (SELECT 1 FROM unnest($1::text[]) AS p(dir)"
            "            WHERE ifs_objects.path LIKE p.dir || '/%')",
            ifs_paths,
        ):
            objects[("*IFS", r["name"], r["obj_type"])] = r
    if dlo_folders:
        for r in await conn.fetch(
            "SELECT '*QDLS' AS library, ltrim(folder || '/' || name, '/') AS name, obj_type,"
            " '' AS attribute, size_bytes, content_hash, owner FROM dlo_objects"
            " WHERE (folder = '' AND name = ANY($1::text[])) OR folder = ANY($1::text[])"
            " OR EXISTS (SELECT 1 FROM unnest($1::text[]) AS f(dir)"
            "            WHERE dlo_objects.folder LIKE f.dir || '/%')",
            dlo_folders,
        ):
            objects[("*QDLS", r["name"], r["obj_type"])] = r
    auths: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
    for r in await conn.fetch(
        "SELECT library, object_name, obj_type, user_profile, authority FROM authorities"
        " WHERE library = ANY($1::text[])"
        " OR (library = 'QSYS' AND obj_type = '*LIB' AND object_name = ANY($1::text[]))",
        libraries,
    ):
        key = (r["library"], r["object_name"], r["obj_type"])
        auths.setdefault(key, set()).add((r["user_profile"], r["authority"]))
    return objects, auths


def _differs(p: Any, b: Any, attrs: bool, checks_data: bool) -> str | None:
    if attrs and (p["attribute"], p["size_bytes"], p["owner"]) != (
        b["attribute"],
        b["size_bytes"],
        b["owner"],
    ):
        return "ATR"
    data = p["obj_type"] in ("*FILE", "*STMF", "*DOC")
    if checks_data and data and p["content_hash"] != b["content_hash"]:
        return "DTA"
    return None


async def compare_group(
    primary: Node,
    backup: Node,
    group: str,
    sctype: str,
    repair: Iterable[str],
    activate: bool,
) -> SyncResult:
    """Compare the group's libraries between the nodes; repair what ``repair`` names [G].

    *OBJATTR: presence, attribute, size, owner, private authorities; objects only on BACKUP
    too when ``icluster.objattr_reports_obsolete``. *FILEATTR: the same for *FILE only.
    *FULL: both, plus obsolete objects. *CHKOBSLETE: obsolete objects only. *CHECKSUM/*CHKSUM:
    *FILE data (content hash). On an active group, objects with journal entries not yet applied
    are in transit, not out of sync [G].
    """
    ic = primary.cfg.icluster
    repair = set(repair)
    libraries = await group_libraries(primary, group)
    seed = next((g for g in primary.cfg.replication_groups if g.name == group), None)
    ifs_paths = list(seed.ifs_paths) if seed else []
    dlo_folders = [f.upper() for f in seed.dlo_folders] if seed else []
    attrs = sctype in ("*OBJATTR", "*FULL", "*FILEATTR")
    files_only = sctype == "*FILEATTR"
    checks_data = sctype in ("*CHECKSUM", "*CHKSUM")
    obsolete = sctype in ("*FULL", "*CHKOBSLETE") or (
        sctype == "*OBJATTR" and ic.objattr_reports_obsolete
    )
    presence = sctype != "*CHKOBSLETE"
    async with state_of(primary).lock(group):
        async with primary.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            g = await conn.fetchrow(
                "SELECT status, applied_sequence FROM icluster_groups WHERE group_name = $1",
                group,
            )
            in_transit: set[tuple[str, str, str]] = set()
            if g is not None and g["status"] in (ACTIVE, ENDING, STARTING):
                in_transit = {
                    (r["library"], r["object_name"], r["obj_type"])
                    for r in await conn.fetch(
                        "SELECT DISTINCT library, object_name, obj_type FROM icluster_journal"
                        " WHERE group_name = $1 AND sequence > $2",
                        group,
                        g["applied_sequence"],
                    )
                }
            p_objs, p_auth = await _snapshot(conn, libraries, ifs_paths, dlo_folders)
        async with backup.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            b_objs, b_auth = await _snapshot(conn, libraries, ifs_paths, dlo_folders)
    differences: list[Difference] = []
    auth_fixes: list[tuple[tuple[str, str, str], set[tuple[str, str]]]] = []
    refresh: list[Any] = []
    for key, p in sorted(p_objs.items()):
        if files_only and key[2] != "*FILE":
            continue
        b = b_objs.get(key)
        if b is None:
            if presence and key not in in_transit:
                differences.append(Difference(*key, "MIS"))
                if key[2] != "*LIB":
                    refresh.append(p)
            continue
        if key[2] != "*LIB" and key not in in_transit:
            reason = _differs(p, b, attrs, checks_data)
            if reason is not None:
                differences.append(Difference(*key, reason))
                refresh.append(p)
                continue
        if attrs and not files_only and p_auth.get(key, set()) != b_auth.get(key, set()):
            if repair & {"*AUTH", "*ALL"}:
                auth_fixes.append((key, p_auth.get(key, set())))
            else:
                differences.append(Difference(*key, "AUT"))
    if obsolete:
        for key in sorted(set(b_objs) - set(p_objs)):
            if not (files_only and key[2] != "*FILE"):
                differences.append(Difference(*key, "OBS"))
    if auth_fixes:
        async with backup.pool.acquire() as conn, conn.transaction():
            for key, grants in auth_fixes:
                await conn.execute(
                    "DELETE FROM authorities WHERE library = $1 AND object_name = $2"
                    " AND obj_type = $3",
                    *key,
                )
                await conn.executemany(
                    "INSERT INTO authorities (library, object_name, obj_type, user_profile,"
                    " authority) VALUES ($1, $2, $3, $4, $5)",
                    [(*key, user, aut) for user, aut in sorted(grants)],
                )
    if activate and refresh:
        await _activate(backup, refresh)
    return SyncResult(differences, len(auth_fixes), len(p_objs))


async def _activate(backup: Node, rows: list[Any]) -> None:
    """ACTOOS(*YES) [G]: send PRIMARY's version of each out-of-sync object to BACKUP."""
    async with backup.pool.acquire() as conn, conn.transaction():
        libs = {r["name"] for r in await conn.fetch("SELECT name FROM libraries")}
        await conn.executemany(
            "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, content_hash,"
            " owner) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (library, name, obj_type)"
            " DO UPDATE SET attribute = $4, size_bytes = $5, content_hash = $6, owner = $7,"
            " changed_at = now()",
            [
                (
                    r["library"],
                    r["name"],
                    r["obj_type"],
                    r["attribute"],
                    r["size_bytes"],
                    r["content_hash"],
                    r["owner"],
                )
                for r in rows
                if r["library"] in libs
            ],
        )


async def run_sync_check(
    node: Node, group: str, sctype: str, repair: list[str], activate: bool
) -> None:
    """The background part of DMSTRSC: wait, compare, repair, SIM1201 or SIM1202."""
    ic = node.cfg.icluster
    job = await node.new_job(
        user=PRODUCT_USER,
        name="DMSTRSC",
        job_type="BCH",
        subsystem=PRODUCT_SUBSYSTEM,
        command=f"DMSTRSC GROUP({group}) SCTYPE({sctype})",
    )
    try:
        libraries = await group_libraries(node, group)
        count = await node.pool.fetchval(
            "SELECT count(*) FROM objects WHERE library = ANY($1::text[])", libraries
        )
        await asyncio.sleep(
            node.cfg.scaled(ic.sync_check_base_s + ic.sync_check_per_object_s * int(count or 0))
        )
        down = await inactive_node(node)
        if node.peer is None or down is not None:
            await event(node, "SIM1202", group, sctype, f"node {down} not active", group=group)
            return
        result = await compare_group(node, node.peer, group, sctype, repair, activate)
        shown = result.differences[:100]
        detail = "\n".join(
            f"{d.name if d.library.startswith('*') else d.library + '/' + d.name}"
            f" {d.obj_type} {d.reason}"
            for d in shown
        )
        if len(result.differences) > len(shown):
            detail += f"\n... {len(result.differences) - len(shown)} more"
        await update_group(node, group, last_oos_count=len(result.differences))
        await event(
            node,
            "SIM1201",
            group,
            sctype,
            len(result.differences),
            result.repaired,
            group=group,
            detail=detail or None,
        )
    except asyncio.CancelledError:
        await asyncio.shield(event(node, "SIM1202", group, sctype, "ended by ENDHASC", group=group))
        raise
    finally:
        await asyncio.shield(_sync_check_done(node, group, job))


async def _sync_check_done(node: Node, group: str, job: Any) -> None:
    await update_group(node, group, sync_check_active=False)
    await node.end_job(job, None)
