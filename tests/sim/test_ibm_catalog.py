"""IBM's SQL services in a node database: every statement the product sends, answered for real.

Each test goes the product's way, pyodbc → unixODBC → psqlODBC → SQL front → PostgreSQL, against
a throw-away node database built with the sim's own schema and seed, a few direct inserts (jobs,
job logs, save files, locks, history), and :func:`ibmi_sim.ibm_catalog.install_async`. The
statements are imported from ``ibmi_resync.sql``, so a new or changed product statement is
checked here (``test_every_catalog_statement_has_a_case`` fails until it gets a case).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pyodbc
import pytest

from ibmi_resync.sql import CATALOG, rows_as_dicts, save_outfile_query, subsystem_list_filter
from ibmi_sim import db, ibm_catalog
from ibmi_sim.config import LibrarySeed, SubsystemSeed, load_config
from ibmi_sim.odbc import connection_string
from ibmi_sim.savf import ArchivedObject, payload_length, synthetic_payload, write_archive
from ibmi_sim.seed import library_objects, seed_node
from ibmi_sim.sql_front import BackgroundFront, SqlFront

pytestmark = pytest.mark.integration

# The machine's PostgreSQL server as the simulator finds it (IBMI_SIM_SERVER_URL), seeded small.
APPLIB1 = LibrarySeed(name="APPLIB1", objects=12, data_mb=30, text="Orders")
CONFIG = load_config(None).model_copy(
    update={
        "libraries": [
            APPLIB1,
            LibrarySeed(name="SAVFLIB", objects=0, data_mb=0),
            LibrarySeed(name="RSYNCWRK", objects=0, data_mb=0),
            LibrarySeed(name="QGPL", objects=0, data_mb=0),
        ],
        "subsystems": [
            SubsystemSeed(name="QBATCH"),
            SubsystemSeed(name="QUSRWRK"),
            SubsystemSeed(name="APPSBS", library="QGPL", active_on=["primary"]),
            SubsystemSeed(name="OLDSBS", library="QGPL", active_on=[]),
        ],
    }
)
UPSTREAM = urlsplit(CONFIG.server_url)
UPSTREAM_HOST, UPSTREAM_PORT = UPSTREAM.hostname or "127.0.0.1", UPSTREAM.port or 5432
UPSTREAM_USER = UPSTREAM.username or "postgres"

APPLIB1_OBJECTS = library_objects(APPLIB1)  # what seed_node puts in APPLIB1
CURRENT = "100001/QUSER/QZDASOINIT"  # the job serving our ODBC connections (ibmi.md §7.2)
SAVED_AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

# (number, user, name, type, status, subsystem, job queue, submitted by, completion status)
JOBS = [
    (100001, "QUSER", "QZDASOINIT", "PJ", "*ACTIVE", "QUSRWRK", None, None, None),
    (100002, "APPUSER", "ORDERENTRY", "INT", "*ACTIVE", "APPSBS", None, None, None),
    (100003, "SIMUSER", "RSYNCSAV", "BCH", "*OUTQ", "QBATCH", "QGPL/QBATCH", CURRENT, "*NORMAL"),
    (100004, "SIMUSER", "RSYNCRST", "BCH", "*JOBQ", "QBATCH", "QGPL/QBATCH", CURRENT, None),
    (100005, "SIMUSER", "RSYNCSAV", "BCH", "*ACTIVE", "QBATCH", "QGPL/QBATCH", CURRENT, None),
    (100006, "QSYS", "QBATCH", "SBS", "*ACTIVE", "QBATCH", None, None, None),
]
# (job, ordinal, id, type, severity, seconds after SAVED_AT, text, second-level text); inserted
# out of order on purpose: JOBLOG_INFO must not depend on insertion order.
JOB_LOG = [
    (100003, 3, "CPF1241", "COMPLETION", 0, 3, "Job 100003/SIMUSER/RSYNCSAV completed.", None),
    (100003, 1, None, "REQUEST", 0, 1, "SAVLIB LIB(APPLIB1) DEV(*SAVF) SAVF(SAVFLIB/RSYNC1)", None),
    (100003, 2, "CPC3722", "COMPLETION", 0, 2, "12 objects saved from library APPLIB1.", "Cause"),
    (100001, 1, None, "REQUEST", 0, 4, "CALL QSYS2.QCMDEXC('CHKOBJ')", None),
]


def _archived(rows: Any) -> list[ArchivedObject]:
    return [
        ArchivedObject(
            name=r.name,
            obj_type=r.obj_type,
            attribute=r.attribute,
            size_bytes=r.size_bytes,
            version=r.version,
            content_hash=r.content_hash,
            owner="QSECOFR",
            text="",
            payload_len=payload_length(r.size_bytes, 1e-5),
        )
        for r in rows
    ]


ARCHIVED = _archived(APPLIB1_OBJECTS)
NOT_SAVED = ibm_catalog.OutfileEntry(
    "F09999", "*FILE", "PF", 4096, saved=False, message_id="CPF3771"
)


@dataclass
class Node:
    """The built node database and what the assertions need to know about it."""

    database: str
    savf_sizes: dict[str, int] = field(default_factory=dict)
    empty_record: int | None = -1


def _write_savf(path: Path) -> tuple[int, str]:
    meta = {
        "format": 1,
        "command": "SAVLIB",
        "library": "APPLIB1",
        "system": "SIMPRIM",
        "saved_at": SAVED_AT.isoformat(),
        "target_release": "V7R4M0",
    }
    payloads = (synthetic_payload(o.content_hash, o.payload_len) for o in ARCHIVED)
    size = write_archive(path, meta, ARCHIVED, payloads)
    return size, hashlib.sha256(path.read_bytes()).hexdigest()


async def _build(url: str, savf_dir: Path) -> Node:
    """Sim schema + seed, then the state the seed does not make, then the catalog."""
    node = Node(database=urlsplit(url).path.lstrip("/"))
    conn = await asyncpg.connect(url)
    try:
        await db.create_schema(conn)
        await seed_node(conn, CONFIG, "primary")
        await conn.executemany(
            "INSERT INTO node_info (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",  # the seed sets them too
            [
                ("system_asp_storage_mb", "100000"),
                ("system_asp_base_used_mb", "20000"),
                ("os_version", "7"),
                ("os_release", "5"),
            ],
        )
        await conn.executemany(
            "INSERT INTO jobs (job_number, user_name, job_name, qualified_name, job_type, status,"
            " subsystem, job_queue, submitted_by, completion_status, submitted_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())",
            [
                (n, u, j, f"{n:06d}/{u}/{j}", t, s, b, q, by, c)
                for n, u, j, t, s, b, q, by, c in JOBS
            ],
        )
        await conn.executemany(
            "INSERT INTO job_log (job_number, ordinal_position, message_id, message_type,"
            " severity, message_timestamp, message_text, second_level_text)"
            " VALUES ($1, $2, $3, $4, $5, $6::timestamptz + make_interval(secs => $7), $8, $9)",
            [(j, o, i, t, s, SAVED_AT, float(d), x, x2) for j, o, i, t, s, d, x, x2 in JOB_LOG],
        )
        await ibm_catalog.install_async(conn)  # before the inserts into its own tables
        await conn.executemany(
            "INSERT INTO ibm_catalog_data.object_locks (job_number, library, object_name,"
            " object_type, member, lock_state) VALUES ($1, 'APPLIB1', $2, $3, $4, '*SHRRD')",
            [
                (100002, "F00001", "*FILE", "F00001"),
                (100003, "P00001", "*PGM", None),  # job ended: its lock is gone
            ],
        )
        await conn.execute(
            "INSERT INTO ibm_catalog_data.history_log (message_id, message_type, severity,"
            " message_timestamp, from_user, from_job, message_text) VALUES"
            " ('CPC3705', 'COMPLETION', 0, now() - interval '3 days', 'SIMUSER', $1, 'old'),"
            " ('CPC3705', 'COMPLETION', 0, now() - interval '30 minutes', 'SIMUSER', $1,"
            "  '4 user profiles restored.'),"
            " ('CPF1164', 'COMPLETION', 0, now() - interval '20 minutes', 'QSYS', $1, 'ended'),"
            " ('CPF3775', 'ESCAPE', 40, now() - interval '10 minutes', 'SIMUSER', $1,"
            "  '1 user profile not restored.')",
            "100003/SIMUSER/RSYNCSAV",
        )
        # Save files: RSYNC1 holds APPLIB1 (save_files columns empty, as on the node the bytes
        # were copied to), EMPTY holds nothing, STALE's record no longer matches its bytes.
        for name in ("RSYNC1", "EMPTY", "STALE"):
            path = savf_dir / f"{name}.FILE"
            if name == "EMPTY":
                path.write_bytes(b"")
                size, digest = 0, hashlib.sha256(b"").hexdigest()
            else:
                size, digest = _write_savf(path)
            node.savf_sizes[name] = size
            await conn.execute(
                "INSERT INTO objects (library, name, obj_type, attribute, size_bytes,"
                " content_hash, owner) VALUES ('SAVFLIB', $1, '*FILE', 'SAVF', $2, $3, 'SIMUSER')",
                name,
                size,
                digest,
            )
            stale = name == "STALE"
            await conn.execute(
                "INSERT INTO save_files (library, name, blob_path, save_command, saved_library,"
                " objects_saved, saved_at) VALUES ('SAVFLIB', $1, $2, $3, $4, $5, $6)",
                name,
                str(path),
                "SAVLIB" if stale else None,
                "APPLIB1" if stale else None,
                5 if stale else None,
                SAVED_AT if stale else None,
            )
            recorded = await ibm_catalog.record_save_file(conn, "SAVFLIB", name, path)
            if name == "EMPTY":
                node.empty_record = recorded
        await conn.execute(  # the bytes changed after the record (e.g. an SFTP write)
            "UPDATE objects SET content_hash = repeat('0', 64)"
            " WHERE library = 'SAVFLIB' AND name = 'STALE'"
        )
        await ibm_catalog.write_save_outfile(
            conn,
            "RSYNCWRK",
            "SAVOBJOUT",
            [*ibm_catalog.outfile_entries(ARCHIVED), NOT_SAVED],
            command="SAVLIB",
            saved_library="APPLIB1",
            system_name="SIMPRIM",
            saved_at=SAVED_AT,
            save_file=("SAVFLIB", "RSYNC1"),
            target_release="V7R4M0",
        )
    finally:
        await conn.close()
    return node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    name = f"ibmi_sim_catalog_test_{uuid.uuid4().hex[:12]}"
    maintenance = CONFIG.maintenance_url()
    asyncio.run(db.ensure_database(maintenance, name, reset=False))
    try:
        yield asyncio.run(_build(CONFIG.database_url(name), tmp_path_factory.mktemp("savf")))
    finally:
        asyncio.run(db.drop_database(maintenance, name))


@pytest.fixture(scope="module")
def front(node: Node) -> Iterator[BackgroundFront]:
    front = SqlFront(UPSTREAM_HOST, UPSTREAM_PORT, database=node.database)
    with BackgroundFront(front) as running:
        yield running


@contextmanager
def _connect(
    front: BackgroundFront,
    *,
    prepare: bool = True,
    autocommit: bool = True,
    current_job: str | None = CURRENT,
) -> Iterator[pyodbc.Connection]:
    """A pyodbc connection as the node will serve it (``ibmi.current_job`` set), closed on exit.

    Closed explicitly: one left to the garbage collector can hang the front's thread
    (:class:`ibmi_sim.sql_front.BackgroundFront`).
    """
    text = connection_string(
        front.port, "postgres", user=UPSTREAM_USER, server_side_prepare=prepare
    )
    connection = pyodbc.connect(text, autocommit=autocommit, timeout=5)
    try:
        if current_job is not None:
            connection.cursor().execute(f"SET ibmi.current_job = '{current_job}'")
            connection.commit()  # SET is transactional: keep it past a later rollback
        yield connection
    finally:
        connection.close()


def _fetch(cursor: pyodbc.Cursor, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor.execute(sql, params) if params else cursor.execute(sql)
    return rows_as_dicts(cursor.description, cursor.fetchall())


PREPARE_MODES = pytest.mark.parametrize("prepare", [True, False], ids=["prepared", "inline"])

# ---------------------------------------------------------------------------------------------
# Every statement of ibmi_resync.sql.CATALOG, with example values and what must come back
# ---------------------------------------------------------------------------------------------

Check = Callable[[list[dict[str, Any]], pyodbc.Cursor, Node], None]


@dataclass(frozen=True)
class Case:
    statement: str
    label: str
    values: dict[str, Any] | Callable[[pyodbc.Cursor], dict[str, Any]]
    expect: list[dict[str, Any]] | Check


def _local(cursor: pyodbc.Cursor, moment: datetime) -> datetime:
    """``moment`` as the session's local TIMESTAMP (what IBM's TIMESTAMP columns hold)."""
    return cursor.execute(
        "SELECT CAST(? AS timestamptz)::timestamp", moment.isoformat()
    ).fetchone()[0]


def _library_objects(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    got = [(r["OBJNAME"], r["OBJTYPE"], int(r["OBJSIZE"])) for r in rows]
    assert got == sorted((o.name, o.obj_type, o.size_bytes) for o in APPLIB1_OBJECTS)
    assert all(isinstance(r["OBJSIZE"], Decimal) for r in rows)  # DECIMAL(15,0)
    assert all(isinstance(r["CHANGE_TIMESTAMP"], datetime) for r in rows)


def _savflib_summary(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    assert rows == [{"OBJECT_COUNT": 3, "LIBRARY_SIZE": sum(node.savf_sizes.values())}]


def _rsync1_summary(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    assert rows == [
        {
            "SAVE_COMMAND": "SAVLIB",
            "SAVE_TIMESTAMP": _local(cursor, SAVED_AT),
            "OBJECTS_SAVED": len(ARCHIVED),
            "TARGET_RELEASE": "V7R4M0",
        }
    ]


def _stale_summary(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    # The record no longer matches the bytes: the save_files columns answer, no release.
    assert rows == [
        {
            "SAVE_COMMAND": "SAVLIB",
            "SAVE_TIMESTAMP": _local(cursor, SAVED_AT),
            "OBJECTS_SAVED": 5,
            "TARGET_RELEASE": None,
        }
    ]


def _storage(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    total_bytes = cursor.execute("SELECT sum(size_bytes) FROM objects").fetchone()[0]
    used = round(Decimal(100) * (20000 + Decimal(total_bytes) / 1_000_000) / 100000, 2)
    assert rows == [
        {"SYSTEM_ASP_USED": used, "SYSTEM_ASP_STORAGE": 100000, "TOTAL_AUXILIARY_STORAGE": 100000}
    ]


def _history_start(cursor: pyodbc.Cursor) -> dict[str, Any]:
    start = cursor.execute("SELECT localtimestamp - interval '2 hours'").fetchone()[0]
    return {"start_time": start, "message_id_1": "CPC3705", "message_id_2": "CPF3775"}


def _history(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    assert [(r["MESSAGE_ID"], r["MESSAGE_TYPE"], r["SEVERITY"]) for r in rows] == [
        ("CPC3705", "COMPLETION", 0),
        ("CPF3775", "ESCAPE", 40),
    ]
    ordinals = [r["ORDINAL_POSITION"] for r in rows]
    assert ordinals == sorted(ordinals)
    assert rows[0]["MESSAGE_TEXT"] == "4 user profiles restored."
    assert {r["FROM_JOB"] for r in rows} == {"100003/SIMUSER/RSYNCSAV"}
    assert rows[0]["MESSAGE_TIMESTAMP"] < rows[1]["MESSAGE_TIMESTAMP"]


def _job_log(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    assert [
        (r["ORDINAL_POSITION"], r["MESSAGE_ID"], r["MESSAGE_TYPE"], r["SEVERITY"]) for r in rows
    ] == [(1, None, "REQUEST", 0), (2, "CPC3722", "COMPLETION", 0), (3, "CPF1241", "COMPLETION", 0)]
    assert rows[1]["MESSAGE_TEXT"] == "12 objects saved from library APPLIB1."
    assert rows[1]["MESSAGE_SECOND_LEVEL_TEXT"] == "Cause"
    assert rows[0]["MESSAGE_TIMESTAMP"] == _local(cursor, SAVED_AT.replace(second=8))


def _current_job_log(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    assert [(r["ORDINAL_POSITION"], r["MESSAGE_TEXT"]) for r in rows] == [
        (1, "CALL QSYS2.QCMDEXC('CHKOBJ')")
    ]


def _node_clock(rows: list[dict[str, Any]], cursor: pyodbc.Cursor, node: Node) -> None:
    # Plain PostgreSQL answers it (no catalog object): CURRENT_TIMESTAMP of the node's server,
    # read back as a datetime in the session's zone.
    server_now = cursor.execute("SELECT localtimestamp").fetchone()[0]
    assert len(rows) == 1
    assert isinstance(rows[0]["NOW"], datetime)
    assert abs((server_now - rows[0]["NOW"].replace(tzinfo=None)).total_seconds()) < 60


def _jobs(*numbers: int) -> list[dict[str, Any]]:
    """SUBSYSTEM_USER_JOBS / ACTIVE_JOBS_BY_NAME rows of the JOBS above."""
    rows = []
    for number, user, name, job_type, _, subsystem, *_ in JOBS:
        if number in numbers:
            rows.append(
                {
                    "JOB_NAME": f"{number:06d}/{user}/{name}",
                    "JOB_TYPE": job_type,
                    "JOB_STATUS": None,  # the sim has no RUN/MSGW/... status: NULL
                    "AUTHORIZATION_NAME": user,
                    "SUBSYSTEM": subsystem,
                }
            )
    return rows


CASES = [
    Case(
        "subsystem_status",
        "active-with-one-user-job",
        {"subsystem_library": "QSYS", "subsystem": "QBATCH"},
        [{"STATUS": "ACTIVE", "CURRENT_ACTIVE_JOBS": 1}],  # monitor job not counted
    ),
    Case(
        "subsystem_status",
        "application-subsystem",
        {"subsystem_library": "QGPL", "subsystem": "APPSBS"},
        [{"STATUS": "ACTIVE", "CURRENT_ACTIVE_JOBS": 1}],
    ),
    Case(
        "subsystem_status",
        "inactive",
        {"subsystem_library": "QGPL", "subsystem": "OLDSBS"},
        [{"STATUS": "INACTIVE", "CURRENT_ACTIVE_JOBS": 0}],
    ),
    Case(
        "subsystem_status",
        "no-such-subsystem",
        {"subsystem_library": "QSYS", "subsystem": "NOSBS"},
        [],
    ),
    Case(
        "subsystem_user_jobs",
        "two-subsystems",
        {"subsystem_list": subsystem_list_filter(["QBATCH", "APPSBS"])},
        _jobs(100002, 100005),  # ordered by SUBSYSTEM; SBS monitor excluded by the product
    ),
    Case(
        "current_job",
        "this-connection",
        {},
        [
            {
                "JOB_NAME": CURRENT,
                "JOB_TYPE": "PJ",
                "SUBSYSTEM": "QUSRWRK",
                "AUTHORIZATION_NAME": "QUSER",
            }
        ],
    ),
    Case(  # GET_JOB_INFO's V_ columns are CHAR on IBM i: blank-padded, as the product expects
        "job_status",
        "outq",
        {"qualified_job_name": "100003/SIMUSER/RSYNCSAV"},
        [{"V_JOB_STATUS": "*OUTQ     ", "V_ACTIVE_JOB_STATUS": None}],
    ),
    Case(
        "job_status",
        "jobq",
        {"qualified_job_name": "100004/SIMUSER/RSYNCRST"},
        [{"V_JOB_STATUS": "*JOBQ     ", "V_ACTIVE_JOB_STATUS": None}],
    ),
    Case(
        "job_status",
        "active",
        {"qualified_job_name": "100005/SIMUSER/RSYNCSAV"},
        [{"V_JOB_STATUS": "*ACTIVE   ", "V_ACTIVE_JOB_STATUS": None}],
    ),
    Case(
        "active_jobs_by_name",
        "exact",
        {"job_name": "RSYNCSAV"},
        _jobs(100005),  # 100003 of the same name has ended
    ),
    Case("active_jobs_by_name", "generic", {"job_name": "RSYNC*"}, _jobs(100005)),
    Case("active_jobs_by_name", "none", {"job_name": "NOSUCHJOB"}, []),
    Case(
        "jobs_by_name_any_status",
        "ended-and-active",
        {"job_user": "SIMUSER", "job_name": "RSYNCSAV"},
        [
            {"JOB_NAME": "100003/SIMUSER/RSYNCSAV", "JOB_STATUS": "*OUTQ", "JOB_TYPE": "BCH"},
            {"JOB_NAME": "100005/SIMUSER/RSYNCSAV", "JOB_STATUS": "*ACTIVE", "JOB_TYPE": "BCH"},
        ],
    ),
    Case(
        "jobs_by_name_any_status",
        "on-the-job-queue",
        {"job_user": "SIMUSER", "job_name": "RSYNCRST"},
        [{"JOB_NAME": "100004/SIMUSER/RSYNCRST", "JOB_STATUS": "*JOBQ", "JOB_TYPE": "BCH"}],
    ),
    Case("job_log", "batch-job", {"qualified_job_name": "100003/SIMUSER/RSYNCSAV"}, _job_log),
    Case("job_log", "current-job", {"qualified_job_name": "*"}, _current_job_log),
    Case(
        "library_summary",
        "seeded-library",
        {"library": "APPLIB1"},
        [
            {
                "OBJECT_COUNT": len(APPLIB1_OBJECTS),
                "LIBRARY_SIZE": sum(o.size_bytes for o in APPLIB1_OBJECTS),
            }
        ],
    ),
    Case("library_summary", "save-file-library", {"library": "SAVFLIB"}, _savflib_summary),
    Case(
        "library_summary",
        "empty-library",
        {"library": "QGPL"},
        [{"OBJECT_COUNT": 0, "LIBRARY_SIZE": 0}],
    ),
    Case("library_objects", "seeded-library", {"library": "APPLIB1"}, _library_objects),
    Case("library_exists", "yes", {"library": "APPLIB1"}, [{"OBJNAME": "APPLIB1"}]),
    Case("library_exists", "no", {"library": "NOSUCHLIB"}, []),
    Case(
        "library_object_locks",
        "held-by-an-active-job",
        {"library": "APPLIB1"},
        [
            {
                "SYSTEM_OBJECT_NAME": "F00001",
                "SYSTEM_TABLE_MEMBER": "F00001",
                "OBJECT_TYPE": "*FILE",
                "JOB_NAME": "100002/APPUSER/ORDERENTRY",
            }
        ],
    ),
    Case("library_object_locks", "none", {"library": "SAVFLIB"}, []),
    Case(
        "save_file_summary",
        "from-the-archive",
        {"save_file_library": "SAVFLIB", "save_file": "RSYNC1"},
        _rsync1_summary,
    ),
    Case(
        "save_file_summary",
        "empty-save-file",
        {"save_file_library": "SAVFLIB", "save_file": "EMPTY"},
        [
            {
                "SAVE_COMMAND": None,
                "SAVE_TIMESTAMP": None,
                "OBJECTS_SAVED": None,
                "TARGET_RELEASE": None,
            }
        ],
    ),
    Case(
        "save_file_summary",
        "stale-record",
        {"save_file_library": "SAVFLIB", "save_file": "STALE"},
        _stale_summary,
    ),
    Case(
        "save_file_objects",
        "from-the-archive",
        {"save_file_library": "SAVFLIB", "save_file": "RSYNC1"},
        [
            {
                "LIBRARY_NAME": "APPLIB1",
                "OBJECT_NAME": o.name,
                "OBJECT_TYPE": o.obj_type,
                "OBJECT_ATTRIBUTE": o.attribute,
            }
            for o in sorted(ARCHIVED, key=lambda o: (o.name, o.obj_type))
        ],
    ),
    Case(
        "save_file_objects",
        "stale-record",
        {"save_file_library": "SAVFLIB", "save_file": "STALE"},
        [],
    ),
    Case(
        "user_profile_status",
        "exists",
        {"user_profile": "SIMUSER"},
        [{"AUTHORIZATION_NAME": "SIMUSER", "STATUS": "*ENABLED"}],
    ),
    Case("user_profile_status", "absent", {"user_profile": "NOBODY"}, []),
    Case("system_storage", "from-node-info", {}, _storage),
    Case("os_release", "from-node-info", {}, [{"OS_VERSION": "7", "OS_RELEASE": "5"}]),
    Case("history_log_messages", "rstusrprf", _history_start, _history),
    Case("node_clock", "server-time", {}, _node_clock),
]


def test_every_catalog_statement_has_a_case() -> None:
    assert {case.statement for case in CASES} == set(CATALOG)


@PREPARE_MODES
@pytest.mark.parametrize("case", CASES, ids=[f"{c.statement}-{c.label}" for c in CASES])
def test_catalog_statement(front: BackgroundFront, node: Node, prepare: bool, case: Case) -> None:
    statement = CATALOG[case.statement]
    with _connect(front, prepare=prepare) as cn:
        cursor = cn.cursor()
        values = case.values(cursor) if callable(case.values) else case.values
        rows = _fetch(cursor, statement.text, statement.bind(**values))
        assert [d[0] for d in cursor.description] == [c.lower() for c in statement.columns]
        if callable(case.expect):
            case.expect(rows, cursor, node)
        else:
            assert rows == case.expect


# ---------------------------------------------------------------------------------------------
# The save's OUTPUT(*OUTFILE) (model QASAVOBJ)
# ---------------------------------------------------------------------------------------------


@PREPARE_MODES
def test_save_outfile_with_qasavobj_names(front: BackgroundFront, prepare: bool) -> None:
    """The product's outfile query reads one row per object, blank-padded CHAR fields."""
    text = save_outfile_query("RSYNCWRK", "SAVOBJOUT").text
    with _connect(front, prepare=prepare) as cn:
        rows = _fetch(cn.cursor(), text)
    expected = sorted(
        [(o.name, o.obj_type, o.attribute, o.size_bytes, "1", "") for o in ARCHIVED]
        + [("F09999", "*FILE", "PF", 4096, "0", "CPF3771")]
    )
    got = [
        (
            r["SRONAM"].rstrip(),
            r["SROTYP"].rstrip(),
            r["SROATT"].rstrip(),
            int(r["SROSIZ"]),
            r["SROSTA"],
            r["SROMSG"].rstrip(),
        )
        for r in rows
    ]
    assert got == expected
    assert {r["SROLIB"] for r in rows} == {"APPLIB1   "}  # CHAR(10)


