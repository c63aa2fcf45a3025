"""The fault matrix (issue 6 item 5): one simulator fault per test, each a real DAG run.

Every test injects one fault into the simulated pair (``ibmi_sim.faults``), runs the resync
DAG through Airflow (``dag.test``) for one group, clears the fault, and asserts both the
outcome (the automatic recovery, or an error naming node, phase, group or library and message
id) and the simulator's invariants over what the run did (``ibmi_sim.invariants``): nothing
destructive on PRIMARY, no saved object lost, BACKUP never cleared without a restore attempt.

Order matters only a little: a run that stops with the applications ended or a group
*INACTIVE leaves the pair the way a real failed run would, and the next resync run ends and
starts both itself. The case that leaves the applications down runs last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ibmi_sim.invariants import Violation, check_invariants
from ibmi_sim.testing import SimPair
from tests.e2e.test_resync_e2e import (
    _commands,
    _dag,
    _in_sync,
    _last_id,
    _report,
    _states,
    _verb,
)

pytestmark = pytest.mark.integration

RESTORES = {"CLRLIB", "DLTLIB", "RSTLIB", "RSTOBJ", "RST", "RSTDLO", "RSTUSRPRF", "RSTAUT"}


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(tmp_path / "reports"))
    return tmp_path / "reports"


def _run(groups: list[str]):
    return _dag().test(run_conf={"groups": groups, "approvals_required": False})


def _rules(violations: list[Violation]) -> dict[str, list[Violation]]:
    found: dict[str, list[Violation]] = {}
    for violation in violations:
        found.setdefault(violation.rule, []).append(violation)
    return found


def _failure(report: dict, task: str) -> dict:
    matches = [f for f in report["failures"] if f["task"] == task]
    assert len(matches) == 1, report["failures"]
    return matches[0]


class _OnCommand(threading.Thread):
    """Call ``action`` once a command matching ``wanted`` (verb, text in it, exit 0) appears
    in ``node``'s command log after id ``after``: a fault set at a chosen point of a run."""

    def __init__(
        self, pair: SimPair, node: str, after: int, verb: str, text: str, action: Callable
    ) -> None:
        super().__init__(daemon=True, name=f"on-{verb}")
        self.pair, self.node, self.after = pair, node, after
        self.verb, self.text, self.action = verb, text, action
        self.fired_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for _, command, _, status in _commands(self.pair, self.node, self.after):
                if _verb(command) == self.verb and self.text in command and status == 0:
                    self.action()
                    self.fired_at = time.monotonic()
                    return
            time.sleep(0.1)


def test_a_backup_answering_primary_is_never_cleared(demo_pair: SimPair, reports: Path) -> None:
    """BACKUP answers ROLE=PRIMARY (ICSIM.LOCAL_NODE). The run must fail before any CLRLIB or
    restore reaches it, naming the node and the role it answered.

    Pre-flight does not ask the BACKUP its role today (ibmi_resync.tasks.steps_for_task drops
    every BACKUP local-node check outside the clear and restore tasks), so the run ends the
    applications, saves and moves before clear_group refuses; either task may be the one."""
    since = datetime.now(UTC)
    before = _last_id(demo_pair, "backup")
    demo_pair.add_fault("backup", "role_mismatch")
    try:
        run = _run(["ORDERS"])
    finally:
        demo_pair.clear_faults()
    states = _states(run)
    assert str(run.state) == "failed"
    failed = sorted(t for (t, _), s in states.items() if s == "failed" and t != "write_report")
    assert failed in (["preflight"], ["clear.clear_group"]), failed
    backup = [_verb(c[1]) for c in _commands(demo_pair, "backup", before)]
    assert not RESTORES & set(backup), backup
    failure = _failure(_report(reports, run.run_id), failed[0].split(".")[-1])
    assert "SIMBCK" in failure["message"] and "ROLE=PRIMARY" in failure["message"]
    assert "ROLE=BACKUP" in failure["message"]  # what the plan expects
    found = _rules(check_invariants(demo_pair, since=since))
    assert "destructive_on_primary" not in found and "cleared_without_restore" not in found
    # object_lost reads "saved on PRIMARY, neither restored on BACKUP nor reported": a run
    # stopped before clearing leaves BACKUP's old copy untouched, so the only objects it can
    # name are those of this run's saves of the group.
    assert {v.library for v in found.get("object_lost", [])} <= {"ORDLIB", "ORDHIST"}, found


