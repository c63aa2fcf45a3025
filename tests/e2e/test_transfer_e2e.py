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
from icluster_resync.transfer import BLOCK, IN_FLIGHT, SftpSaveFileMover
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
    ("size", "block", "in_flight"),
    [
        (5 * 1024 * 1024 + 12_345, BLOCK, IN_FLIGHT),  # the shipped chunking
        (5 * 1024 * 1024 + 12_345, 256 * 1024, 32),
        (3 * 1024 * 1024, 1024 * 1024, 2),  # whole blocks, more blocks than copiers
        (70_000, 256 * 1024, 32),  # one block, copiers with nothing to do
        (1_000_003, 65_536, 1),  # one copier: the blocks in order
    ],
    ids=["shipped", "odd-tail", "whole-blocks", "smaller-than-a-block", "serial"],
)
def test_a_save_file_arrives_byte_for_byte(
    demo_pair: SimPair, size: int, block: int, in_flight: int
) -> None:
    source = _savf(demo_pair, "primary", "XFERTEST")
    target = _savf(demo_pair, "backup", "XFERTEST")
    target.write_bytes(b"stale bytes of an earlier run" * 1000)  # overwritten, not appended
    source.write_bytes(os.urandom(size))
    mover = SftpSaveFileMover(load_plan(DEMO_PLAN), block_size=block, in_flight=in_flight)
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


class _File:
    """An SFTP file of a fake server that answers every read with at most 1,000 bytes, as
    the SFTP protocol allows."""

    def __init__(self, data: bytearray) -> None:
        self.data = data

    async def __aenter__(self) -> _File:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def stat(self) -> object:
        return type("Attrs", (), {"size": len(self.data)})()

    async def read(self, size: int, offset: int) -> bytes:
        return bytes(self.data[offset : offset + min(size, 1000)])

    async def write(self, block: bytes, offset: int) -> int:
        self.data.extend(bytes(max(0, offset - len(self.data))))  # writes may come out of order
        self.data[offset : offset + len(block)] = block
        return len(block)


class _Hook:
    def __init__(self, data: bytearray) -> None:
        self.file = _File(data)

    def get_managed_conn(self) -> object:
        hook = self

        class _Conn:
            async def __aenter__(self) -> object:
                return type("Sftp", (), {"open": lambda _self, path, mode: hook.file})()

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Conn()


def test_reads_answered_in_part_are_completed() -> None:
    import asyncio

    source = bytearray(os.urandom(300_001))
    target = bytearray()
    mover = SftpSaveFileMover(load_plan(DEMO_PLAN), block_size=65_536, in_flight=4)
    moved = asyncio.run(mover._relay(_Hook(source), _Hook(target), "/QSYS.LIB/X.LIB/Y.FILE"))  # type: ignore[arg-type]
    assert moved == len(source) and target == source
