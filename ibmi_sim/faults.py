"""Fault injection (issue 3 item 10): a ``faults`` table per node, read where the fault bites.

Why a table and not a config switch: the lead's end-to-end tests run the product's Airflow DAG
against the pair in another process and must set a fault at a chosen point of a run (after the
save, before the restore, ...). A row in the node's own database is reachable from any process
(``python -m ibmi_sim fault add``, :meth:`ibmi_sim.testing.SimPair.add_fault`, plain SQL) and
the simulator reads it at the moment the fault would happen, so nothing has to be restarted.

A row is *active* while ``remaining`` (uses left; NULL = until cleared) is above 0 and
``until`` (NULL = no end) lies in the future. One-shot kinds are *consumed* (remaining - 1) when
they fire; state kinds (``unreachable``, ``apply_frozen``, ...) hold while active and are
polled by :func:`watch` (every :data:`POLL_S`). Every behaviour here is a guess about what the
real failure looks like; each is in :mod:`ibmi_sim.guesses` and the message ids in
:data:`FAULT_MESSAGES` carry their labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from ibmi_sim.messages import MESSAGES, MessageDef, MsgType

if TYPE_CHECKING:
    from ibmi_sim.jobs import Job
    from ibmi_sim.node import Node
    from ibmi_sim.pair import Pair

log = logging.getLogger(__name__)

POLL_S: Final = 0.2  # real seconds between two looks at the state faults
LOCK_HOLD_S: Final = 5.0  # real seconds a lock_on_save holder keeps its locks after the save
HOLDER_JOB: Final = "SIMLOCKER"  # [G] name of the job lock_on_save makes hold the locks
HOLDER_USER: Final = "APPUSER"
HOLDER_LOCK_STATE: Final = "*EXCL"  # stops SAVACT(*NO) and save-while-active alike [G]
STORAGE_USED_PCT: Final = 99.5  # SYSTEM_STATUS_INFO.SYSTEM_ASP_USED while out_of_storage [G]

# kind -> (what the target names, one-shot?)
KINDS: Final[dict[str, tuple[str, bool]]] = {
    "lock_on_save": ("library", True),
    "restore_fails": ("library", True),
    "corrupt_transfer": ("save file LIB/NAME", True),
    "unreachable": ("-", False),
    "drop_ssh": ("-", True),
    "answer_late": ("words of the command line", True),
    "restore_slow": ("library", True),
    "mark_slow": ("group", True),
    "mark_fails": ("group", True),
    "latency_stuck": ("group", False),
    "apply_frozen": ("group", False),
    "event_missing": ("group", True),
    "out_of_storage": ("-", False),
    "password_expired": ("-", False),
    "role_mismatch": ("-", False),
}
# Kinds whose ``count`` is a size (objects), not a number of uses: they fire once.
_COUNT_IS_SIZE: Final = {"lock_on_save", "restore_fails"}
# One-shot kinds whose ``seconds`` is a delay (real seconds), not how long the fault holds.
_SECONDS_IS_DELAY: Final = {"mark_slow", "answer_late", "restore_slow"}
DELAY_DEFAULT_S: Final = 30.0  # the delay of those kinds when a test gives no ``seconds``

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS faults (
    id         bigserial   PRIMARY KEY,
    kind       varchar(20) NOT NULL,
    target     varchar(64),
    count      integer     NOT NULL DEFAULT 1,
    seconds    double precision,
    remaining  integer,
    until      timestamptz,
    fired      integer     NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""
ACTIVE_SQL: Final = (
    "(remaining IS NULL OR remaining > 0) AND (until IS NULL OR until > clock_timestamp())"
)

# Simulator-only and IBM ids a fault sends, registered into messages.MESSAGES at import.
FAULT_MESSAGES: Final = (
    # ibmi.md §5.3/§5.4: CPF3793 is in the SAVLIB and RSTLIB escape lists [V id]; text [G]
    # "Machine storage limit reached." (§5.3 table). Also used for CRTSAVF [G].
    MessageDef(
        "CPF3793", MsgType.ESCAPE, 40, "Machine storage limit reached.", "V id, G text", "§5.3"
    ),
    # Not in ibmi.md: the real message is probably CPF22E4 (QSYGETPH, recollection); synthetic.
    MessageDef(
        "SIM2001",
        MsgType.ESCAPE,
        40,
        "Password of user profile &1 has expired; sign-on not allowed.",
        "synthetic",
        "-",
    ),
)
for _definition in FAULT_MESSAGES:
    MESSAGES.setdefault(_definition.msg_id, _definition)


@dataclass(frozen=True)
class Fault:
    """One row of ``faults``."""

    id: int
    kind: str
    target: str | None
    count: int
    seconds: float | None
    remaining: int | None
    until: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Fault:
        return cls(
            int(row["id"]),
            str(row["kind"]),
            row["target"],
            int(row["count"]),
            None if row["seconds"] is None else float(row["seconds"]),
            None if row["remaining"] is None else int(row["remaining"]),
            row["until"],
        )


def row_values(
    kind: str, target: str | None, count: int, seconds: float | None
) -> tuple[str, str | None, int, float | None, int | None, datetime | None]:
    """(kind, target, count, seconds, remaining, until) of a new fault; ValueError if bad.

    One-shot kinds get ``remaining`` = count uses (1 for the two whose count is a number of
    objects); state kinds hold until cleared, or ``seconds`` when given (``unreachable`` needs
    it; ``mark_slow``, ``answer_late`` and ``restore_slow`` use it as the delay instead).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    if count < 1:
        raise ValueError("count must be at least 1")
    if kind == "unreachable" and not seconds:
        raise ValueError("unreachable needs --seconds")
    one_shot = KINDS[kind][1]
    remaining = (1 if kind in _COUNT_IS_SIZE else count) if one_shot else None
    until = None
    if seconds and kind not in _SECONDS_IS_DELAY and not one_shot:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
    return kind, _norm(target), count, seconds, remaining, until