# ---------------------------------------------------------------------------------------------
# Errors where IBM i gives errors
# ---------------------------------------------------------------------------------------------


@PREPARE_MODES
@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
def test_get_job_info_of_an_unknown_job_is_an_sql_error(
    front: BackgroundFront, prepare: bool, autocommit: bool
) -> None:
    statement = CATALOG["job_status"]
    with _connect(front, prepare=prepare, autocommit=autocommit) as cn:
        cursor = cn.cursor()
        with pytest.raises(pyodbc.Error) as info:
            cursor.execute(statement.text, statement.bind(qualified_job_name="999999/NOONE/GONE"))
        assert info.value.args[0] == "38501"
        assert "CPF3C53" in str(info.value)
        assert "999999/NOONE/GONE" in str(info.value)
        if not autocommit:
            cn.rollback()
        # The connection stays usable for the next poll.
        rows = _fetch(cursor, statement.text, ("100004/SIMUSER/RSYNCRST",))
        assert rows[0]["V_JOB_STATUS"].strip() == "*JOBQ"


@pytest.mark.parametrize(
    ("sql", "value"),
    [
        (
            "SELECT V_JOB_STATUS FROM TABLE(QSYS2.GET_JOB_INFO(?, V_IGNORE_ERRORS => 'YES')) X",
            "999999/NOONE/GONE",
        ),
        (
            "SELECT OBJECT_COUNT FROM TABLE(QSYS2.LIBRARY_INFO(LIBRARY_NAME => ?,"
            " IGNORE_ERRORS => 'YES')) X",
            "NOSUCHLIB",
        ),
        (
            "SELECT MESSAGE_ID FROM TABLE(QSYS2.JOBLOG_INFO(JOB_NAME => ?,"
            " IGNORE_ERRORS => 'YES')) X",
            "999999/NOONE/GONE",
        ),
    ],
    ids=["get_job_info", "library_info", "joblog_info"],
)
def test_ignore_errors_yes_gives_no_row(front: BackgroundFront, sql: str, value: str) -> None:
    with _connect(front) as cn:
        assert cn.cursor().execute(sql, value).fetchall() == []


