"""One test per fault kind (issue 3 item 10, "Done when"): each effect seen through SSH, SFTP
or SQL, as the product would see it. Faults are set and cleared through SimPair (a row in the
node's ``faults`` table), the way the end-to-end tests set them at a chosen point."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from ibmi_sim.testing import SimPair, wait_for


@pytest.fixture
def pair(sim_pair: SimPair) -> Iterator[SimPair]:
    """The session pair with no fault before or after the test, its groups as they were
    (later modules expect the groups *ACTIVE)."""
    sim_pair.clear_faults()
    before = dict(sim_pair.query("primary", "SELECT group_name, status FROM icluster_groups"))
    yield sim_pair
    sim_pair.clear_faults()
    time.sleep(0.3)  # state faults are undone by the pair's poll (0.2 s)
    for group, status in before.items():
        if status == "*ACTIVE" and _status(sim_pair, group) == "*INACTIVE":
            _ok(sim_pair, "primary", f"ICLUSTER/DMSTRGRP GROUP({group})")
            wait_for(lambda g=group: _status(sim_pair, g) == "*ACTIVE", timeout=20)


def _status(pair: SimPair, group: str) -> str:
    rows = pair.query("primary", "SELECT status FROM icluster_groups WHERE group_name = %s", group)
    return str(rows[0][0])


def _ok(pair: SimPair, node: str, cl: str) -> str:
    result = pair.system(node, cl)
    assert result.rc == 0, result
    return result.stdout


def _library(pair: SimPair, node: str, lib: str) -> None:
    """A fresh library ``lib`` holding a copy of APPLIB3's objects (SAVLIB, RSTLIB RSTLIB()):
    each test works on its own library of the shared pair."""
    pair.system(node, f"DLTLIB LIB({lib})")
    _ok(pair, node, f"CRTLIB LIB({lib})")
    pair.system(node, "DLTF FILE(SAVFLIB/FLTSEED)")
    _ok(pair, node, "CRTSAVF FILE(SAVFLIB/FLTSEED)")
    _ok(pair, node, "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/FLTSEED)")
    _ok(pair, node, f"RSTLIB SAVLIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/FLTSEED) RSTLIB({lib})")
    _ok(pair, node, "DLTF FILE(SAVFLIB/FLTSEED)")


def _savf(pair: SimPair, node: str, name: str) -> None:
    pair.system(node, f"DLTF FILE(SAVFLIB/{name})")
    _ok(pair, node, f"CRTSAVF FILE(SAVFLIB/{name})")


def test_lock_on_save_partial_save_names_locks(pair: SimPair) -> None:
    _library(pair, "primary", "FLTLOCK")
    _savf(pair, "primary", "FLTLOCK")
    pair.add_fault("primary", "lock_on_save", "FLTLOCK", count=2)
    result = pair.system("primary", "SAVLIB LIB(FLTLOCK) DEV(*SAVF) SAVF(SAVFLIB/FLTLOCK)")
    assert result.rc == 255
    assert result.stderr.count("CPF3761") == 2
    assert "CPF3771" in result.stderr.splitlines()[-1]
    with pair.odbc("primary") as conn:
        rows = conn.execute(
            "SELECT OBJECT_NAME, JOB_NAME FROM QSYS2.OBJECT_LOCK_INFO"
            " WHERE OBJECT_SCHEMA = 'FLTLOCK'"
        ).fetchall()
    assert len(rows) == 2
    assert all(str(r[1]).endswith("/SIMLOCKER") for r in rows)
    # One-shot: the next save of the library is complete, once the holder has let go.
    wait_for(
        lambda: (
            not pair.query(
                "primary",
                "SELECT 1 FROM ibm_catalog_data.object_locks WHERE library = 'FLTLOCK'",
            )
        ),
        timeout=15,
    )
    _ok(pair, "primary", "SAVLIB LIB(FLTLOCK) DEV(*SAVF) SAVF(SAVFLIB/FLTLOCK) CLEAR(*ALL)")


def test_restore_fails_partial_restore(pair: SimPair) -> None:
    _library(pair, "backup", "FLTRST")
    _savf(pair, "backup", "FLTRST")
    _ok(pair, "backup", "SAVLIB LIB(FLTRST) DEV(*SAVF) SAVF(SAVFLIB/FLTRST)")
    total = len(pair.objects("backup", "FLTRST"))
    _ok(pair, "backup", "CLRLIB LIB(FLTRST)")
    pair.add_fault("backup", "restore_fails", "FLTRST", count=2)
    result = pair.system("backup", "RSTLIB SAVLIB(FLTRST) DEV(*SAVF) SAVF(SAVFLIB/FLTRST)")
    assert result.rc == 255
    assert result.stderr.count("CPF3756") == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("CPF3773") and f"{total - 2} objects restored. 2 not" in last
    assert len(pair.objects("backup", "FLTRST")) == total - 2


def test_corrupt_transfer_fails_restore(pair: SimPair) -> None:
    _library(pair, "primary", "FLTXFR")
    _savf(pair, "primary", "FLTXFR")
    _ok(pair, "primary", "SAVLIB LIB(FLTXFR) DEV(*SAVF) SAVF(SAVFLIB/FLTXFR)")
    _savf(pair, "backup", "FLTXFR")
    pair.add_fault("backup", "corrupt_transfer", "SAVFLIB/FLTXFR")
    path = "/QSYS.LIB/SAVFLIB.LIB/FLTXFR.FILE"
    with pair.sftp("primary") as src:
        data = src.open(path).read()
    with pair.sftp("backup") as dst:
        dst.open(path, "wb").write(data)
    sums = [pair.run(n, f"sha256sum {path}").stdout.split()[0] for n in ("primary", "backup")]
    assert sums[0] != sums[1]
    result = pair.system("backup", "RSTLIB SAVLIB(FLTXFR) DEV(*SAVF) SAVF(SAVFLIB/FLTXFR)")
    assert result.rc == 255 and "CPF3743" in result.stderr and "CPF3794" in result.stderr


def _port_refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_unreachable_for_seconds(pair: SimPair) -> None:
    node = pair.node("backup")
    pair.add_fault("backup", "unreachable", seconds=1.5)
    wait_for(lambda: _port_refuses(node["ssh_port"]), timeout=3)
    assert _port_refuses(node["sql_port"])
    with pytest.raises((paramiko.SSHException, OSError)):
        pair.connect("backup").close()
    wait_for(lambda: not _port_refuses(node["ssh_port"]), timeout=5)
    client = pair.connect("backup")
    client.close()


def test_drop_ssh_mid_command(pair: SimPair) -> None:
    pair.system("primary", "DLTLIB LIB(FLTDROP)")
    pair.add_fault("primary", "drop_ssh", count=1)
    client = pair.connect("primary")
    try:
        _stdin, stdout, _stderr = client.exec_command('system "CRTLIB LIB(FLTDROP)"', timeout=20)
        out = stdout.read()
        status = stdout.channel.recv_exit_status()
    finally:
        client.close()
    assert out == b"" and status == -1  # no output, no exit status: the channel closed
    # The command itself ran on the node (its job went on without the client).
    wait_for(lambda: pair.query("primary", "SELECT 1 FROM libraries WHERE name = 'FLTDROP'"))
    assert pair.system("primary", "CHKOBJ OBJ(FLTDROP) OBJTYPE(*LIB)").rc == 0  # next: normal


def test_answer_late_holds_the_exit_status_not_the_command(pair: SimPair) -> None:
    """The command runs at once (its library exists while the client still waits); its exit
    status comes `seconds` later. A line without all the target words is answered at once."""
    for lib in ("FLTLATE", "FLTNOW"):
        pair.system("primary", f"DLTLIB LIB({lib})")
    pair.add_fault("primary", "answer_late", "CRTLIB FLTLATE", seconds=3)
    assert pair.system("primary", "DLTLIB LIB(FLTLATE)").rc != 0  # no CRTLIB: no delay
    assert pair.system("primary", "CRTLIB LIB(FLTNOW)").rc == 0  # no match: no delay
    assert [f["fired"] for f in pair.faults("primary")] == [0]
    client = pair.connect("primary")
    try:
        start = time.monotonic()
        _stdin, stdout, _stderr = client.exec_command(
            'system "QSYS/CRTLIB LIB(FLTLATE)"', timeout=20
        )
        wait_for(lambda: pair.query("primary", "SELECT 1 FROM libraries WHERE name = 'FLTLATE'"))
        assert not stdout.channel.exit_status_ready()  # done on the node, not yet answered
        status = stdout.channel.recv_exit_status()
        waited = time.monotonic() - start
    finally:
        client.close()
    assert status == 0 and waited >= 3, waited
    assert [f["fired"] for f in pair.faults("primary")] == [1]


def test_restore_slow_delays_that_restore(pair: SimPair) -> None:
    _library(pair, "backup", "FLTSLOW")
    _savf(pair, "backup", "FLTSLOW")
    _ok(pair, "backup", "SAVLIB LIB(FLTSLOW) DEV(*SAVF) SAVF(SAVFLIB/FLTSLOW)")
    restore = "RSTLIB SAVLIB(FLTSLOW) DEV(*SAVF) SAVF(SAVFLIB/FLTSLOW) RSTLIB(FLTSLOW2)"
    pair.system("backup", "DLTLIB LIB(FLTSLOW2)")
    start = time.monotonic()
    _ok(pair, "backup", restore)
    fast = time.monotonic() - start
    pair.system("backup", "DLTLIB LIB(FLTSLOW2)")
    pair.add_fault("backup", "restore_slow", "FLTSLOW2", seconds=2)
    start = time.monotonic()
    _ok(pair, "backup", restore)
    assert time.monotonic() - start >= fast + 1.5
    assert len(pair.objects("backup", "FLTSLOW2")) == len(pair.objects("backup", "FLTSLOW"))


def _events(pair: SimPair, group: str, after: int) -> list[tuple[str, str]]:
    with pair.odbc("primary") as conn:
        rows = conn.execute(
            "SELECT MESSAGE_ID, MESSAGE_TEXT FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ?"
            " ORDER BY MESSAGE_TIMESTAMP",
            group,
        ).fetchall()
    return [(r[0], r[1]) for r in rows][after:]


def _end_group(pair: SimPair, group: str) -> None:
    if _status(pair, group) == "*ACTIVE":
        _ok(pair, "primary", f"ICLUSTER/DMENDGRP GROUP({group}) OPTION(*IMMED)")
    wait_for(
        lambda: pair.query(
            "primary",
            "SELECT 1 FROM icluster_groups WHERE group_name = %s AND status = '*INACTIVE'",
            group,
        ),
        timeout=20,
    )


def test_mark_fails_writes_sim1002(pair: SimPair) -> None:
    _end_group(pair, "GRP02")
    before = len(_events(pair, "GRP02", 0))
    pair.add_fault("primary", "mark_fails", "GRP02")
    _ok(pair, "primary", "ICLUSTER/DMMRKPOS GROUP(GRP02)")
    events = wait_for(lambda: _events(pair, "GRP02", before), timeout=20)
    assert events[0][0] == "SIM1002" and "GRP02" in events[0][1]


def test_mark_slow_delays_completion(pair: SimPair) -> None:
    _end_group(pair, "GRP02")
    before = len(_events(pair, "GRP02", 0))
    pair.add_fault("primary", "mark_slow", "GRP02", seconds=2)
    start = time.monotonic()
    _ok(pair, "primary", "ICLUSTER/DMMRKPOS GROUP(GRP02)")
    time.sleep(1.0)
    assert _events(pair, "GRP02", before) == []  # not yet, though a mark takes < 1 s here
    events = wait_for(lambda: _events(pair, "GRP02", before), timeout=20)
    assert events[0][0] == "SIM1001" and time.monotonic() - start >= 2


def test_event_missing_loses_one_completion(pair: SimPair) -> None:
    _end_group(pair, "GRP02")
    before = len(_events(pair, "GRP02", 0))
    pair.add_fault("backup", "event_missing", "GRP02")  # either node: group work is on PRIMARY
    _ok(pair, "primary", "ICLUSTER/DMMRKPOS GROUP(GRP02)")
    wait_for(lambda: pair.faults("backup")[0]["fired"] == 1, timeout=20)
    time.sleep(0.5)
    assert _events(pair, "GRP02", before) == []
    _ok(pair, "primary", "ICLUSTER/DMMRKPOS GROUP(GRP02)")
    events = wait_for(lambda: _events(pair, "GRP02", before), timeout=20)
    assert events[0][0] == "SIM1001"


def _latency(pair: SimPair, node: str, group: str) -> tuple[float, float, int, int]:
    with pair.odbc(node) as conn:
        row = conn.execute(
            "SELECT SOURCE_LATENCY_SECONDS, APPLY_LATENCY_SECONDS, BACKLOG_ENTRIES,"
            " LAST_APPLIED_SEQUENCE FROM ICSIM.GROUP_LATENCY WHERE GROUP_NAME = ?",
            group,
        ).fetchone()
    return float(row[0]), float(row[1]), int(row[2]), int(row[3])


def test_latency_stuck_keeps_latency_high(pair: SimPair) -> None:
    pair.add_fault("primary", "latency_stuck", "GRP01", count=5000, seconds=1200)
    figures = wait_for(lambda: (f := _latency(pair, "backup", "GRP01"))[2] >= 5000 and f, timeout=5)
    assert figures[0] >= 1200 and figures[1] >= 1200
    assert _latency(pair, "primary", "GRP02")[2] < 5000  # only that group
    pair.clear_faults()
    wait_for(lambda: _latency(pair, "backup", "GRP01")[0] < 1200, timeout=5)


def test_apply_frozen_keeps_last_applied(pair: SimPair) -> None:
    pair.add_fault("primary", "apply_frozen", "GRP01")
    wait_for(
        lambda: pair.query(
            "primary", "SELECT apply_frozen FROM icluster_groups WHERE group_name = 'GRP01'"
        )[0][0],
        timeout=5,
    )
    # Journal entries arrive while apply is frozen: append some directly to the journal.
    first = _latency(pair, "primary", "GRP01")[3]
    pair.query(
        "primary",
        "UPDATE icluster_groups SET last_sequence = last_sequence + 3 WHERE group_name = 'GRP01'",
    )
    time.sleep(1.0)
    assert _latency(pair, "primary", "GRP01")[3] == first


def test_out_of_storage_on_backup(pair: SimPair) -> None:
    pair.add_fault("backup", "out_of_storage")
    result = pair.system("backup", "CRTSAVF FILE(SAVFLIB/FLTSTG)")
    assert result.rc == 255 and result.stderr.startswith("CPF3793")
    result = pair.system("backup", "RSTLIB SAVLIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/NONE)")
    assert result.rc == 255 and "CPF3793" in result.stderr

    def used() -> float:
        with pair.odbc("backup") as conn:
            return float(
                conn.execute("SELECT SYSTEM_ASP_USED FROM QSYS2.SYSTEM_STATUS_INFO").fetchone()[0]
            )

    wait_for(lambda: used() > 99, timeout=5)
    assert pair.system("primary", "CRTSAVF FILE(SAVFLIB/FLTSTG)").rc == 0  # only that node
    pair.system("primary", "DLTF FILE(SAVFLIB/FLTSTG)")
    pair.clear_faults()
    wait_for(lambda: used() < 99, timeout=5)


def test_password_expired_refuses_sign_on(pair: SimPair) -> None:
    pair.add_fault("backup", "password_expired")
    for use_key in (False, True):
        client = paramiko.SSHClient()
        client.load_host_keys(pair.info["known_hosts_path"])
        node = pair.node("backup")
        key = paramiko.PKey.from_path(node["private_key_path"])
        auth = {"pkey": key} if use_key else {"password": node["password"]}
        with pytest.raises(paramiko.AuthenticationException):
            client.connect(
                node["host"],
                node["ssh_port"],
                username=node["user"],
                look_for_keys=False,
                allow_agent=False,
                timeout=10,
                **auth,
            )
        banner = client.get_transport().get_banner() if client.get_transport() else b""
        client.close()
        assert b"SIM2001" in banner and node["user"].upper().encode() in banner
    pair.connect("primary").close()  # the other node signs on


def test_role_mismatch_local_node(pair: SimPair) -> None:
    def role(node: str) -> str:
        with pair.odbc(node) as conn:
            return str(conn.execute("SELECT ROLE FROM ICSIM.LOCAL_NODE").fetchone()[0])

    assert role("backup") == "BACKUP"
    pair.add_fault("backup", "role_mismatch")
    assert role("backup") == "PRIMARY" and role("primary") == "PRIMARY"
    pair.clear_faults()
    assert role("backup") == "BACKUP"


def test_fault_cli_add_list_clear(pair: SimPair) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ibmi_sim", "fault", *args, "--state", str(pair.state_dir)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
            check=False,
            timeout=60,
        )

    added = cli("add", "restore_fails", "--node", "backup", "--target", "applib9", "--count", "3")
    assert added.returncode == 0, added.stderr
    rows = json.loads(cli("list", "--node", "backup").stdout)["backup"]
    assert [(r["kind"], r["target"], r["count"], r["active"]) for r in rows] == [
        ("restore_fails", "APPLIB9", 3, True)
    ]
    assert cli("add", "no_such_kind", "--node", "backup").returncode == 2
    assert json.loads(cli("clear").stdout) == {"primary": 0, "backup": 1}