def _norm(target: str | None) -> str | None:
    return target.strip().upper() if target else None


INSERT_SQL: Final = (
    "INSERT INTO faults (kind, target, count, seconds, remaining, until)"
    " VALUES ({0}, {1}, {2}, {3}, {4}, {5}) RETURNING id"
)


# --- the node side (asyncpg) -------------------------------------------------------------------


async def install(conn: Any) -> None:
    """Create the table (kept across restarts: a fault set before ``up`` still applies)."""
    await conn.execute(SCHEMA)


async def peek(node: Node, kind: str, target: str | None = None) -> Fault | None:
    """The oldest active fault of ``kind`` for ``target`` (a row without target matches all)."""
    if node._pool is None:
        return None
    row = await node.pool.fetchrow(
        f"SELECT * FROM faults WHERE kind = $1 AND {ACTIVE_SQL}"
        " AND (target IS NULL OR target = $2) ORDER BY id LIMIT 1",
        kind,
        _norm(target),
    )
    return None if row is None else Fault.from_row(row)


async def take(node: Node, kind: str, target: str | None = None) -> Fault | None:
    """Consume one use of the oldest active fault of ``kind`` for ``target``; None if none."""
    if node._pool is None:
        return None
    row = await node.pool.fetchrow(
        "UPDATE faults SET remaining = CASE WHEN remaining IS NULL THEN NULL"
        " ELSE remaining - 1 END, fired = fired + 1 WHERE id = (SELECT id FROM faults"
        f" WHERE kind = $1 AND {ACTIVE_SQL} AND (target IS NULL OR target = $2)"
        " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
        kind,
        _norm(target),
    )
    if row is None:
        return None
    log.info("fault %s fired on %s (target %s)", kind, node.key, target)
    return Fault.from_row(row)