@pytest.mark.parametrize(
    ("sql", "value", "message_id"),
    [
        (
            "SELECT OBJECT_COUNT FROM TABLE(QSYS2.LIBRARY_INFO(LIBRARY_NAME => ?)) X",
            "NOSUCHLIB",
            "CPF2110",
        ),
        (
            "SELECT MESSAGE_ID FROM TABLE(QSYS2.JOBLOG_INFO(JOB_NAME => ?)) X",
            "999999/NOONE/GONE",
            "CPF3C53",
        ),
        (
            "SELECT OBJNAME FROM TABLE(QSYS2.OBJECT_STATISTICS(OBJECT_SCHEMA => ?,"
            " OBJTYPELIST => '*ALL')) X",
            "NOSUCHLIB",
            "CPF9810",
        ),
    ],
    ids=["library_info", "joblog_info", "object_statistics"],
)
def test_unknown_object_is_an_sql_error(
    front: BackgroundFront, sql: str, value: str, message_id: str
) -> None:
    with _connect(front) as cn, pytest.raises(pyodbc.Error) as info:
        cn.cursor().execute(sql, value)
    assert info.value.args[0] == "38501"
    assert message_id in str(info.value)


@PREPARE_MODES
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT MESSAGE_ID FROM TABLE(QSYS2.JOBLOG_INFO(JOB_NAM => ?)) X",
        "SELECT OBJECT_COUNT FROM TABLE(QSYS2.LIBRARY_INFO(LIBRARY => ?)) X",
        "SELECT JOB_NAME FROM TABLE(QSYS2.ACTIVE_JOB_INFO(JOB_NAME => ?)) X",
    ],
    ids=["joblog_info", "library_info", "active_job_info"],
)
def test_misspelt_named_argument_fails(front: BackgroundFront, prepare: bool, sql: str) -> None:
    with _connect(front, prepare=prepare) as cn, pytest.raises(pyodbc.Error) as info:
        cn.cursor().execute(sql, "X")
    assert info.value.args[0] == "42883"  # no function with that argument name
    assert "does not exist" in str(info.value)


