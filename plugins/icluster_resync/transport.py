"""Airflow's own hooks as the node client's transports: SSHHook does, OdbcHook observes.

`ibmi_resync.node.IbmiNode` talks to a `Shell` and a `Database`; this module implements both
with the providers' hooks, so connections, secrets and host keys are Airflow's business and
the domain package stays free of Airflow.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.odbc.hooks.odbc import OdbcHook
from airflow.providers.ssh.hooks.ssh import SSHHook

from ibmi_resync.node import Database, IbmiNode, SentCommand
from ibmi_resync.plan import Plan
from ibmi_resync.sql import rows_as_dicts

if TYPE_CHECKING:
    from airflow.sdk import Connection


class HostKeyNotVerified(RuntimeError):
    """An SSH connection that would accept any host key: refused (style.md, what not to copy)."""


class SshShell:
    """One SSH connection per task; each `execute` is one exec channel (one IBM i job).

    Nothing is fetched or opened until the first command: a task opens both nodes but many
    of its starts use one of them, or none (a resume whose wait was the task's last step),
    and every connection look-up is a round trip to the api-server (docs/benchmarks.md).
    """

    def __init__(
        self, ssh_conn_id: str, *, command_timeout: float | None = 600.0, node: str = ""
    ) -> None:
        self.ssh_conn_id = ssh_conn_id
        self.node = node
        self.command_timeout = command_timeout
        self._hook: SSHHook | None = None
        self._client: Any = None

    @property
    def hook(self) -> SSHHook:
        """The provider's hook, refused when its connection would accept any host key."""
        if self._hook is None:
            hook = SSHHook(ssh_conn_id=self.ssh_conn_id, cmd_timeout=self.command_timeout)
            if hook.no_host_key_check or hook.allow_host_key_change:
                raise HostKeyNotVerified(
                    f"connection {self.ssh_conn_id!r} disables host-key checking; give the "
                    "node's host key in the connection extra `host_key` instead"
                )
            self._hook = hook
        return self._hook

    @property
    def user(self) -> str | None:
        """The user profile the connection signs on as (the user of the jobs it submits)."""
        return self.hook.username

    def execute(self, line: str) -> tuple[int, str, str]:
        if self._client is None:
            hook = self.hook  # the look-up and the host-key rule raise their own errors
            try:
                self._client = hook.get_conn()
            except Exception as error:  # paramiko's own text often hides the cause: add ours
                message, refused = self._sign_on_failure(error)
                raise (SignOnRefused if refused else NodeConnectionError)(message) from error
        status, stdout, stderr = self.hook.exec_ssh_client_command(
            self._client, line, get_pty=False, environment=None, timeout=self.command_timeout
        )
        return status, _decode(stdout), _decode(stderr)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _sign_on_failure(self, error: Exception) -> tuple[str, bool]:
        """Which node refused, through which connection, and what IBM i said.

        Why: paramiko reports the last key it could not load ("encountered RSA key ...")
        rather than the refusal, while IBM i's sign-on refusal (an expired password, a
        disabled profile) comes as the SSH authentication banner. One more short
        connection reads that banner; it only runs when signing on has already failed.
        """
        hook = self.hook
        where = f"{self.node or hook.remote_host}: SSH sign-on as {hook.username} to "
        where += f"{hook.remote_host}:{hook.port} (connection {self.ssh_conn_id}) failed"
        banner = _auth_banner(
            hook.remote_host, int(hook.port or 22), hook.username or "", hook.host_key
        )
        return f"{where}: {banner or type(error).__name__ + ': ' + str(error)}", bool(banner)


def _auth_banner(host: str, port: int, user: str, host_key: Any) -> str:
    """The banner the SSH server sends when authentication starts ('' if none or down).
    The user name is sent only to the host whose key the connection names: host-key
    checking stays on here too."""
    import paramiko

    if host_key is None:
        return ""
    transport = None
    try:
        transport = paramiko.Transport((host, port))
        transport.start_client(timeout=10)
        if transport.get_remote_server_key().asbytes() != host_key.asbytes():
            return ""
        with contextlib.suppress(paramiko.SSHException):
            transport.auth_none(user)
        banner = transport.get_banner()
        return banner.decode("utf-8", "replace").strip() if banner else ""
    except (OSError, paramiko.SSHException):
        return ""
    finally:
        if transport is not None:
            transport.close()


class NodeConnectionError(ConnectionError):
    """A node could not be reached or refused to sign on; the text names node and connection."""


class SignOnRefused(NodeConnectionError):
    """The node answered and refused the sign-on, saying why (an expired password, a disabled
    profile): waiting and retrying does not change that answer, an administrator does."""


def _decode(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


class _KnownConnectionOdbcHook(OdbcHook):
    """OdbcHook over an already fetched Connection: the driver name is read from its extra
    first, and OdbcHook would otherwise look the connection up once more."""

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(odbc_conn_id=connection.conn_id, **kwargs)
        self._known = connection

    @property
    def connection(self) -> Connection:  # type: ignore[override]
        return self._known


class OdbcDatabase:
    """Read-only SQL through OdbcHook; the driver name comes from the connection's extra.

    IBM i Access ODBC keywords (SYSTEM, NAM, DBQ, CMT, TRUEAUTOCOMMIT) go in the extra too;
    OdbcHook appends every extra key to the connection string (ibmi.md §9.4). The connection
    is looked up once, at the first query (see `SshShell`).
    """

    def __init__(self, odbc_conn_id: str) -> None:
        self.odbc_conn_id = odbc_conn_id
        self._hook: OdbcHook | None = None
        self._conn: Any = None

    @property
    def hook(self) -> OdbcHook:
        if self._hook is None:
            connection = OdbcHook.get_connection(self.odbc_conn_id)
            self._hook = _KnownConnectionOdbcHook(
                connection,
                driver=connection.extra_dejson.get("driver"),
                connect_kwargs={"autocommit": True},
            )
        return self._hook

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        if self._conn is None:
            self._conn = self.hook.get_conn()
        cursor = self._conn.cursor()
        try:
            cursor.execute(text, list(params))
            return rows_as_dicts(cursor.description, cursor.fetchall())
        finally:
            cursor.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# ODBC connections the triggerer's triggers share per connection id (`SharedOdbcDatabase`).
# A poll holds one for milliseconds; four serve hundreds of waits polled every few seconds.
SHARED_CONNECTIONS = 4
SHARED_CONNECTION_AGE_S = 300.0


class SharedOdbcDatabase:
    """A `Database` whose statements run on ODBC connections shared by everyone in the process
    that uses the same connection id, at most `SHARED_CONNECTIONS` of them, each opened (and
    its Airflow connection looked up) when first needed and kept.

    Why: the triggerer polls every deferred task's wait, hundreds at 200 groups, each a
    statement of milliseconds every few seconds. A connection per wait made one IBM i
    database server job (QZDASOINIT, ibmi.md §9.3) per deferred task, and at 200 groups the
    simulated node's database refused connections beyond its limit; each look-up of the
    Airflow connection is also a request the triggerer's supervisor answers (0.6-1.4 s in a
    20-group run, docs/benchmarks.md). A statement that fails closes its connection; the next
    statement opens another (and looks the Airflow connection up again).
    """

    _pools: ClassVar[dict[str, _ConnectionPool]] = {}
    _pools_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, odbc_conn_id: str) -> None:
        self.odbc_conn_id = odbc_conn_id
        with self._pools_lock:
            pool = self._pools.get(odbc_conn_id)
            if pool is None:
                pool = self._pools[odbc_conn_id] = _ConnectionPool(odbc_conn_id)
        self._pool = pool

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        database = self._pool.take()
        try:
            rows = database.fetch(text, params)
        except Exception:
            self._pool.discard(database)
            raise
        self._pool.give_back(database)
        return rows

    def close(self) -> None:
        """Nothing: the connections outlive this user, for the next poll of any trigger."""

    @classmethod
    def close_all(cls) -> None:
        """Close the idle shared connections and forget every pool: for a process whose
        Airflow connections point at another pair from now on (the end-to-end tests start
        pairs of their own)."""
        with cls._pools_lock:
            pools, cls._pools = list(cls._pools.values()), {}
        for pool in pools:
            pool.close_idle()


class _ConnectionPool:
    """Up to `SHARED_CONNECTIONS` `OdbcDatabase`s of one connection id; a thread that finds
    them all busy waits for one (statements are short). A connection older than
    `SHARED_CONNECTION_AGE_S` is closed instead of reused, so an edited Airflow connection (a
    new host or password) is used within that time."""

    def __init__(self, odbc_conn_id: str, size: int = SHARED_CONNECTIONS) -> None:
        self.odbc_conn_id = odbc_conn_id
        self._idle: list[tuple[OdbcDatabase, float]] = []
        self._opened: dict[int, float] = {}  # id(database) -> when it was made
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    def take(self) -> OdbcDatabase:
        self._slots.acquire()
        stale = None
        with self._lock:
            if self._idle:
                database, opened = self._idle.pop()
                if time.monotonic() - opened < SHARED_CONNECTION_AGE_S:
                    return database
                stale = database
        if stale is not None:
            with contextlib.suppress(Exception):  # a close that fails must not keep the slot
                self._forget(stale)
        database = OdbcDatabase(self.odbc_conn_id)  # looked up and connected at its first query
        with self._lock:
            self._opened[id(database)] = time.monotonic()
        return database

    def give_back(self, database: OdbcDatabase) -> None:
        with self._lock:
            self._idle.append((database, self._opened.get(id(database), 0.0)))
        self._slots.release()

    def discard(self, database: OdbcDatabase) -> None:
        try:
            self._forget(database)
        finally:
            self._slots.release()

    def close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for database, _ in idle:
            self._forget(database)

    def _forget(self, database: OdbcDatabase) -> None:
        with self._lock:
            self._opened.pop(id(database), None)
        database.close()


def plan_node(
    plan: Plan,
    role: str,
    *,
    database: Database | None = None,
    dry_run: bool = False,
    journal: list[SentCommand] | None = None,
) -> IbmiNode:
    """The plan's PRIMARY or BACKUP node on its Airflow connections, nothing opened yet (the
    shell connects at its first command, the database at its first query). `database`: one
    already made, the one a trigger polls its waits on (`triggers.NodeQueryTrigger`)."""
    node = plan.primary if role == "PRIMARY" else plan.backup
    shell = SshShell(node.ssh_conn_id, node=node.name)
    return IbmiNode(
        name=node.name,
        role=node.role,
        shell=shell,
        database=database or OdbcDatabase(node.odbc_conn_id),
        profile=plan.site_profile,
        dry_run=dry_run,
        journal=journal,
        job_user=lambda: shell.user,
    )


def close_shells(nodes: Iterable[IbmiNode]) -> None:
    """Close the nodes' SSH connections; the next command opens one again."""
    for node in nodes:
        close = getattr(node.shell, "close", None)
        if close is not None:
            close()


def close_node(node: IbmiNode) -> None:
    """Close what `node` opened: its SSH connection and its database connection."""
    close_shells([node])
    close = getattr(node.database, "close", None)
    if close is not None:
        close()


@contextmanager
def open_node(
    plan: Plan, role: str, *, dry_run: bool = False, journal: list[SentCommand] | None = None
) -> Iterator[IbmiNode]:
    """The plan's PRIMARY or BACKUP node, connected through its Airflow connections."""
    node = plan_node(plan, role, dry_run=dry_run, journal=journal)
    try:
        yield node
    finally:
        close_node(node)
