"""The SQL front: DB2 for i call syntax through the real ODBC stack, and IBM i's refusals.

Most tests go through pyodbc → unixODBC → psqlODBC → the front → PostgreSQL, in both psqlODBC
prepare modes, against a throw-away database with a ``qsys2`` table function and view. The
front must serve what IBM i accepts (ibmi.md §8) and refuse what IBM i refuses.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg2
import pyodbc
import pytest

from ibmi_resync.sql import CATALOG
from ibmi_sim.config import load_config
from ibmi_sim.odbc import connection_string
from ibmi_sim.sql_front import (
    BackgroundFront,
    SqlFront,
    SqlRefused,
    rewrite_sql,
    split_statements,
)

# The machine's PostgreSQL server, as the simulator itself finds it (IBMI_SIM_SERVER_URL).
CONFIG = load_config(None)
UPSTREAM = urlsplit(CONFIG.server_url)
UPSTREAM_HOST, UPSTREAM_PORT = UPSTREAM.hostname or "127.0.0.1", UPSTREAM.port or 5432
UPSTREAM_USER = UPSTREAM.username or "postgres"

JOBLOG = (
    "SELECT MESSAGE_ID FROM TABLE(QSYS2.JOBLOG_INFO(JOB_NAME => ?)) X ORDER BY ORDINAL_POSITION"
)

SETUP = """
CREATE SCHEMA qsys2;
CREATE FUNCTION qsys2.joblog_info(job_name text)
  RETURNS TABLE(ordinal_position int, message_id text, message_text text)
  LANGUAGE sql AS $$
    SELECT * FROM (VALUES (1, 'CPF9898', 'job ' || job_name),
                          (2, 'CPC3722', 'saved')) AS v
  $$;
CREATE VIEW qsys2.subsystem_info AS
  SELECT 'QSYS'::text AS subsystem_description_library, 'QBATCH'::text AS subsystem_description,
         'ACTIVE'::text AS status;
"""


# ---------------------------------------------------------------------------------------------
# The rewrite alone
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("db2", "postgres"),
    [
        (
            "SELECT A FROM TABLE(QSYS2.JOBLOG_INFO(JOB_NAME => $1)) X",
            "SELECT A FROM QSYS2.JOBLOG_INFO(JOB_NAME => $1) X",
        ),
        (  # lower case, blanks, AS, nested parentheses and a ")" inside a literal
            "select a from table ( qsys2.joblog_info(job_name => trim(upper('a)b'))) ) as x",
            "select a from  qsys2.joblog_info(job_name => trim(upper('a)b')))  as x",
        ),
        (  # a literal that looks like the wrapper is data
            "SELECT 'TABLE(QSYS2.JOBLOG_INFO(1)) X' FROM QSYS2.SUBSYSTEM_INFO",
            "SELECT 'TABLE(QSYS2.JOBLOG_INFO(1)) X' FROM QSYS2.SUBSYSTEM_INFO",
        ),
        (  # so is a comment and a delimited identifier
            'SELECT "TABLE(" FROM T -- TABLE(QSYS2.JOBLOG_INFO(1)) X',
            'SELECT "TABLE(" FROM T -- TABLE(QSYS2.JOBLOG_INFO(1)) X',
        ),
        (  # a name in both sets is a view unwrapped and a function wrapped (ibmi.md §8)
            "SELECT * FROM QSYS2.SAVE_FILE_OBJECTS",
            "SELECT * FROM QSYS2.SAVE_FILE_OBJECTS",
        ),
        (
            "SELECT * FROM TABLE(QSYS2.SAVE_FILE_OBJECTS(SAVE_FILE => 'S')) X",
            "SELECT * FROM QSYS2.SAVE_FILE_OBJECTS(SAVE_FILE => 'S') X",
        ),
        (  # an unknown routine is unwrapped too; PostgreSQL says whether it exists
            "SELECT * FROM TABLE(ICLUSTER.GROUP_STATUS()) X, TABLE(GET_JOB_INFO(?)) Y",
            "SELECT * FROM ICLUSTER.GROUP_STATUS() X, GET_JOB_INFO(?) Y",
        ),
        (  # not a routine call: left for PostgreSQL to reject, as IBM i syntax it does not know
            "SELECT * FROM FINAL TABLE (INSERT INTO T VALUES (1))",
            "SELECT * FROM FINAL TABLE (INSERT INTO T VALUES (1))",
        ),
        ("SELECT 'it''s TABLE(' FROM T", "SELECT 'it''s TABLE(' FROM T"),
    ],
)
def test_rewrite_removes_only_the_table_wrapper(db2: str, postgres: str) -> None:
    assert rewrite_sql(db2) == postgres


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT * FROM QSYS2.JOBLOG_INFO(JOB_NAME => '*') X", "QSYS2.JOBLOG_INFO"),
        ("SELECT * FROM qsys2.active_job_info() x", "qsys2.active_job_info"),
        ("SELECT * FROM LIBRARY_INFO('APPLIB') X", "LIBRARY_INFO"),
        ("SELECT * FROM TABLE(QSYS2.SUBSYSTEM_INFO) X", "QSYS2.SUBSYSTEM_INFO"),
        ("SELECT * FROM TABLE(QSYS2.SUBSYSTEM_INFO()) X", "QSYS2.SUBSYSTEM_INFO"),
        ("SELECT * FROM TABLE(QSYS2.USER_INFO(X => 1)) X", "QSYS2.USER_INFO"),
        (  # the wrapper around one call does not excuse an unwrapped one next to it
            "SELECT * FROM TABLE(QSYS2.JOB_INFO()) A, QSYS2.JOB_INFO() B",
            "QSYS2.JOB_INFO",
        ),
    ],
)
def test_rewrite_refuses_what_ibm_i_refuses(sql: str, named: str) -> None:
    with pytest.raises(SqlRefused) as info:
        rewrite_sql(sql)
    assert info.value.sqlstate == "42601"
    assert named in info.value.message
    assert "TABLE(" in info.value.message


def test_split_statements_keeps_literals_and_rejoins_exactly() -> None:
    text = "SAVEPOINT s;SELECT ';' FROM T; "
    assert split_statements(text) == ["SAVEPOINT s", "SELECT ';' FROM T", " "]
    assert ";".join(split_statements(text)) == text


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_product_statement_is_served(name: str) -> None:
    """The product's catalog (include/ibmi_resync/sql.py) is what the front must accept."""
    text = CATALOG[name].text
    rewritten = rewrite_sql(text)
    assert rewritten == text.replace("TABLE(", "").replace(")) X", ") X")