async def take_matching(node: Node, kind: str, text: str) -> Fault | None:
    """Consume one use of the oldest active fault of ``kind`` whose target words all occur in
    ``text`` (a command line; a row without target matches every one); None if none."""
    if node._pool is None:
        return None
    # Words as CL names are written: 'QSYS/SBMJOB CMD(QSYS/RSTLIB SAVLIB(X))' holds SBMJOB,
    # RSTLIB and X.
    words = set(re.findall(r"[A-Z0-9_#@$.*]+", text.upper()))
    rows = await node.pool.fetch(
        f"SELECT id, target FROM faults WHERE kind = $1 AND {ACTIVE_SQL} ORDER BY id", kind
    )
    for row in rows:
        if row["target"] is None or set(row["target"].split()) <= words:
            taken = await node.pool.fetchrow(
                "UPDATE faults SET remaining = CASE WHEN remaining IS NULL THEN NULL"
                f" ELSE remaining - 1 END, fired = fired + 1 WHERE id = $1 AND {ACTIVE_SQL}"
                " RETURNING *",
                row["id"],
            )
            if taken is not None:
                log.info("fault %s fired on %s (%s)", kind, node.key, row["target"])
                return Fault.from_row(taken)
    return None


def delay_of(fault: Fault) -> float:
    """Real seconds a delay fault (``_SECONDS_IS_DELAY``) holds its step back."""
    return fault.seconds if fault.seconds is not None else DELAY_DEFAULT_S


async def take_either(node: Node, kind: str, target: str | None = None) -> Fault | None:
    """Like :func:`take` on ``node``, then on its peer: iCluster group work runs on PRIMARY
    whichever node a test put the fault on."""
    found = await take(node, kind, target)
    if found is None and node.peer is not None:
        found = await take(node.peer, kind, target)
    return found


# --- lock_on_save --------------------------------------------------------------------------------

# node -> fault id -> (holder job, release at loop time or None while the save runs)
_HOLDERS: weakref.WeakKeyDictionary[Node, dict[int, tuple[Job, float | None]]] = (
    weakref.WeakKeyDictionary()
)


async def lock_for_save(node: Node, library: str, candidates: list[tuple[str, str]]) -> int | None:
    """Fault ``lock_on_save``: a job (SIMLOCKER, type BCH) takes *EXCL locks on the first
    ``count`` of ``candidates`` (name, type) so the save finds them in use (CPF3761 each,
    CPF3771: the partial-save path of :mod:`ibmi_sim.appjobs`). Returns the fault id to pass
    to :func:`save_ended`, or None when no fault fired."""
    fault = await take(node, "lock_on_save", library)
    if fault is None:
        return None
    job = await node.new_job(
        user=HOLDER_USER,
        name=HOLDER_JOB,
        job_type="BCH",
        subsystem="QBATCH",
        command=f"CALL PGM({HOLDER_JOB})",
    )
    await node.pool.executemany(
        "INSERT INTO ibm_catalog_data.object_locks (job_number, library, object_name,"
        " object_type, lock_state) VALUES ($1, $2, $3, $4, $5)",
        [(job.number, library, n, t, HOLDER_LOCK_STATE) for n, t in candidates[: fault.count]],
    )
    _HOLDERS.setdefault(node, {})[fault.id] = (job, None)
    return fault.id


def save_ended(node: Node, fault_id: int | None) -> None:
    """The save is over: the holder keeps its locks for :data:`LOCK_HOLD_S` more (so a query
    right after the save names the job), then :func:`watch` ends it."""
    if fault_id is None:
        return
    holders = _HOLDERS.get(node, {})
    if fault_id in holders:
        job, _ = holders[fault_id]
        holders[fault_id] = (job, asyncio.get_running_loop().time() + LOCK_HOLD_S)


