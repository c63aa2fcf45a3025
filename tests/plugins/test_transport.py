"""The node client's Airflow transports look nothing up until a node is used, each connection
once, and still refuse a connection that would accept any host key before a byte is sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import paramiko
import pytest
from airflow.providers.odbc.hooks.odbc import OdbcHook
from airflow.providers.ssh.hooks.ssh import SSHHook

from ibmi_resync.plan import load_plan
from icluster_resync import transport
from icluster_resync.transport import (
    HostKeyNotVerified,
    OdbcDatabase,
    SharedOdbcDatabase,
    SshShell,
    open_node,
)

ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")
# An unroutable test address (RFC 5737): the tests must fail before connecting, not hang.
HOST = "192.0.2.1"
HOST_KEY = "ssh-rsa " + paramiko.RSAKey.generate(1024).get_base64()


def _connection(conn_type: str, **extra: object) -> str:
    return json.dumps(
        {"conn_type": conn_type, "host": HOST, "login": "resync", "port": 22, "extra": extra}
    )


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Connection ids looked up through the hooks, in order (each one an API round trip in a
    task); the pair's four connections come from the environment."""
    for role in ("PRIMARY", "BACKUP"):
        node = PLAN.primary if role == "PRIMARY" else PLAN.backup
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{node.ssh_conn_id.upper()}", _connection("ssh", host_key=HOST_KEY)
        )
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{node.odbc_conn_id.upper()}",
            _connection("odbc", driver="IBM i Access ODBC Driver"),
        )
    seen: list[str] = []
    for hook in (SSHHook, OdbcHook):
        original = hook.get_connection

        def counting(conn_id: str, _original=original) -> object:
            seen.append(conn_id)
            return _original(conn_id)

        monkeypatch.setattr(hook, "get_connection", staticmethod(counting))
    return seen


def test_opening_both_nodes_looks_nothing_up(lookups: list[str]) -> None:
    with open_node(PLAN, "PRIMARY") as primary, open_node(PLAN, "BACKUP") as backup:
        assert primary.name == PLAN.primary.name and backup.name == PLAN.backup.name
    assert lookups == []


def test_each_connection_is_looked_up_once_when_first_used(lookups: list[str]) -> None:
    database = OdbcDatabase(PLAN.primary.odbc_conn_id)
    shell = SshShell(PLAN.primary.ssh_conn_id, node=PLAN.primary.name)
    assert database.hook.connection.host == HOST
    assert database.hook is database.hook
    assert database.hook.driver == "IBM i Access ODBC Driver"
    assert shell.user == "resync"
    assert shell.hook is shell.hook
    assert lookups == [PLAN.primary.odbc_conn_id, PLAN.primary.ssh_conn_id]


def test_the_job_user_is_read_from_the_connection_only_when_jobs_are_looked_for(
    lookups: list[str],
) -> None:
    with open_node(PLAN, "BACKUP") as backup:
        assert lookups == []
        assert callable(backup.job_user)
        backup.database.fetch = lambda text, params: [  # type: ignore[method-assign]
            {"JOB_NAME": f"123456/{params[0]}/{params[1]}", "JOB_STATUS": "OUTQ"}
        ]
        assert backup.find_other_jobs("RLABCDEFGH") == [("123456/RESYNC/RLABCDEFGH", "OUTQ")]
    assert lookups == [PLAN.backup.ssh_conn_id]


