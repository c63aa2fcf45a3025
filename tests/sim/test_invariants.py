"""Invariants (issue 3 item 11): a correct scripted sequence has none; each kind of mistake
gives exactly its violation. Every check is limited to the test's own libraries and to what
happened after the test started, because the session pair is shared."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from ibmi_sim.invariants import check_invariants
from ibmi_sim.testing import SimPair, wait_for


def _ok(pair: SimPair, node: str, cl: str) -> None:
    result = pair.system(node, cl)
    assert result.rc == 0, result


def _library(pair: SimPair, node: str, lib: str) -> None:
    """``lib`` on ``node`` as a copy of APPLIB3 (set up before the checked period)."""
    pair.system(node, f"DLTLIB LIB({lib})")
    pair.system(node, "DLTF FILE(SAVFLIB/INVSEED)")
    _ok(pair, node, "CRTSAVF FILE(SAVFLIB/INVSEED)")
    _ok(pair, node, "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/INVSEED)")
    _ok(pair, node, f"RSTLIB SAVLIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/INVSEED) RSTLIB({lib})")
    _ok(pair, node, "DLTF FILE(SAVFLIB/INVSEED)")


def _now(pair: SimPair) -> datetime:
    time.sleep(0.01)
    now: datetime = pair.query("primary", "SELECT clock_timestamp()")[0][0]
    return now


def _save_and_send(pair: SimPair, lib: str) -> None:
    for node in ("primary", "backup"):
        pair.system(node, f"DLTF FILE(SAVFLIB/{lib})")
        _ok(pair, node, f"CRTSAVF FILE(SAVFLIB/{lib})")
    _ok(pair, "primary", f"SAVLIB LIB({lib}) DEV(*SAVF) SAVF(SAVFLIB/{lib})")
    path = f"/QSYS.LIB/SAVFLIB.LIB/{lib}.FILE"
    with pair.sftp("primary") as src, pair.sftp("backup") as dst:
        dst.open(path, "wb").write(src.open(path).read())


def test_correct_sequence_has_no_violation(sim_pair: SimPair) -> None:
    for node in ("primary", "backup"):
        _library(sim_pair, node, "INVOK")
    since = _now(sim_pair)
    _save_and_send(sim_pair, "INVOK")
    _ok(sim_pair, "backup", "CLRLIB LIB(INVOK)")
    _ok(sim_pair, "backup", "RSTLIB SAVLIB(INVOK) DEV(*SAVF) SAVF(SAVFLIB/INVOK)")
    assert check_invariants(sim_pair, since=since, libraries=["INVOK"]) == []


def test_partial_restore_reported_is_no_loss(sim_pair: SimPair) -> None:
    for node in ("primary", "backup"):
        _library(sim_pair, node, "INVPART")
    since = _now(sim_pair)
    _save_and_send(sim_pair, "INVPART")
    _ok(sim_pair, "backup", "CLRLIB LIB(INVPART)")
    sim_pair.add_fault("backup", "restore_fails", "INVPART", count=2)
    try:
        result = sim_pair.system(
            "backup", "RSTLIB SAVLIB(INVPART) DEV(*SAVF) SAVF(SAVFLIB/INVPART)"
        )
    finally:
        sim_pair.clear_faults()
    assert result.rc == 255 and result.stderr.count("CPF3756") == 2
    assert check_invariants(sim_pair, since=since, libraries=["INVPART"]) == []


def test_clrlib_on_primary_is_one_violation(sim_pair: SimPair) -> None:
    _library(sim_pair, "primary", "INVPRI")
    since = _now(sim_pair)
    _ok(sim_pair, "primary", "CLRLIB LIB(INVPRI)")
    found = check_invariants(sim_pair, since=since, libraries=["INVPRI"])
    assert [(v.rule, v.node, v.library) for v in found] == [
        ("destructive_on_primary", "primary", "INVPRI")
    ]


def test_destructive_in_batch_job_on_primary(sim_pair: SimPair) -> None:
    _library(sim_pair, "primary", "INVBCH")
    since = _now(sim_pair)
    _ok(sim_pair, "primary", "SBMJOB CMD(CLRLIB LIB(INVBCH)) JOB(INVBCH) JOBQ(QBATCH)")
    wait_for(
        lambda: sim_pair.query(
            "primary", "SELECT 1 FROM command_log WHERE command = 'CLRLIB LIB(INVBCH)'"
        ),
        timeout=15,
    )
    found = check_invariants(sim_pair, since=since, libraries=["INVBCH"])
    assert [(v.rule, v.command) for v in found] == [
        ("destructive_on_primary", "CLRLIB LIB(INVBCH)")
    ]


def test_clrlib_on_backup_without_restore_is_one_violation(sim_pair: SimPair) -> None:
    _library(sim_pair, "backup", "INVCLR")
    since = _now(sim_pair)
    _ok(sim_pair, "backup", "CLRLIB INVCLR")  # positional LIB
    found = check_invariants(sim_pair, since=since, libraries=["INVCLR"])
    assert [(v.rule, v.node, v.library) for v in found] == [
        ("cleared_without_restore", "backup", "INVCLR")
    ]


def test_saved_object_never_restored_is_lost(sim_pair: SimPair) -> None:
    _library(sim_pair, "primary", "INVLOST")
    since = _now(sim_pair)
    _save_and_send(sim_pair, "INVLOST")
    saved = {o[0] for o in sim_pair.objects("primary", "INVLOST")}
    found = check_invariants(sim_pair, since=since, libraries=["INVLOST"])
    assert {v.rule for v in found} == {"object_lost"}
    assert {v.object for v in found} == saved


def test_cli_reports_json_and_exit_status(sim_pair: SimPair) -> None:
    _library(sim_pair, "backup", "INVCLI")
    since = _now(sim_pair)
    _ok(sim_pair, "backup", "CLRLIB LIB(INVCLI)")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ibmi_sim", "invariants", "--state", str(sim_pair.state_dir)),
            *("--since", since.isoformat(), "--library", "INVCLI"),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert [v["rule"] for v in report["violations"]] == ["cleared_without_restore"]
