"""The four Airflow connections `up` publishes, used through Airflow's own SSHHook and OdbcHook.

Why: the product's DAG reaches the nodes only through the connection ids of its plan
(``config/demo-plan.yaml``). This checks that ``<state>/airflow-connections.json`` is what
``airflow connections import`` reads, and that the ``AIRFLOW_CONN_<ID>`` form runs the
product's first pre-flight CL and SQL (program.py phase 0) with host-key checking on.
"""

from __future__ import annotations

import json

import pytest

from ibmi_sim.airflow_conns import AIRFLOW_CONNECTIONS_FILE
from ibmi_sim.testing import SimPair

pytestmark = pytest.mark.integration

ssh_hooks = pytest.importorskip("airflow.providers.ssh.hooks.ssh")
odbc_hooks = pytest.importorskip("airflow.providers.odbc.hooks.odbc")
local_filesystem = pytest.importorskip("airflow.secrets.local_filesystem")

CONN_IDS = ("ibmi_primary_ssh", "ibmi_backup_ssh", "ibmi_primary_odbc", "ibmi_backup_odbc")


def test_file_is_what_airflow_connections_import_reads(sim_pair: SimPair) -> None:
    path = sim_pair.state_dir / AIRFLOW_CONNECTIONS_FILE
    raw = json.loads(path.read_text())
    assert sorted(raw) == sorted(CONN_IDS)
    loaded = local_filesystem.load_connections_dict(str(path))  # what the CLI import calls
    for key in ("primary", "backup"):
        node = sim_pair.node(key)
        ssh = loaded[f"ibmi_{key}_ssh"]
        assert (ssh.conn_type, ssh.host, ssh.port, ssh.login) == (
            "ssh",
            "127.0.0.1",
            node["ssh_port"],
            node["user"],
        )
        assert ssh.extra_dejson == {
            "key_file": node["private_key_path"],
            "host_key": node["host_key"],
            "no_host_key_check": False,
        }
        assert ssh.extra_dejson["host_key"].startswith("ssh-ed25519 AAAA")
        odbc = loaded[f"ibmi_{key}_odbc"]
        assert (odbc.conn_type, odbc.host, odbc.port, odbc.schema, odbc.login) == (
            "odbc",
            "127.0.0.1",
            node["sql_port"],
            node["database"],
            "postgres",
        )
        assert odbc.extra_dejson == {
            "driver": "PostgreSQL Unicode",
            "connect_kwargs": {"autocommit": True},
            "SSLmode": "disable",
            "UseServerSidePrepare": "1",
        }


@pytest.mark.parametrize("key", ["primary", "backup"])
def test_hooks_from_env_run_the_preflight(
    sim_pair: SimPair, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    env = sim_pair.airflow_env()
    assert sorted(env) == sorted(f"AIRFLOW_CONN_{c.upper()}" for c in CONN_IDS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ssh = ssh_hooks.SSHHook(ssh_conn_id=f"ibmi_{key}_ssh", cmd_timeout=30)
    with ssh.get_conn() as client:
        result = ssh.exec_ssh_client_command(
            client,
            "system 'QSYS/CHKOBJ OBJ(QSYS/QGPL) OBJTYPE(*LIB)'",
            get_pty=False,
            environment=None,
        )
    assert result == (0, b"", b"")
    odbc = odbc_hooks.OdbcHook(odbc_conn_id=f"ibmi_{key}_odbc", driver="PostgreSQL Unicode")
    assert odbc.connect_kwargs == {"autocommit": True}
    rows = odbc.get_records("SELECT OS_VERSION, OS_RELEASE FROM SYSIBMADM.ENV_SYS_INFO")
    assert [tuple(row) for row in rows] == [("7", "5")]
    job = odbc.get_records(
        "SELECT JOB_NAME FROM TABLE(QSYS2.ACTIVE_JOB_INFO(JOB_NAME_FILTER => '*')) X"
    )
    assert job[0][0].endswith("/QUSER/QZDASOINIT")