@pytest.mark.parametrize("flag", ["no_host_key_check", "allow_host_key_change"])
def test_a_connection_that_accepts_any_host_key_is_refused_at_the_first_command(
    monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LOOSE_SSH", _connection("ssh", **{flag: True}))
    shell = SshShell("loose_ssh", node="SIMBCK")  # nothing is looked up yet
    with pytest.raises(HostKeyNotVerified, match="loose_ssh"):
        shell.execute("system 'DSPLIB QGPL'")
    assert shell._client is None  # never connected


class _Physical:
    """An ODBC connection of the pool: counts how many are open at once and what they ran."""

    made: ClassVar[list[_Physical]] = []
    busy: ClassVar[int] = 0
    most_busy: ClassVar[int] = 0
    lock = threading.Lock()

    def __init__(self, odbc_conn_id: str) -> None:
        self.odbc_conn_id = odbc_conn_id
        self.ran: list[str] = []
        self.closed = False
        self.made.append(self)

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.lock:
            type(self).busy += 1
            type(self).most_busy = max(self.most_busy, self.busy)
        try:
            time.sleep(0.01)
            if text == "FAIL":
                raise ConnectionError("the node dropped the connection")
            self.ran.append(text)
            return [{"N": len(self.ran)}]
        finally:
            with self.lock:
                type(self).busy -= 1

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def physical(monkeypatch: pytest.MonkeyPatch) -> type[_Physical]:
    monkeypatch.setattr(transport, "OdbcDatabase", _Physical)
    monkeypatch.setattr(SharedOdbcDatabase, "_pools", {})
    _Physical.made, _Physical.busy, _Physical.most_busy = [], 0, 0
    return _Physical


def test_waits_on_one_node_share_a_few_connections(physical: type[_Physical]) -> None:
    first, second = SharedOdbcDatabase("primary_odbc"), SharedOdbcDatabase("primary_odbc")
    assert first.fetch("A", []) == [{"N": 1}]
    assert second.fetch("B", []) == [{"N": 2}]  # the same connection, taken in turn
    assert len(physical.made) == 1 and physical.made[0].ran == ["A", "B"]
    SharedOdbcDatabase("backup_odbc").fetch("C", [])
    assert [p.odbc_conn_id for p in physical.made] == ["primary_odbc", "backup_odbc"]
    first.close()  # a trigger that ends leaves the connections to the others
    assert not any(p.closed for p in physical.made)


def test_two_hundred_waits_polled_at_once_open_at_most_the_pool(
    physical: type[_Physical],
) -> None:
    waits = [SharedOdbcDatabase("primary_odbc") for _ in range(200)]
    with ThreadPoolExecutor(max_workers=16) as threads:
        answers = list(threads.map(lambda wait: wait.fetch("POLL", []), waits))
    assert len(answers) == 200
    assert len(physical.made) <= transport.SHARED_CONNECTIONS
    assert physical.most_busy <= transport.SHARED_CONNECTIONS
    assert sum(len(p.ran) for p in physical.made) == 200


def test_a_failed_statement_closes_its_connection_and_the_next_opens_another(
    physical: type[_Physical],
) -> None:
    database = SharedOdbcDatabase("primary_odbc")
    database.fetch("A", [])
    with pytest.raises(ConnectionError, match="dropped"):
        database.fetch("FAIL", [])
    assert physical.made[0].closed
    assert database.fetch("B", []) == [{"N": 1}]
    assert len(physical.made) == 2 and physical.made[1].ran == ["B"]


def test_a_connection_is_opened_again_after_its_age_so_an_edited_one_is_used(
    physical: type[_Physical], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = SharedOdbcDatabase("primary_odbc")
    database.fetch("A", [])
    database.fetch("B", [])
    assert len(physical.made) == 1
    monkeypatch.setattr(transport, "SHARED_CONNECTION_AGE_S", 0.0)
    database.fetch("C", [])
    assert physical.made[0].closed and len(physical.made) == 2
    assert physical.made[1].ran == ["C"]


def test_closing_all_closes_the_idle_connections_and_starts_afresh(
    physical: type[_Physical],
) -> None:
    SharedOdbcDatabase("primary_odbc").fetch("A", [])
    SharedOdbcDatabase.close_all()
    assert physical.made[0].closed
    SharedOdbcDatabase("primary_odbc").fetch("B", [])
    assert len(physical.made) == 2 and physical.made[1].ran == ["B"]