# ---------------------------------------------------------------------------------------------
# Through pyodbc → unixODBC → psqlODBC → front → PostgreSQL
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    name = f"ibmi_sim_front_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(CONFIG.maintenance_url())
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        setup = psycopg2.connect(CONFIG.database_url(name))
        try:
            with setup, setup.cursor() as cur:  # one transaction, committed on exit
                cur.execute(SETUP)
        finally:
            setup.close()
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(scope="module")
def front(database: str) -> Iterator[BackgroundFront]:
    with BackgroundFront(SqlFront(UPSTREAM_HOST, UPSTREAM_PORT, database=database)) as running:
        yield running


@contextmanager
def _connect(
    port: int, *, prepare: bool = True, autocommit: bool = True, **extra: str
) -> Iterator[pyodbc.Connection]:
    """A pyodbc connection, closed on exit.

    Why closed explicitly (pyodbc's own ``with`` only commits): a connection left to the
    garbage collector may be finalised on the front's thread, and with a server-side prepared
    statement psqlODBC then waits there for an answer only that thread could relay (see
    :class:`BackgroundFront`).
    """
    # DATABASE is what the client asks for; the front maps every connection to its node's.
    text = connection_string(
        port, "postgres", user=UPSTREAM_USER, server_side_prepare=prepare, extra=extra
    )
    connection = pyodbc.connect(text, autocommit=autocommit, timeout=5)
    try:
        yield connection
    finally:
        connection.close()


PREPARE_MODES = pytest.mark.parametrize("prepare", [True, False], ids=["prepared", "inline"])


@pytest.mark.integration
@PREPARE_MODES
@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
def test_table_function_with_a_marker(
    front: BackgroundFront, prepare: bool, autocommit: bool
) -> None:
    with _connect(front.port, prepare=prepare, autocommit=autocommit) as cn:
        cur = cn.cursor()
        cur.execute(JOBLOG, "*")
        # PostgreSQL folds unquoted names to lower case; the product reads them case-blind.
        assert [d[0] for d in cur.description] == ["message_id"]
        assert [tuple(row) for row in cur.fetchall()] == [("CPF9898",), ("CPC3722",)]
        cur.execute("SELECT current_database()")
        assert cur.fetchone()[0].startswith("ibmi_sim_front_test_")