def test_a_save_file_corrupted_in_transit_is_caught_by_its_checksum(
    demo_pair: SimPair, reports: Path
) -> None:
    """The SFTP write of RSYNCSAVF/ORDLIB on BACKUP gets one byte flipped. The product
    compares sha256 on both ends and fails the transfer naming the file and both checksums;
    the failure is final (StepFailed -> AirflowFailException), so the task is not retried and
    the file is not moved again: see the closing note of this test."""
    since = datetime.now(UTC)
    before = _last_id(demo_pair, "backup")
    demo_pair.add_fault("backup", "corrupt_transfer", target="RSYNCSAVF/ORDLIB")
    try:
        run = _run(["ORDERS"])
        fired = [f for f in demo_pair.faults("backup") if f["kind"] == "corrupt_transfer"]
    finally:
        demo_pair.clear_faults()
    assert fired and fired[0]["fired"] == 1, fired
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("move.transfer_group", 0)] == "failed"
    failure = _failure(_report(reports, run.run_id), "transfer_group")
    assert failure["group"] == "ORDERS"
    assert "/QSYS.LIB/RSYNCSAVF.LIB/ORDLIB.FILE" in failure["message"]
    assert "differs" in failure["message"] and "SIMBCK" in failure["message"]
    # Nothing was cleared or restored on BACKUP with a damaged file.
    backup = [_verb(c[1]) for c in _commands(demo_pair, "backup", before)]
    assert not RESTORES & set(backup), backup
    found = _rules(check_invariants(demo_pair, since=since))
    assert "destructive_on_primary" not in found and "cleared_without_restore" not in found
    # object_lost reads "saved on PRIMARY, neither restored on BACKUP nor reported": a run
    # that stops before clearing leaves BACKUP's old copy in place, so what it reports here
    # is exactly the objects of this run's saves (nothing on BACKUP was touched).
    lost = found.get("object_lost", [])
    assert {v.library for v in lost} <= {"ORDLIB", "ORDHIST"}, lost


def test_a_node_unreachable_during_a_wait_does_not_fail_the_run(
    demo_pair: SimPair, reports: Path
) -> None:
    """PRIMARY refuses SSH and SQL for 5 s while the mark-positions wait polls (the mark made
    10 s slow so the window falls inside the wait): the trigger reconnects and the run ends
    well. It also brings the pair back in sync after the failed runs above."""
    since = datetime.now(UTC)
    before = _last_id(demo_pair, "primary")
    demo_pair.add_fault("primary", "mark_slow", target="BILLING", seconds=10)
    watcher = _OnCommand(
        demo_pair,
        "primary",
        before,
        "DMMRKPOS",
        "GROUP(BILLING)",
        lambda: demo_pair.add_fault("primary", "unreachable", seconds=5),
    )
    watcher.start()
    started = time.monotonic()
    try:
        run = _run(["BILLING"])
        faults = demo_pair.faults("primary")
    finally:
        watcher.stop.set()
        demo_pair.clear_faults()
    assert watcher.fired_at is not None, "DMMRKPOS never ran"
    assert [f["fired"] for f in faults if f["kind"] == "mark_slow"] == [1]
    assert any(f["kind"] == "unreachable" for f in faults), faults
    states = _states(run)
    failed = sorted(k for k, s in states.items() if s == "failed")
    assert str(run.state) == "success", failed
    assert states[("outage.mark_positions", 0)] == "success"
    assert time.monotonic() - started > 10  # the wait really spanned the slow mark
    assert _in_sync(demo_pair, ["BILLIB"]) == {}
    assert check_invariants(demo_pair, since=since) == []