async def _release_holders(node: Node, live_ids: set[int]) -> None:
    now = asyncio.get_running_loop().time()
    holders = _HOLDERS.get(node, {})
    for fault_id, (job, release_at) in list(holders.items()):
        if fault_id in live_ids and (release_at is None or release_at > now):
            continue
        del holders[fault_id]
        await node.pool.execute(
            "DELETE FROM ibm_catalog_data.object_locks WHERE job_number = $1", job.number
        )
        await node.end_job(job, None)


# --- restore_fails, corrupt_transfer, out_of_storage ---------------------------------------------


async def objects_not_restorable(
    node: Node, library: str, chosen: list[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Fault ``restore_fails``: the first ``count`` (name, type) of ``chosen`` are not restored
    (CPF3756 each, then CPF3773 with counts, ibmi.md §5.4)."""
    fault = await take(node, "restore_fails", library)
    return set() if fault is None else set(chosen[: fault.count])


def corrupt_file(path: Any) -> None:
    """Flip one byte in the middle of ``path`` (the archive checksum no longer matches)."""
    with open(path, "r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        if size == 0:
            return
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))


STORAGE_COMMANDS: Final = frozenset(
    {"RSTLIB", "RSTOBJ", "RST", "RSTDLO", "RSTUSRPRF", "RSTAUT", "CRTSAVF"}
)


# --- state faults: polled by the pair ------------------------------------------------------------


async def watch(pair: Pair) -> None:
    """Apply the state faults of both nodes every :data:`POLL_S` until cancelled."""
    unreachable_by_fault: set[str] = set()
    while True:
        await asyncio.sleep(POLL_S)
        for key, node in pair.nodes.items():
            try:
                await _watch_node(pair, key, node, unreachable_by_fault)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep watching; the log says what went wrong
                log.exception("fault watch failed on %s", key)


async def _watch_node(pair: Pair, key: str, node: Node, unreachable_by_fault: set[str]) -> None:
    if node._pool is None:
        return
    rows = await node.pool.fetch(f"SELECT * FROM faults WHERE {ACTIVE_SQL}")
    active = [Fault.from_row(r) for r in rows]
    kinds = {f.kind for f in active}
    live_ids = {f.id for f in active} | {
        int(r["id"])
        for r in await node.pool.fetch(
            "SELECT id FROM faults WHERE kind = 'lock_on_save'"
            " AND (until IS NULL OR until > clock_timestamp())"
        )
    }
    await _release_holders(node, live_ids)
    # unreachable: SSH and SQL refuse connections while active (Pair.set_reachable).
    if "unreachable" in kinds and key not in unreachable_by_fault:
        unreachable_by_fault.add(key)
        await pair.set_reachable(key, False)
    elif "unreachable" not in kinds and key in unreachable_by_fault:
        unreachable_by_fault.discard(key)
        await pair.set_reachable(key, True)
    await _storage(node, "out_of_storage" in kinds)
    if node.role == "PRIMARY":
        await _groups(node, active + await _peer_faults(node))


async def _peer_faults(node: Node) -> list[Fault]:
    peer = node.peer
    if peer is None or peer._pool is None:
        return []
    rows = await peer.pool.fetch(
        f"SELECT * FROM faults WHERE {ACTIVE_SQL} AND kind IN ('apply_frozen', 'latency_stuck')"
    )
    return [Fault.from_row(r) for r in rows]


async def _storage(node: Node, full: bool) -> None:
    """out_of_storage: SYSTEM_STATUS_INFO.SYSTEM_ASP_USED near 100 % (node_info base usage
    raised; the configured value is kept in ``fault_saved_base_used_mb`` and put back)."""
    saved = await node.pool.fetchval(
        "SELECT value FROM node_info WHERE key = 'fault_saved_base_used_mb'"
    )
    if full and saved is None:
        async with node.pool.acquire() as conn, conn.transaction():
            base = await conn.fetchval(
                "SELECT value FROM node_info WHERE key = 'system_asp_base_used_mb'"
            )
            asp = float(
                await conn.fetchval(
                    "SELECT value FROM node_info WHERE key = 'system_asp_storage_mb'"
                )
                or 0
            )
            used = float(await conn.fetchval("SELECT coalesce(sum(size_bytes), 0) FROM objects"))
            await conn.execute(
                "INSERT INTO node_info (key, value) VALUES ('fault_saved_base_used_mb', $1)",
                "" if base is None else str(base),
            )
            await conn.execute(
                "INSERT INTO node_info (key, value) VALUES ('system_asp_base_used_mb', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                str(max(asp * STORAGE_USED_PCT / 100 - used / 1e6, 0)),
            )
    elif not full and saved is not None:
        async with node.pool.acquire() as conn, conn.transaction():
            if saved == "":
                await conn.execute("DELETE FROM node_info WHERE key = 'system_asp_base_used_mb'")
            else:
                await conn.execute(
                    "UPDATE node_info SET value = $1 WHERE key = 'system_asp_base_used_mb'",
                    saved,
                )
            await conn.execute("DELETE FROM node_info WHERE key = 'fault_saved_base_used_mb'")


async def _groups(primary: Node, active: list[Fault]) -> None:
    """apply_frozen and latency_stuck on PRIMARY's group rows (mirrored to BACKUP by the
    iCluster tick): apply stops; latency and backlog show at least the floor [G]."""
    frozen = {f.target for f in active if f.kind == "apply_frozen"}
    stuck: dict[str | None, Fault] = {}
    for f in active:
        if f.kind == "latency_stuck":
            stuck.setdefault(f.target, f)
    rows = await primary.pool.fetch(
        "SELECT group_name, apply_frozen, latency_floor_s, backlog_floor FROM icluster_groups"
    )
    for r in rows:
        group = r["group_name"]
        want_frozen = group in frozen or None in frozen
        fault = stuck.get(group) or stuck.get(None)
        floor_s = float(fault.seconds or 900.0) if fault else 0.0
        floor_n = max(fault.count, 1000) if fault else 0
        if (r["apply_frozen"], float(r["latency_floor_s"]), int(r["backlog_floor"])) != (
            want_frozen,
            floor_s,
            floor_n,
        ):
            await primary.pool.execute(
                "UPDATE icluster_groups SET apply_frozen = $2, latency_floor_s = $3,"
                " backlog_floor = $4, changed_at = now() WHERE group_name = $1",
                group,
                want_frozen,
                floor_s,
                floor_n,
            )


def start(pair: Pair) -> asyncio.Task[Any]:
    """Start :func:`watch` (the pair cancels it first when it stops)."""
    return asyncio.get_running_loop().create_task(watch(pair))


async def stop(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- the client side (psycopg2: CLI, tests, end-to-end tests) ---------------------------------


def add_sync(
    conn: Any, kind: str, target: str | None = None, count: int = 1, seconds: float | None = None
) -> int:
    """Insert a fault through a DB-API connection (autocommit); return its id."""
    values = row_values(kind, target, count, seconds)
    with conn.cursor() as cur:
        cur.execute(INSERT_SQL.format(*(["%s"] * 6)), values)
        return int(cur.fetchone()[0])


def list_sync(conn: Any) -> list[dict[str, Any]]:
    """Every fault row, with ``active`` computed by the database."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, kind, target, count, seconds, remaining, until, fired, created_at,"
            f" ({ACTIVE_SQL}) AS active FROM faults ORDER BY id"
        )
        names = [d[0] for d in cur.description]
        return [
            {
                n: (v.isoformat() if isinstance(v, datetime) else v)
                for n, v in zip(names, row, strict=True)
            }
            for row in cur.fetchall()
        ]


def clear_sync(conn: Any, kind: str | None = None) -> int:
    """Delete faults (all, or one kind); the simulator undoes state faults within POLL_S."""
    with conn.cursor() as cur:
        if kind is None:
            cur.execute("DELETE FROM faults")
        else:
            cur.execute("DELETE FROM faults WHERE kind = %s", (kind,))
        return int(cur.rowcount)