@PREPARE_MODES
def test_table_function_queried_like_a_view_fails(front: BackgroundFront, prepare: bool) -> None:
    with _connect(front, prepare=prepare) as cn:
        cursor = cn.cursor()
        with pytest.raises(pyodbc.Error) as bare:  # no relation of that name
            cursor.execute("SELECT MESSAGE_ID FROM QSYS2.JOBLOG_INFO WHERE MESSAGE_ID = ?", "X")
        assert bare.value.args[0] == "42P01"
        with pytest.raises(pyodbc.Error) as unwrapped:  # refused by the front (ibmi.md §8)
            cursor.execute("SELECT MESSAGE_ID FROM QSYS2.JOBLOG_INFO(JOB_NAME => ?) X", "*")
        assert unwrapped.value.args[0] == "42601"
        with pytest.raises(pyodbc.Error) as view_call:  # and a view is not a function
            cursor.execute("SELECT STATUS FROM QSYS2.USER_INFO(AUTHORIZATION_NAME => ?) X", "X")
        assert view_call.value.args[0] in ("42601", "42883")


def test_current_job_needs_the_session_setting(front: BackgroundFront) -> None:
    """Without ibmi.current_job the sim cannot know the current job: an error, not 'no row'."""
    with _connect(front, current_job=None) as cn, pytest.raises(pyodbc.Error) as info:
        cn.cursor().execute(CATALOG["current_job"].text)
    assert info.value.args[0] == "55000"
    assert "ibmi.current_job" in str(info.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT JOB_NAME FROM TABLE(QSYS2.ACTIVE_JOB_INFO(DETAILED_INFO => 'EVERYTHING')) X",
        "SELECT JOB_NAME FROM TABLE(QSYS2.JOB_INFO(JOB_STATUS_FILTER => '*ENDED')) X",
        "SELECT JOB_NAME FROM TABLE(QSYS2.ACTIVE_JOB_INFO(SUBSYSTEM_LIST_FILTER => '"
        + ",".join(f"SBS{i:02d}" for i in range(26))
        + "')) X",
    ],
    ids=["detailed_info", "job_status_filter", "26-subsystems"],
)
def test_invalid_argument_value_is_an_error(front: BackgroundFront, sql: str) -> None:
    with _connect(front) as cn, pytest.raises(pyodbc.Error) as info:
        cn.cursor().execute(sql)
    assert info.value.args[0] == "22023"


