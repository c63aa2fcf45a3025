"""Airflow's own hooks as the node client's transports: SSHHook does, OdbcHook observes.

`ibmi_resync.node.IbmiNode` talks to a `Shell` and a `Database`; this module implements both
with the providers' hooks, so connections, secrets and host keys are Airflow's business and
the domain package stays free of Airflow.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.providers.odbc.hooks.odbc import OdbcHook
from airflow.providers.ssh.hooks.ssh import SSHHook

from ibmi_resync.node import IbmiNode, SentCommand
from ibmi_resync.plan import Plan
from ibmi_resync.sql import rows_as_dicts

if TYPE_CHECKING:
    from airflow.sdk import Connection


class HostKeyNotVerified(RuntimeError):
    """An SSH connection that would accept any host key: refused (style.md, what not to copy)."""


class SshShell:
    """One SSH connection per task; each `execute` is one exec channel (one IBM i job)."""

    def __init__(self, ssh_conn_id: str, *, command_timeout: float | None = 600.0) -> None:
        self.hook = SSHHook(ssh_conn_id=ssh_conn_id, cmd_timeout=command_timeout)
        if self.hook.no_host_key_check or self.hook.allow_host_key_change:
            raise HostKeyNotVerified(
                f"connection {ssh_conn_id!r} disables host-key checking; give the node's "
                "host key in the connection extra `host_key` instead"
            )
        self.command_timeout = command_timeout
        self._client: Any = None

    def execute(self, line: str) -> tuple[int, str, str]:
        if self._client is None:
            self._client = self.hook.get_conn()
        status, stdout, stderr = self.hook.exec_ssh_client_command(
            self._client, line, get_pty=False, environment=None, timeout=self.command_timeout
        )
        return status, _decode(stdout), _decode(stderr)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _decode(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


class _KnownConnectionOdbcHook(OdbcHook):
    """OdbcHook over an already fetched Connection (triggers fetch it asynchronously)."""

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(odbc_conn_id=connection.conn_id, **kwargs)
        self._known = connection

    @property
    def connection(self) -> Connection:  # type: ignore[override]
        return self._known


class OdbcDatabase:
    """Read-only SQL through OdbcHook; the driver name comes from the connection's extra.

    IBM i Access ODBC keywords (SYSTEM, NAM, DBQ, CMT, TRUEAUTOCOMMIT) go in the extra too;
    OdbcHook appends every extra key to the connection string (ibmi.md §9.4).
    """

    def __init__(self, odbc_conn_id: str | None = None, *, connection: Connection | None = None):
        if connection is not None:
            extra = connection.extra_dejson
            self.hook: OdbcHook = _KnownConnectionOdbcHook(
                connection, driver=extra.get("driver"), connect_kwargs={"autocommit": True}
            )
        else:
            assert odbc_conn_id is not None
            extra = OdbcHook.get_connection(odbc_conn_id).extra_dejson
            self.hook = OdbcHook(
                odbc_conn_id=odbc_conn_id,
                driver=extra.get("driver"),
                connect_kwargs={"autocommit": True},
            )
        self._conn: Any = None

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


@contextmanager
def open_node(
    plan: Plan, role: str, *, dry_run: bool = False, journal: list[SentCommand] | None = None
) -> Iterator[IbmiNode]:
    """The plan's PRIMARY or BACKUP node, connected through its Airflow connections."""
    node = plan.primary if role == "PRIMARY" else plan.backup
    shell = SshShell(node.ssh_conn_id)
    database = OdbcDatabase(node.odbc_conn_id)
    try:
        yield IbmiNode(
            name=node.name,
            role=node.role,
            shell=shell,
            database=database,
            profile=plan.site_profile,
            dry_run=dry_run,
            journal=journal,
        )
    finally:
        shell.close()
        database.close()