@pytest.mark.integration
@PREPARE_MODES
def test_nested_parentheses_and_literals_in_arguments(
    front: BackgroundFront, prepare: bool
) -> None:
    sql = (
        "SELECT MESSAGE_TEXT, 'TABLE(QSYS2.JOBLOG_INFO(''x'')) X' AS LOOKS_LIKE_SQL"
        "  FROM TABLE(QSYS2.JOBLOG_INFO(JOB_NAME => TRIM(UPPER(? || ')('))) ) X"
        " WHERE ORDINAL_POSITION = 1"
    )
    with _connect(front.port, prepare=prepare) as cn:
        row = cn.cursor().execute(sql, " 123456/qsecofr/qpadev0001").fetchone()
    assert tuple(row) == ("job 123456/QSECOFR/QPADEV0001)(", "TABLE(QSYS2.JOBLOG_INFO('x')) X")


@pytest.mark.integration
@PREPARE_MODES
def test_view_queried_as_a_view(front: BackgroundFront, prepare: bool) -> None:
    with _connect(front.port, prepare=prepare) as cn:
        cur = cn.cursor().execute(
            "SELECT SUBSYSTEM_DESCRIPTION, STATUS FROM QSYS2.SUBSYSTEM_INFO WHERE STATUS = ?",
            "ACTIVE",
        )
        assert [d[0] for d in cur.description] == ["subsystem_description", "status"]
        assert [tuple(row) for row in cur.fetchall()] == [("QBATCH", "ACTIVE")]


@pytest.mark.integration
@PREPARE_MODES
@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT MESSAGE_ID FROM QSYS2.JOBLOG_INFO(JOB_NAME => ?) X", "QSYS2.JOBLOG_INFO"),
        ("SELECT STATUS FROM TABLE(QSYS2.SUBSYSTEM_INFO) X WHERE 1 = ?", "QSYS2.SUBSYSTEM_INFO"),
    ],
    ids=["function-as-view", "view-as-function"],
)
def test_refused_like_ibm_i_and_the_connection_stays_usable(
    front: BackgroundFront, prepare: bool, autocommit: bool, sql: str, named: str
) -> None:
    with _connect(front.port, prepare=prepare, autocommit=autocommit) as cn:
        cur = cn.cursor()
        with pytest.raises(pyodbc.Error) as info:
            cur.execute(sql, "*" if "JOB_NAME" in sql else 1)
        assert info.value.args[0] == "42601"
        assert named in str(info.value)
        assert "IBM i" in str(info.value)
        assert "TABLE(" in str(info.value)
        # Same connection, same transaction: the next statement runs (DB2 keeps the unit of
        # work after a failed statement).
        assert [r[0] for r in cur.execute(JOBLOG, "*").fetchall()] == ["CPF9898", "CPC3722"]


@pytest.mark.integration
def test_ssl_request_is_declined(front: BackgroundFront) -> None:
    with _connect(front.port, SSLmode="prefer") as cn:
        assert cn.cursor().execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.integration