# ---------------------------------------------------------------------------------------------
# Semantics beyond the product's statements
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("types", ["*FILE *PGM", "FILE,PGM", "*pgm  *file"])
def test_object_statistics_type_list(front: BackgroundFront, types: str) -> None:
    sql = (
        "SELECT OBJNAME, OBJTYPE FROM TABLE(QSYS2.OBJECT_STATISTICS(OBJECT_SCHEMA => 'APPLIB1',"
        " OBJTYPELIST => ?)) X ORDER BY OBJNAME"
    )
    with _connect(front) as cn:
        rows = [tuple(r) for r in cn.cursor().execute(sql, types).fetchall()]
    expected = sorted(
        (o.name, o.obj_type) for o in APPLIB1_OBJECTS if o.obj_type in ("*FILE", "*PGM")
    )
    assert rows == expected
    assert {t for _, t in rows} == {"*FILE", "*PGM"}


def test_object_statistics_lists_libraries_in_qsys(front: BackgroundFront) -> None:
    sql = (
        "SELECT OBJNAME, OBJTYPE, OBJLIB, OBJTEXT FROM TABLE(QSYS2.OBJECT_STATISTICS("
        "OBJECT_SCHEMA => 'QSYS', OBJTYPELIST => '*LIB')) X ORDER BY OBJNAME"
    )
    with _connect(front) as cn:
        rows = [tuple(r) for r in cn.cursor().execute(sql).fetchall()]
    assert [name for name, *_ in rows] == ["APPLIB1", "QGPL", "QSYS", "RSYNCWRK", "SAVFLIB"]
    assert {(t, lib) for _, t, lib, _ in rows} == {("*LIB", "QSYS")}
    assert ("APPLIB1", "*LIB", "QSYS", "Orders") in rows


