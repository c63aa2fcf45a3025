"""Each node's SQL endpoint inside the pair: pyodbc → psqlODBC → the node's SQL front.

What is checked: connections.json publishes the front, the front serves the node's own
database with IBM's catalog installed, every connection gets its QZDASOINIT server job (the
``'*'`` of IBM's services) which ends with the connection, and an unreachable node refuses SQL
connections like its SSH port.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pyodbc
import pytest

from ibmi_sim import db
from ibmi_sim.config import SimConfig, load_config
from ibmi_sim.pair import Pair
from ibmi_sim.testing import SimPair, fast_test_config, unique_tag, wait_for

CURRENT_JOB = (
    "SELECT JOB_NAME, JOB_TYPE, SUBSYSTEM FROM TABLE(QSYS2.ACTIVE_JOB_INFO("
    "JOB_NAME_FILTER => '*')) X"
)


def test_connections_json_describes_the_front(sim_pair: SimPair) -> None:
    for key in ("primary", "backup"):
        node = sim_pair.node(key)
        assert node["sql_port"] > 0 and node["sql_port"] != node["ssh_port"]
        text = node["odbc_connection_string"]
        assert text.startswith("DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;")
        assert f"PORT={node['sql_port']};" in text and f"DATABASE={node['database']};" in text
        assert node["odbc_options"] == {"SSLmode": "disable", "UseServerSidePrepare": "1"}


@pytest.mark.parametrize("key", ["primary", "backup"])
def test_front_serves_the_node_database_with_ibm_services(sim_pair: SimPair, key: str) -> None:
    cn = sim_pair.odbc(key)
    try:
        cursor = cn.cursor()
        assert (
            cursor.execute("SELECT value FROM node_info WHERE key = 'role'").fetchone()[0]
            == (sim_pair.node(key)["role"])
        )
        assert tuple(
            cursor.execute("SELECT OS_VERSION, OS_RELEASE FROM SYSIBMADM.ENV_SYS_INFO").fetchone()
        ) == ("7", "5")
        storage = cursor.execute(
            "SELECT SYSTEM_ASP_STORAGE, SYSTEM_ASP_USED FROM QSYS2.SYSTEM_STATUS_INFO"
        ).fetchone()
        assert storage[0] == 2_000_000 and 0 < float(storage[1]) < 100
        with pytest.raises(pyodbc.Error):  # IBM i refuses a table function called like a view
            cursor.execute("SELECT JOB_NAME FROM QSYS2.ACTIVE_JOB_INFO() X")
    finally:
        cn.close()


def test_each_connection_has_its_server_job_until_it_closes(sim_pair: SimPair) -> None:
    first, second = sim_pair.odbc("primary"), sim_pair.odbc("primary")
    try:
        mine = first.cursor().execute(CURRENT_JOB).fetchall()
        other = second.cursor().execute(CURRENT_JOB).fetchall()
        assert len(mine) == 1 and mine[0][1:] == ("PJ", "QUSRWRK")
        assert mine[0][0].endswith("/QUSER/QZDASOINIT")
        assert other[0][0] != mine[0][0]
        log = first.cursor().execute(
            "SELECT V_JOB_STATUS, V_SBS_NAME FROM TABLE(QSYS2.GET_JOB_INFO('*')) X"
        )
        assert tuple(v.strip() for v in log.fetchone()) == ("*ACTIVE", "QUSRWRK")  # CHAR(10)
    finally:
        first.close()
        second.close()
    job = mine[0][0]

    def ended() -> bool:
        rows = sim_pair.query("primary", "SELECT status FROM jobs WHERE qualified_name = %s", job)
        return rows == [("*OUTQ",)]

    wait_for(ended, timeout=10)


# ---------------------------------------------------------------------------------------------
# Unreachable node: an in-process pair, so the test can flip the fault
# ---------------------------------------------------------------------------------------------


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def in_process_pair(tmp_path: Path) -> Iterator[tuple[Pair, _LoopThread]]:
    data = fast_test_config(unique_tag("r"))
    data["libraries"] = [{"name": "QGPL", "objects": 0, "data_mb": 0}]
    cfg = SimConfig.model_validate({**data, "server_url": load_config(None).server_url})
    runner = _LoopThread()
    pair = Pair(cfg, tmp_path)
    try:
        runner.call(pair.start(reset=True))
        yield pair, runner
    finally:
        runner.call(pair.stop())
        for node_cfg in cfg.nodes.values():
            runner.call(db.drop_database(cfg.maintenance_url(), node_cfg.database))
        runner.close()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_unreachable_node_refuses_sql_and_ssh(in_process_pair: tuple[Pair, _LoopThread]) -> None:
    pair, runner = in_process_pair
    info = pair.connection_info()
    node = info["nodes"]["backup"]
    open_conn = pyodbc.connect(node["odbc_connection_string"], autocommit=True, timeout=5)
    try:
        runner.call(pair.set_reachable("backup", False))
        assert _refused(node["sql_port"]) and _refused(node["ssh_port"])
        with pytest.raises(pyodbc.Error):  # the open connection was dropped
            open_conn.cursor().execute("SELECT 1").fetchall()
        with pytest.raises(pyodbc.Error):
            pyodbc.connect(node["odbc_connection_string"], timeout=3)
        primary = info["nodes"]["primary"]  # the other node is not affected
        other = pyodbc.connect(primary["odbc_connection_string"], autocommit=True, timeout=5)
        other.close()
    finally:
        open_conn.close()
    runner.call(pair.set_reachable("backup", True))
    again = pyodbc.connect(node["odbc_connection_string"], autocommit=True, timeout=5)
    try:
        assert again.cursor().execute("SELECT 1").fetchone()[0] == 1
    finally:
        again.close()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    deadline = time.monotonic() + 10
    client.connect(
        "127.0.0.1",
        node["ssh_port"],
        username=node["user"],
        password=node["password"],
        look_for_keys=False,
        allow_agent=False,
        timeout=max(1.0, deadline - time.monotonic()),
    )
    client.close()