def test_cancel_request_reaches_the_database(front: BackgroundFront) -> None:
    """SQLCancel opens a second connection with the upstream's key; the front passes it on."""
    with _connect(front.port) as cn:
        cur = cn.cursor()
        timer = threading.Timer(0.5, cur.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(pyodbc.Error) as info:
            cur.execute("SELECT pg_sleep(30)")
        timer.join()
        assert time.monotonic() - started < 10
        assert info.value.args[0] == "57014"  # query_canceled


@pytest.mark.integration
def test_database_server_down_is_an_error_at_connect() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    node = BackgroundFront(SqlFront("127.0.0.1", dead_port, database="x"))
    with node, pytest.raises(pyodbc.Error) as info, _connect(node.port):
        pass
    assert "node database unavailable" in str(info.value)


@pytest.mark.integration
def test_unreachable_node_refuses_and_drops_connections(database: str) -> None:
    node = BackgroundFront(SqlFront(UPSTREAM_HOST, UPSTREAM_PORT, database=database))
    with node, _connect(node.port) as existing:
        port = node.port
        assert existing.cursor().execute("SELECT 1").fetchone()[0] == 1

        node.set_reachable(False)
        started = time.monotonic()
        with pytest.raises(pyodbc.Error) as info, _connect(port):
            pass
        assert time.monotonic() - started < 3  # refused at once, not the 5 s login timeout
        assert info.value.args[0] == "08001"
        assert "Connection refused" in str(info.value)
        with pytest.raises(pyodbc.Error) as dropped:
            existing.cursor().execute("SELECT 1").fetchone()
        assert dropped.value.args[0] == "08S01"  # "The connection has been lost"

        node.set_reachable(True)
        assert node.port == port
        with _connect(port) as cn:
            assert [r[0] for r in cn.cursor().execute(JOBLOG, "*").fetchall()] == [
                "CPF9898",
                "CPC3722",
            ]


# ---------------------------------------------------------------------------------------------
# The extended protocol by hand: a refused Parse, then discard up to Sync (as PostgreSQL does)
# ---------------------------------------------------------------------------------------------


def _send(sock: socket.socket, kind: bytes, body: bytes) -> None:
    sock.sendall(kind + struct.pack("!I", len(body) + 4) + body)


def _receive(sock: socket.socket) -> tuple[bytes, bytes]:
    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    header = exactly(5)
    return header[:1], exactly(struct.unpack("!I", header[1:])[0] - 4)


def _until_ready(sock: socket.socket) -> list[tuple[bytes, bytes]]:
    messages = [_receive(sock)]
    while messages[-1][0] != b"Z":
        messages.append(_receive(sock))
    return messages


@contextmanager
def _raw_session(port: int) -> Iterator[socket.socket]:
    """A hand-driven PostgreSQL v3 session through the front, started and ready."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        user = UPSTREAM_USER.encode()
        startup = struct.pack("!I", 196608) + b"user\0" + user + b"\0database\0postgres\0\0"
        sock.sendall(struct.pack("!I", len(startup) + 4) + startup)
        assert _until_ready(sock)[-1] == (b"Z", b"I")
        yield sock
        _send(sock, b"X", b"")


BAD = b"SELECT * FROM QSYS2.JOBLOG_INFO('*') X"
GOOD = b"SELECT MESSAGE_ID FROM TABLE(QSYS2.JOBLOG_INFO('*')) X ORDER BY ORDINAL_POSITION"


@pytest.mark.integration
def test_refused_simple_query_answers_like_postgresql(front: BackgroundFront) -> None:
    """ErrorResponse then ReadyForQuery, nothing else; psqlODBC's 'BEGIN;<statement>' runs
    BEGIN and refuses the statement, in order."""
    with _raw_session(front.port) as sock:
        _send(sock, b"Q", BAD + b"\0")
        assert [(kind, body[:6]) for kind, body in _until_ready(sock)] == [
            (b"E", b"SERROR"),
            (b"Z", b"I"),
        ]
        _send(sock, b"Q", b"BEGIN;" + BAD + b";SELECT 1\0")
        kinds = [(kind, body[:6]) for kind, body in _until_ready(sock)]
        assert kinds == [(b"C", b"BEGIN\0"), (b"E", b"SERROR"), (b"Z", b"T")]
        _send(sock, b"Q", b"ROLLBACK\0")
        assert _until_ready(sock)[-1] == (b"Z", b"I")


@pytest.mark.integration
def test_an_earlier_error_is_the_only_one(front: BackgroundFront) -> None:
    """PostgreSQL stops at the first failing statement; the refused one is never reached."""
    with _raw_session(front.port) as sock:
        _send(sock, b"Q", b"SELECT 1/0;" + BAD + b"\0")
        answer = _until_ready(sock)
        assert [kind for kind, _ in answer] == [b"E", b"Z"]
        assert b"C22012\0" in answer[0][1]  # division_by_zero, from PostgreSQL


@pytest.mark.integration
def test_refused_parse_after_pipelined_work_answers_in_order(front: BackgroundFront) -> None:
    with _raw_session(front.port) as sock:
        _send(sock, b"P", b"\0" + GOOD + b"\0\0\0")
        _send(sock, b"B", b"\0\0\0\0\0\0\0\0")
        _send(sock, b"E", b"\0\0\0\0\0")
        _send(sock, b"P", b"\0" + BAD + b"\0\0\0")
        _send(sock, b"S", b"")
        kinds = [kind for kind, _ in _until_ready(sock)]
        assert kinds == [b"1", b"2", b"D", b"D", b"C", b"E", b"Z"]


@pytest.mark.integration
def test_refused_parse_errors_at_once_and_discards_until_sync(front: BackgroundFront) -> None:
    with _raw_session(front.port) as sock:
        _send(sock, b"P", b"\0" + BAD + b"\0\0\0")
        _send(sock, b"B", b"\0\0\0\0\0\0\0\0")
        _send(sock, b"E", b"\0\0\0\0\0")
        _send(sock, b"H", b"")  # Flush: the error must come now, without waiting for Sync
        kind, body = _receive(sock)
        assert kind == b"E"
        assert b"C42601\0" in body
        assert b"QSYS2.JOBLOG_INFO" in body
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # no ReadyForQuery before the client's Sync
            _receive(sock)
        sock.settimeout(5)
        _send(sock, b"S", b"")
        assert _receive(sock) == (b"Z", b"I")

        _send(sock, b"Q", GOOD + b"\0")
        rows = [body for kind, body in _until_ready(sock) if kind == b"D"]
        assert [row[6:] for row in rows] == [b"CPF9898", b"CPC3722"]