def test_job_info_filters(front: BackgroundFront) -> None:
    sql = (
        "SELECT JOB_NAME FROM TABLE(QSYS2.JOB_INFO(JOB_STATUS_FILTER => ?,"
        " JOB_SUBMITTER_FILTER => '*JOB')) X ORDER BY JOB_NAME"
    )
    with _connect(front) as cn:
        cursor = cn.cursor()
        submitted = [r[0] for r in cursor.execute(sql, "*ALL").fetchall()]
        queued = [r[0] for r in cursor.execute(sql, "*JOBQ").fetchall()]
    assert submitted == [
        "100003/SIMUSER/RSYNCSAV",
        "100004/SIMUSER/RSYNCRST",
        "100005/SIMUSER/RSYNCSAV",
    ]
    assert queued == ["100004/SIMUSER/RSYNCRST"]


def test_active_job_info_user_filter_and_26_character_job_name(front: BackgroundFront) -> None:
    with _connect(front) as cn:
        cursor = cn.cursor()
        users = cursor.execute(
            "SELECT JOB_NAME FROM TABLE(QSYS2.ACTIVE_JOB_INFO("
            "CURRENT_USER_LIST_FILTER => 'APPUSER, QUSER')) X ORDER BY JOB_NAME"
        ).fetchall()
        by_short_form = cursor.execute(
            "SELECT V_JOB_STATUS, V_SBS_NAME FROM TABLE(QSYS2.GET_JOB_INFO(?)) X",
            "RSYNCSAV  SIMUSER   100005",
        ).fetchall()
        current = cursor.execute(
            "SELECT V_JOB_STATUS FROM TABLE(QSYS2.GET_JOB_INFO('*')) X"
        ).fetchall()
    assert [r[0] for r in users] == [CURRENT, "100002/APPUSER/ORDERENTRY"]
    assert [tuple(r) for r in by_short_form] == [("*ACTIVE   ", "QBATCH    ")]
    assert [r[0] for r in current] == ["*ACTIVE   "]


