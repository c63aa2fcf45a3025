"""The save-file mover (plugins/icluster_resync/transfer.py) against the simulated pair's SFTP
servers: bytes arrive intact whatever the chunking, an empty save file stays empty, and a
connection that turns host-key checking off is refused before anything moves."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ibmi_resync.plan import load_plan
from ibmi_sim.testing import SimPair
from icluster_resync.transfer import SftpSaveFileMover
from icluster_resync.transport import HostKeyNotVerified
from tests.e2e.conftest import DEMO_PLAN

pytestmark = pytest.mark.integration

LIB = "RSYNCSAVF"


def _savf(pair: SimPair, node: str, name: str) -> Path:
    pair.system(node, f"DLTF FILE({LIB}/{name})")
    assert pair.system(node, f"CRTSAVF FILE({LIB}/{name})").rc == 0
    return pair.state_dir / "nodes" / node / "root" / "QSYS.LIB" / f"{LIB}.LIB" / f"{name}.FILE"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("size", "chunk"),
    [(5 * 1024 * 1024 + 12_345, 1024 * 1024), (3 * 1024 * 1024, 1024 * 1024), (70_000, 8 << 20)],
    ids=["odd-tail", "whole-chunks", "smaller-than-a-chunk"],
)
def test_a_save_file_arrives_byte_for_byte(demo_pair: SimPair, size: int, chunk: int) -> None:
    source = _savf(demo_pair, "primary", "XFERTEST")
    target = _savf(demo_pair, "backup", "XFERTEST")
    target.write_bytes(b"stale bytes of an earlier run" * 1000)  # overwritten, not appended
    source.write_bytes(os.urandom(size))
    mover = SftpSaveFileMover(load_plan(DEMO_PLAN), chunk_size=chunk)
    moved = mover("PRIMARY", "BACKUP", f"/QSYS.LIB/{LIB}.LIB/XFERTEST.FILE")
    assert moved == size
    assert target.stat().st_size == size and _digest(target) == _digest(source)


def test_an_empty_save_file_stays_empty(demo_pair: SimPair) -> None:
    _savf(demo_pair, "primary", "XFEREMPTY")
    target = _savf(demo_pair, "backup", "XFEREMPTY")
    mover = SftpSaveFileMover(load_plan(DEMO_PLAN))
    assert mover("PRIMARY", "BACKUP", f"/QSYS.LIB/{LIB}.LIB/XFEREMPTY.FILE") == 0
    assert target.stat().st_size == 0


def test_a_connection_without_host_key_checking_is_refused(
    demo_pair: SimPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _savf(demo_pair, "primary", "XFERHOST")
    target = _savf(demo_pair, "backup", "XFERHOST")
    source.write_bytes(b"x" * 4096)
    plan = load_plan(DEMO_PLAN)
    name = f"AIRFLOW_CONN_{plan.backup.ssh_conn_id.upper()}"
    conn = json.loads(os.environ[name])
    conn["extra"] = {**conn["extra"], "no_host_key_check": True}
    conn["extra"].pop("host_key", None)
    monkeypatch.setenv(name, json.dumps(conn))
    with pytest.raises(HostKeyNotVerified, match=plan.backup.ssh_conn_id):
        SftpSaveFileMover(plan)("PRIMARY", "BACKUP", f"/QSYS.LIB/{LIB}.LIB/XFERHOST.FILE")
    assert target.stat().st_size == 0
