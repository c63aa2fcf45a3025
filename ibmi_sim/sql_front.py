"""A node's SQL endpoint: a PostgreSQL-protocol front that serves DB2 for i call syntax.

Why a front and not PostgreSQL directly: the product talks to IBM i through ODBC with DB2 for i
SQL (ibmi.md §8, §9), and the simulator serves it through the same path, pyodbc → unixODBC →
psqlODBC → this front → the node's PostgreSQL database (issue 3, item 5). PostgreSQL parses
almost all of that SQL already; the one construct it cannot parse is DB2's table-function
wrapper ``TABLE(QSYS2.NAME(args)) X``. The front removes that wrapper and rewrites nothing else,
so SQL that a real IBM i refuses fails here too. It refuses, as IBM i does, a table function
called view-style (without ``TABLE()``) and a view wrapped as if it were a function (ibmi.md §8:
"views are queried as FROM QSYS2.NAME; table functions must be wrapped").

Protocol (PostgreSQL v3): the front declines SSL/GSS encryption with ``N``, forwards the
StartupMessage (optionally with another database/user, so that one front maps to one node
database), then relays messages both ways unchanged except for the SQL text of simple Query
(``Q``) and Parse (``P``) messages. A refusal is answered in order with the responses to what
the client sent before it: in place of the refused message the front sends upstream the
statements of the same Query that precede the refused one (often none: an empty query) or, for
a Parse, a Sync; its ErrorResponse then goes out just before the upstream's ReadyForQuery, so
the status the client gets is the upstream's real transaction status. After a refused Parse,
client messages are discarded up to the next Sync, as PostgreSQL does after an error. The
transaction stays usable after a refusal, as DB2 (statement-level atomicity) leaves it.

A node that is "unreachable" (issue 3, item 10) closes its listening socket, so new connections
are refused, and drops the connections it has, like the node's SSH port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import struct
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final, TypeVar

_log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TABLE_FUNCTIONS",
    "DEFAULT_VIEWS",
    "BackgroundFront",
    "SqlFront",
    "SqlRefused",
    "rewrite_sql",
    "split_statements",
    "with_option",
]

# ibmi.md §8: services that are TABLE FUNCTIONS (must be called as TABLE(QSYS2.NAME(...)) X).
# SAVE_FILE_OBJECTS and MESSAGE_QUEUE_INFO are both a view and a table function (7.5+).
DEFAULT_TABLE_FUNCTIONS: Final = frozenset(
    {
        "ACTIVE_JOB_INFO",
        "ENDED_JOB_INFO",
        "GET_JOB_INFO",
        "HISTORY_LOG_INFO",
        "JOB_INFO",
        "JOBLOG_INFO",
        "LIBRARY_INFO",
        "MESSAGE_QUEUE_INFO",
        "OBJECT_STATISTICS",
        "SAVE_FILE_OBJECTS",
        "SPOOLED_FILE_DATA",
        "SPOOLED_FILE_INFO",
        "SYSTEM_STATUS",
    }
)
# ibmi.md §8: services that are VIEWS (queried as FROM QSYS2.NAME, never wrapped in TABLE()).
DEFAULT_VIEWS: Final = frozenset(
    {
        "ENV_SYS_INFO",
        "JOURNAL_INFO",
        "JOURNALED_OBJECTS",
        "MESSAGE_QUEUE_INFO",
        "OBJECT_LOCK_INFO",
        "SAVE_FILE_INFO",
        "SAVE_FILE_OBJECTS",
        "SUBSYSTEM_INFO",
        "SYSTEM_STATUS_INFO",
        "SYSTEM_STATUS_INFO_BASIC",
        "USER_INFO",
        "USER_INFO_BASIC",
    }
)

# ---------------------------------------------------------------------------------------------
# SQL text: find TABLE(name(args)) wrappers and table functions called without one
# ---------------------------------------------------------------------------------------------

# One token per match. Strings, delimited identifiers and comments are single tokens, so a
# "TABLE(" or a parenthesis inside them is data, not SQL. E'...' (backslash escapes) is what
# psqlODBC may produce when it inlines a parameter in non-prepared mode.
_TOKEN_RE: Final = re.compile(
    r"""
      (?P<space>\s+|--[^\n]*|/\*.*?\*/)
    | (?P<string>[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<word>[A-Za-z_$#@][A-Za-z0-9_$#@]*)
    | (?P<unterminated>['"]|/\*)
    | (?P<other>.)
    """,
    re.DOTALL | re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int

    @property
    def name(self) -> str | None:
        """The identifier this token names (unquoted ones fold to upper case, as in DB2)."""
        if self.kind == "word":
            return self.text.upper()
        if self.kind == "quoted":
            return self.text[1:-1].replace('""', '"')
        return None


class SqlRefused(Exception):
    """SQL that a real IBM i would not accept; becomes an ErrorResponse to the client."""

    def __init__(self, sqlstate: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.hint = hint

    def fields(self) -> tuple[str, str, str]:
        return self.sqlstate, self.message, self.hint


_HINT: Final = (
    "DB2 for i: views are queried as FROM QSYS2.NAME, table functions as "
    "FROM TABLE(QSYS2.NAME(ARG => value)) X"
)


def _tokens(text: str) -> list[_Token] | None:
    """Significant tokens of ``text``, or None when a quote or comment is not terminated."""
    found = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "other"
        if kind == "unterminated":
            return None
        if kind != "space":
            found.append(_Token(kind, match.group(), match.start(), match.end()))
    return found


def _is(tokens: list[_Token], index: int, text: str) -> bool:
    return index < len(tokens) and tokens[index].kind == "other" and tokens[index].text == text


def _qualified_name(tokens: list[_Token], index: int) -> int | None:
    """Index of the last part of a ``name[.name[.name]]`` starting at ``index``, or None."""
    if index >= len(tokens) or tokens[index].name is None:
        return None
    while _is(tokens, index + 1, ".") and index + 2 < len(tokens) and tokens[index + 2].name:
        index += 2
    return index


def _closing_paren(tokens: list[_Token], index: int) -> int | None:
    """Index of the ``)`` matching the ``(`` at ``index``, or None if it is never closed."""
    depth = 0
    for position in range(index, len(tokens)):
        if _is(tokens, position, "("):
            depth += 1
        elif _is(tokens, position, ")"):
            depth -= 1
            if depth == 0:
                return position
    return None


def split_statements(text: str) -> list[str]:
    """``text`` cut at every ``;`` outside literals and comments (``";".join`` restores it)."""
    tokens = _tokens(text)
    if tokens is None:
        return [text]
    cuts = [token.start for token in tokens if token.kind == "other" and token.text == ";"]
    bounds = [-1, *cuts, len(text)]
    return [text[start + 1 : end] for start, end in pairwise(bounds)]


def rewrite_sql(
    text: str,
    table_functions: Iterable[str] = DEFAULT_TABLE_FUNCTIONS,
    views: Iterable[str] = DEFAULT_VIEWS,
) -> str:
    """Turn DB2's ``TABLE(QSYS2.NAME(args)) X`` into ``QSYS2.NAME(args) X``; change nothing else.

    Why only that: PostgreSQL accepts everything else the product sends (named arguments
    ``ARG => value`` included), and anything rewritten beyond the wrapper could make SQL work
    here that fails on IBM i. Names are compared on their last part (the routine name), upper
    case for ordinary identifiers as DB2 folds them. A ``TABLE(`` that is not followed by a
    routine call (``TABLE(subselect)``, ``FINAL TABLE (INSERT ...)``) is left for PostgreSQL
    to reject, as most of those are not valid there either.

    :raises SqlRefused: a table function called without ``TABLE()`` or a view wrapped in
        ``TABLE()`` (ibmi.md §8; IBM i rejects both).
    """
    tokens = _tokens(text)
    if tokens is None:  # unterminated literal or comment: PostgreSQL reports it better
        return text
    functions = {name.upper() for name in table_functions}
    view_names = {name.upper() for name in views} - functions
    cuts: list[tuple[int, int]] = []  # spans of "TABLE (" and of the wrapper's ")"
    wrapped: set[int] = set()  # token index of each routine name called inside TABLE()
    for index, token in enumerate(tokens):
        if token.name != "TABLE" or token.kind != "word" or not _is(tokens, index + 1, "("):
            continue
        last = _qualified_name(tokens, index + 2)
        if last is None:
            continue
        qualified = text[tokens[index + 2].start : tokens[last].end]
        if tokens[last].name in view_names:
            raise SqlRefused(
                "42601",
                f"{qualified} is a view, not a table function: IBM i does not accept "
                f"TABLE({qualified}...); query it as FROM {qualified}",
                _HINT,
            )
        if not _is(tokens, last + 1, "("):
            continue
        close = _closing_paren(tokens, last + 1)
        if close is None or not _is(tokens, close + 1, ")"):
            continue
        wrapper_end = tokens[close + 1]
        cuts += [(token.start, tokens[index + 1].end), (wrapper_end.start, wrapper_end.end)]
        wrapped.add(last)
    for index, token in enumerate(tokens):
        if token.name in functions and index not in wrapped and _is(tokens, index + 1, "("):
            first = index
            while first >= 2 and _is(tokens, first - 1, ".") and tokens[first - 2].name:
                first -= 2
            qualified = text[tokens[first].start : token.end]
            raise SqlRefused(
                "42601",
                f"{qualified} is a table function: IBM i requires "
                f"TABLE({qualified}(...)) X to call it",
                _HINT,
            )
    for start, end in sorted(cuts, reverse=True):
        text = text[:start] + text[end:]
    return text


# ---------------------------------------------------------------------------------------------
# PostgreSQL v3 wire protocol
# ---------------------------------------------------------------------------------------------

_PROTOCOL_3: Final = 196608
_SSL_REQUEST: Final = 80877103
_GSSENC_REQUEST: Final = 80877104
_CANCEL_REQUEST: Final = 80877102


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def _error_response(sqlstate: str, message: str, hint: str = "") -> bytes:
    fields = [(b"S", "ERROR"), (b"V", "ERROR"), (b"C", sqlstate), (b"M", message)]
    if hint:
        fields.append((b"H", hint))
    body = b"".join(code + value.encode() + b"\0" for code, value in fields) + b"\0"
    return _message(b"E", body)


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One typed message: (type byte, body without the length word)."""
    header = await reader.readexactly(5)
    (length,) = struct.unpack("!I", header[1:])
    return header[:1], await reader.readexactly(length - 4)


@dataclass
class _Refusal:
    """A refused Q or P: its ErrorResponse goes to the client just before the ReadyForQuery
    that the upstream sends for the stand-in (the statements before it, or a Sync)."""

    error: bytes  # emptied if a message before it failed upstream: then it never ran
    ready: asyncio.Future[bytes] | None = None  # refused Parse: ReadyForQuery waits for Sync


class _Session:
    """One client connection relayed to one upstream connection."""

    def __init__(
        self,
        front: SqlFront,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.front = front
        self.client_reader, self.client_writer = client
        self.upstream_reader, self.upstream_writer = upstream
        # One entry per message that makes the upstream send ReadyForQuery (Q, Sync,
        # FunctionCall; the first is the end of start-up): None to relay, or a refusal.
        self.pending: deque[_Refusal | None] = deque([None])

    async def client_to_upstream(self) -> None:
        discarding: _Refusal | None = None
        while True:
            kind, body = await _read_message(self.client_reader)
            if discarding is not None:  # after a refused Parse, as PostgreSQL does after errors
                if kind == b"S":
                    assert discarding.ready is not None
                    self.client_writer.write(await discarding.ready)
                    discarding = None
                elif kind == b"X":
                    return
                continue
            refusal: _Refusal | None = None
            if kind == b"Q":
                sql, refused = self.front.rewrite_query(_text(body[:-1]))
                body = _bytes(sql) + b"\0"
                if refused is not None:  # run what came before it, then answer the error
                    refusal = _Refusal(_error_response(*refused.fields()))
            elif kind == b"P":
                name, rest = body.split(b"\0", 1)
                sql, rest = rest.split(b"\0", 1)
                try:
                    body = name + b"\0" + _bytes(self.front.rewrite(_text(sql))) + b"\0" + rest
                except SqlRefused as refused:  # a Sync stands in: its ReadyForQuery orders us
                    ready = asyncio.get_running_loop().create_future()
                    refusal = discarding = _Refusal(_error_response(*refused.fields()), ready)
                    kind, body = b"S", b""
            if kind in (b"Q", b"S", b"F"):
                self.pending.append(refusal)
            self.upstream_writer.write(_message(kind, body))
            await self.upstream_writer.drain()
            if kind == b"X":
                return

    async def upstream_to_client(self) -> None:
        while True:
            kind, body = await _read_message(self.upstream_reader)
            head = self.pending[0] if self.pending else None
            if kind == b"I" and head is not None:
                continue  # EmptyQueryResponse to an empty stand-in for a refused query
            if kind == b"E" and head is not None:
                head.error = b""  # PostgreSQL stops at the first error; ours is not reached
            if kind == b"Z":
                if self.pending:
                    self.pending.popleft()
                if head is not None:
                    self.client_writer.write(head.error)  # in order, before ReadyForQuery
                    if head.ready is not None:  # refused Parse: ReadyForQuery after client Sync
                        head.ready.set_result(_message(kind, body))
                        await self.client_writer.drain()
                        continue
            self.client_writer.write(_message(kind, body))
            await self.client_writer.drain()


def _text(data: bytes) -> str:
    """SQL text from the wire; surrogateescape keeps any byte that is not UTF-8 unchanged."""
    return data.decode(errors="surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode(errors="surrogateescape")


class SqlFront:
    """The SQL endpoint of one simulated node: listens on ``host:port``, relays to PostgreSQL.

    :param upstream_host: PostgreSQL host of the node's database server.
    :param upstream_port: its port.
    :param database: database to connect to upstream, whatever the client asked for (one front
        serves one node database); None keeps the client's DATABASE.
    :param user: upstream user to log in as, whatever the client's UID; None keeps it. With
        password authentication upstream, md5 only works when the user is kept.
    :param host: address to listen on.
    :param port: port to listen on; 0 picks a free one (read :attr:`port` after start).
    :param table_functions: routine names that are table functions (must be in TABLE()).
    :param views: names that are views (must not be in TABLE()); a name in both is both.
    :param session_opened: called once per client connection after its start-up packet; returns
        the connection's server job (``nnnnnn/USER/NAME``), which the front passes upstream as
        ``options=-c ibmi.current_job=<job>`` (:mod:`ibmi_sim.ibm_catalog` reads it).
    :param session_closed: called with that job name when the connection ends, however it ends.
    """

    def __init__(
        self,
        upstream_host: str = "127.0.0.1",
        upstream_port: int = 5432,
        *,
        database: str | None = None,
        user: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        table_functions: Iterable[str] = DEFAULT_TABLE_FUNCTIONS,
        views: Iterable[str] = DEFAULT_VIEWS,
        session_opened: Callable[[], Awaitable[str]] | None = None,
        session_closed: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.session_opened = session_opened
        self.session_closed = session_closed
        self.database = database
        self.user = user
        self.host = host
        self._port = port
        self.table_functions = frozenset(name.upper() for name in table_functions)
        self.views = frozenset(name.upper() for name in views)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.reachable = False

    @property
    def port(self) -> int:
        """The bound port (fixed at the first start, reused by :meth:`resume`)."""
        return self._port

    def rewrite(self, sql: str) -> str:
        """:func:`rewrite_sql` with this front's names."""
        return rewrite_sql(sql, self.table_functions, self.views)

    def rewrite_query(self, sql: str) -> tuple[str, SqlRefused | None]:
        """Rewrite a simple query statement by statement; stop at the first refused one.

        Why per statement: psqlODBC puts its own statements in front of the application's in
        one Query message (``BEGIN;SELECT ...``, ``SAVEPOINT _EXEC_SVP_...;SELECT ...``).
        Those still run, as they would on a server that failed at the application's statement,
        so the transaction and savepoint state the driver expects stays true.

        :return: the text to send upstream, and the refusal if a statement was refused.
        """
        done = []
        for statement in split_statements(sql):
            try:
                done.append(self.rewrite(statement))
            except SqlRefused as refused:
                return ";".join(done), refused
        return ";".join(done), None

    async def start(self) -> None:
        """Listen (on the running loop) and accept connections."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self.reachable = True

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        self.reachable = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        handlers, self._handlers = self._handlers, set()
        if handlers:  # aborted sockets end them; cancel only what is stuck elsewhere
            _, stuck = await asyncio.wait(handlers, timeout=5)
            for handler in stuck:
                handler.cancel()
        if server is not None:
            await server.wait_closed()

    async def set_reachable(self, reachable: bool) -> None:
        """Fault "node unreachable" (issue 3, item 10): refuse and drop, like its SSH port."""
        if reachable:
            await self.start()
        else:
            await self.stop()

    async def pause(self) -> None:
        """Node unreachable: new connections refused, existing ones dropped."""
        await self.set_reachable(False)

    async def resume(self) -> None:
        """Node reachable again, on the same port."""
        await self.set_reachable(True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        job: str | None = None
        try:
            startup = await self._startup(reader, writer)
            if startup is None:
                return
            if self.session_opened is not None:
                job = await self.session_opened()
                startup = with_option(startup, f"-c ibmi.current_job={job}")
            try:
                upstream = await asyncio.open_connection(*self.upstream)
            except OSError as error:
                writer.write(_error_response("08001", f"node database unavailable: {error}"))
                return
            upstream_writer = upstream[1]
            self._writers.add(upstream_writer)
            upstream_writer.write(startup)
            session = _Session(self, (reader, writer), upstream)
            tasks = [
                asyncio.ensure_future(session.client_to_upstream()),
                asyncio.ensure_future(session.upstream_to_client()),
            ]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, struct.error):
            pass  # a client or the upstream went away: close both sides
        finally:
            for side in (writer, upstream_writer):
                if side is not None:
                    self._writers.discard(side)
                    side.close()
            if job is not None and self.session_closed is not None:
                try:  # shielded: a cancelled handler (front stopping) still ends the job
                    await asyncio.shield(self.session_closed(job))
                except Exception:  # never let the bookkeeping kill the front
                    _log.exception("ending the SQL server job %s failed", job)
            self._handlers.discard(handler)  # type: ignore[arg-type]

    async def _startup(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        """Read the start-up packet; decline encryption; return the one to send upstream."""
        while True:
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            packet = await reader.readexactly(length - 4)
            (code,) = struct.unpack("!I", packet[:4])
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                # Plain TCP on loopback; libpq (inside psqlODBC) goes on unencrypted after 'N'
                # unless sslmode=require. ibmi.md §9.2: SSL is off by default on IBM i too.
                writer.write(b"N")
                continue
            if code == _CANCEL_REQUEST:  # the key is the upstream's: pass it on, then hang up
                with contextlib.suppress(OSError):
                    _, cancel_writer = await asyncio.open_connection(*self.upstream)
                    cancel_writer.write(struct.pack("!I", length) + packet)
                    await cancel_writer.drain()
                    cancel_writer.close()
                return None
            if code != _PROTOCOL_3:
                writer.write(_error_response("08P01", f"unsupported protocol {code >> 16}"))
                return None
            parts = packet[4:].split(b"\0")
            params = dict(zip(parts[0:-2:2], parts[1:-2:2], strict=True))
            if self.database is not None:
                params[b"database"] = self.database.encode()
            if self.user is not None:
                params[b"user"] = self.user.encode()
            body = struct.pack("!I", _PROTOCOL_3)
            body += b"".join(key + b"\0" + value + b"\0" for key, value in params.items()) + b"\0"
            return struct.pack("!I", len(body) + 4) + body


def with_option(startup: bytes, option: str) -> bytes:
    """The start-up packet ``startup`` with ``option`` appended to its ``options`` parameter.

    PostgreSQL splits ``options`` at blanks into command-line switches (``-c name=value``), so
    ``option`` must hold no unescaped blank; a job name never does.
    """
    parts = startup[8:].split(b"\0")
    params = dict(zip(parts[0:-2:2], parts[1:-2:2], strict=True))
    current = params.get(b"options", b"")
    params[b"options"] = (current + b" " if current else b"") + option.encode()
    body = struct.pack("!I", _PROTOCOL_3)
    body += b"".join(key + b"\0" + value + b"\0" for key, value in params.items()) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


_T = TypeVar("_T")


class BackgroundFront:
    """Run a :class:`SqlFront` on its own event loop in a daemon thread (tests, scripts).

    Why: pyodbc calls block, so a test that drives the front through the real ODBC driver
    cannot share a thread with the front's event loop. In the simulator node process the front
    runs on the node's loop instead (``await front.start()``).

    Close pyodbc connections explicitly (``with pyodbc.connect(...)`` only commits). One left
    to the garbage collector may be finalised on this thread; if it holds a server-side
    prepared statement, psqlODBC sends a Close/DEALLOCATE and waits, with the GIL held, for an
    answer only this thread could relay: the front hangs for good (seen in tests).
    """

    def __init__(self, front: SqlFront) -> None:
        self.front = front
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sql-front", daemon=True
        )

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float = 10) -> _T:
        """Run ``coro`` on the front's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> BackgroundFront:
        self._thread.start()
        self.call(self.front.start())
        return self

    def stop(self) -> None:
        self.call(self.front.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def set_reachable(self, reachable: bool) -> None:
        self.call(self.front.set_reachable(reachable))

    @property
    def port(self) -> int:
        return self.front.port

    def __enter__(self) -> BackgroundFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