def test_columns_are_named_as_ibm_names_them_in_lower_case(front: BackgroundFront) -> None:
    with _connect(front) as cn:
        cursor = cn.cursor().execute(
            "SELECT * FROM TABLE(QSYS2.ACTIVE_JOB_INFO(JOB_NAME_FILTER => '*')) X"
        )
        names = [d[0] for d in cursor.description]
        cursor.fetchall()
    assert names[:8] == [
        "job_name",
        "job_name_short",
        "job_user",
        "job_number",
        "subsystem",
        "subsystem_library_name",
        "authorization_name",
        "job_type",
    ]
    assert "function" in names and "job_status" in names


def test_empty_save_file_has_no_record(node: Node) -> None:
    assert node.empty_record is None


def test_install_again_keeps_the_fed_data(front: BackgroundFront, node: Node) -> None:
    async def reinstall() -> None:
        conn = await asyncpg.connect(CONFIG.database_url(node.database))
        try:
            await ibm_catalog.install_async(conn)
        finally:
            await conn.close()

    asyncio.run(reinstall())
    statement = CATALOG["library_object_locks"]
    with _connect(front) as cn:
        rows = _fetch(cn.cursor(), statement.text, statement.bind(library="APPLIB1"))
    assert [r["JOB_NAME"] for r in rows] == ["100002/APPUSER/ORDERENTRY"]


def test_install_needs_the_sim_schema(node: Node) -> None:
    async def install_without_the_sim_tables() -> None:
        conn = await asyncpg.connect(CONFIG.database_url(node.database))
        try:
            await conn.execute("SET search_path = pg_catalog")  # the sim's tables out of sight
            await ibm_catalog.install_async(conn)
        finally:
            await conn.close()

    with pytest.raises(RuntimeError, match="create_schema"):
        asyncio.run(install_without_the_sim_tables())
