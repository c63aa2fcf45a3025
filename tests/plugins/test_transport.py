"""The node client's Airflow transports look nothing up until a node is used, each connection
once, and still refuse a connection that would accept any host key before a byte is sent."""

from __future__ import annotations

import json
from pathlib import Path

import paramiko
import pytest
from airflow.providers.odbc.hooks.odbc import OdbcHook
from airflow.providers.ssh.hooks.ssh import SSHHook

from ibmi_resync.plan import load_plan
from icluster_resync.transport import HostKeyNotVerified, OdbcDatabase, SshShell, open_node

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