def test_a_partial_restore_names_the_objects_not_restored(
    demo_pair: SimPair, reports: Path
) -> None:
    since = datetime.now(UTC)
    demo_pair.add_fault("backup", "restore_fails", target="ORDLIB", count=2)
    try:
        run = _run(["ORDERS"])
    finally:
        demo_pair.clear_faults()
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("restore.restore_group", 0)] == "failed"
    # What the simulator reported not restored: CPF3756 "*TYPE NAME not restored to ORDLIB."
    not_restored = [
        row[0]
        for row in demo_pair.query(
            "backup",
            "SELECT message_text FROM job_log WHERE message_id = 'CPF3756'"
            " AND message_timestamp >= %s ORDER BY message_timestamp",
            since,
        )
    ]
    assert len(not_restored) == 2, not_restored
    failure = _failure(_report(reports, run.run_id), "restore_group")
    assert failure["group"] == "ORDERS" and "ORDLIB" in failure["message"]
    for text in not_restored:
        obj_type, name = text.split()[:2]
        assert f"{name} {obj_type}" in failure["message"], (text, failure["message"])
    # ORDLIB's two objects are reported (CPF3756), so none of ORDLIB counts as lost. But the
    # task restores the group's libraries one after the other and stops at ORDLIB's failed
    # job log: ORDHIST, cleared before, gets no restore attempt (rule 3) and its saved objects
    # none either (rule 2). Nothing destructive touched PRIMARY.
    found = _rules(check_invariants(demo_pair, since=since))
    assert "destructive_on_primary" not in found, found
    assert [v.library for v in found.get("cleared_without_restore", [])] == ["ORDHIST"], found
    assert {v.library for v in found.get("object_lost", [])} <= {"ORDHIST"}, found


def test_a_failed_mark_never_lets_the_group_save_unmarked(
    demo_pair: SimPair, reports: Path
) -> None:
    """DMMRKPOS answers SIM1002 for BILLING (once). Either the mark task fails naming the
    group and SIM1002 and nothing of BILLING is saved, or (what happens today: the failed
    wait raises a KeyError, which Airflow retries) the retried task marks again, gets
    SIM1001, and only then the group is saved. (Last: a failing run leaves the applications
    ended; the next resync ends and restarts them itself.)"""
    since = datetime.now(UTC)
    before = _last_id(demo_pair, "primary")
    demo_pair.add_fault("primary", "mark_fails", target="BILLING")
    try:
        run = _run(["BILLING"])
        fired = [f["fired"] for f in demo_pair.faults("primary") if f["kind"] == "mark_fails"]
    finally:
        demo_pair.clear_faults()
    assert fired == [1]
    events = [
        row[0].strip()
        for row in demo_pair.query(
            "primary",
            "SELECT message_id FROM icluster_event_log WHERE group_name = 'BILLING'"
            " AND message_id IN ('SIM1001', 'SIM1002') AND message_timestamp >= %s"
            " ORDER BY message_timestamp",
            since,
        )
    ]
    primary = _commands(demo_pair, "primary", before)
    marks = [i for i, c, _, _ in primary if _verb(c) == "DMMRKPOS" and "GROUP(BILLING)" in c]
    saves = [i for i, c, _, _ in primary if _verb(c) == "SBMJOB" and "LIB(BILLIB)" in c]
    states = _states(run)
    if str(run.state) == "failed":
        assert events == ["SIM1002"], events
        assert states[("outage.mark_positions", 0)] == "failed"
        assert states[("outage.save_group", 0)] == "upstream_failed"
        assert saves == [], saves
        failure = _failure(_report(reports, run.run_id), "mark_positions")
        assert failure["group"] == "BILLING"
        assert "SIM1002" in failure["message"] and "BILLING" in failure["message"]
    else:
        (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == "outage.mark_positions"]
        assert ti.try_number == 2 and str(ti.state) == "success"
        assert events == ["SIM1002", "SIM1001"], events
        assert len(marks) == 2 and saves and min(saves) > marks[-1], (marks, saves)
        assert _in_sync(demo_pair, ["BILLIB"]) == {}
    assert check_invariants(demo_pair, since=since) == []
