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

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ibmi_sim.invariants import Violation, check_invariants
from ibmi_sim.testing import SimPair, unique_tag
from tests.e2e.conftest import DEMO_PLAN, running_pair
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


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    """A pair of its own: the faults below leave it the way failed runs leave a real pair,
    which must not reach the other end-to-end tests."""
    with running_pair(tmp_path_factory.mktemp("fault_sim_state"), unique_tag("t")) as pair:
        yield pair


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


def test_a_backup_answering_primary_is_never_cleared(demo_pair: SimPair, reports: Path) -> None:
    """BACKUP answers ROLE=PRIMARY (ICSIM.LOCAL_NODE). The run must fail before any CLRLIB or
    restore reaches it, naming the node and the role it answered: pre-flight asks both nodes,
    so it stops before the applications are ended."""
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
    assert failed == ["preflight"], failed
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


def test_a_save_file_corrupted_in_transit_is_moved_again(demo_pair: SimPair, reports: Path) -> None:
    """The SFTP write of RSYNCSAVF/ORDLIB on BACKUP gets one byte flipped. The product compares
    sha256 on both ends, sees the mismatch and moves the file again; the run succeeds and the
    restored library matches PRIMARY object for object."""
    since = datetime.now(UTC)
    demo_pair.add_fault("backup", "corrupt_transfer", target="RSYNCSAVF/ORDLIB")
    try:
        run = _run(["ORDERS"])
        fired = [f for f in demo_pair.faults("backup") if f["kind"] == "corrupt_transfer"]
    finally:
        demo_pair.clear_faults()
    assert fired and fired[0]["fired"] == 1, fired
    states = _states(run)
    assert str(run.state) == "success", sorted(k for k, v in states.items() if v == "failed")
    assert states[("move.transfer_group", 0)] == "success"
    assert _in_sync(demo_pair, ["ORDLIB", "ORDHIST"]) == {}
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
    # ORDLIB's two objects are reported (CPF3756), so none of ORDLIB counts as lost, and
    # ORDHIST, cleared in step 5 as well, still got its restore: the group's restores go on
    # after a partial one, and the task fails at its end. So every invariant holds: nothing
    # destructive on PRIMARY, no cleared library without a restore attempt, nothing lost.
    assert "ORDHIST" not in failure["message"].split(":", 1)[1]
    assert _in_sync(demo_pair, ["ORDHIST"]) == {}
    assert check_invariants(demo_pair, since=since) == []


@pytest.fixture
def short_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo plan with 20-second mark and latency timeouts, so a wait that cannot end
    fails within the test (the plan's timeouts are real seconds; the pair's clock is fast)."""
    plan = yaml.safe_load(DEMO_PLAN.read_text())
    plan["timeouts"] = {**plan["timeouts"], "mark_positions": 20, "latency": 20}
    plan["site_profile"] = str(DEMO_PLAN.parent / plan["site_profile"])
    path = tmp_path / "plan-short-waits.yaml"
    path.write_text(yaml.safe_dump(plan))
    monkeypatch.setenv("IBMI_RESYNC_PLAN", str(path))
    return path


def _converged(pair: SimPair, libraries: list[str], seconds: float = 30.0) -> dict:
    """Libraries still different after up to ``seconds``: the application keeps journaling
    on PRIMARY, so BACKUP may trail by the entries in flight; a lost object never converges."""
    deadline = time.monotonic() + seconds
    while (differ := _in_sync(pair, libraries)) and time.monotonic() < deadline:
        time.sleep(1)
    return differ


def _group_status(pair: SimPair, group: str) -> str:
    rows = pair.query("primary", "SELECT status FROM icluster_groups WHERE group_name = %s", group)
    return str(rows[0][0]).strip() if rows else ""


def _wait_for(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.5)


def _primary_verbs(pair: SimPair, after: int) -> list[str]:
    return [_verb(c[1]) for c in _commands(pair, "primary", after)]


def test_a_full_backup_stops_the_run_in_preflight(demo_pair: SimPair, reports: Path) -> None:
    """BACKUP's system ASP is 99.5 % used: pre-flight refuses (the save files and restores
    need room) before the applications are ended, naming the node and the free space."""
    since, before = datetime.now(UTC), _last_id(demo_pair, "primary")
    demo_pair.add_fault("backup", "out_of_storage")
    try:
        run = _run(["BILLING"])
    finally:
        demo_pair.clear_faults()
    assert str(run.state) == "failed"
    assert _states(run)[("preflight", -1)] == "failed"
    assert "ENDSBS" not in _primary_verbs(demo_pair, before)
    failure = _failure(_report(reports, run.run_id), "preflight")
    assert "SIMBCK" in failure["message"] and "% storage free" in failure["message"]
    assert check_invariants(demo_pair, since=since) == []


def test_an_expired_password_stops_the_run_in_preflight(demo_pair: SimPair, reports: Path) -> None:
    """PRIMARY refuses the sign-on (password expired, SIM2001 in the banner): pre-flight fails
    naming the node, and nothing is sent to either node."""
    since, before = datetime.now(UTC), _last_id(demo_pair, "primary")
    demo_pair.add_fault("primary", "password_expired")
    try:
        run = _run(["BILLING"])
    finally:
        demo_pair.clear_faults()
    assert str(run.state) == "failed"
    assert _states(run)[("preflight", -1)] == "failed"
    assert _commands(demo_pair, "primary", before) == []
    failure = _failure(_report(reports, run.run_id), "preflight")
    assert "SIMPRI" in failure["message"] and "SIM2001" in failure["message"], failure
    (preflight,) = [ti for ti in run.get_task_instances() if ti.task_id == "preflight"]
    assert preflight.try_number == 1  # the node said why: retrying would not change it
    assert check_invariants(demo_pair, since=since) == []


def test_a_node_unreachable_for_a_while_is_retried(demo_pair: SimPair, reports: Path) -> None:
    """BACKUP refuses connections for 40 s when the run starts: pre-flight fails on the
    connection, a retry (30 s apart) finds the node back and the run succeeds."""
    since = datetime.now(UTC)
    # 40 s: longer than the time dag.test takes to reach pre-flight on a busy machine, shorter
    # than the two retries (30 s apart) the task has.
    demo_pair.add_fault("backup", "unreachable", seconds=40)
    try:
        run = _run(["BILLING"])
    finally:
        demo_pair.clear_faults()
    states = _states(run)
    assert str(run.state) == "success", sorted(k for k, v in states.items() if v != "success")
    (preflight,) = [ti for ti in run.get_task_instances() if ti.task_id == "preflight"]
    assert preflight.try_number in (2, 3)
    assert _converged(demo_pair, ["BILLIB"]) == {}
    assert check_invariants(demo_pair, since=since) == []


def test_an_ssh_connection_dropped_mid_command_is_retried(
    demo_pair: SimPair, reports: Path
) -> None:
    """The first SSH command BACKUP gets in the run loses its channel mid-command (no exit
    status): that attempt fails on the transport, the retry runs the task's steps again,
    each guarded, and the run succeeds with the pair in sync."""
    since = datetime.now(UTC)
    demo_pair.add_fault("backup", "drop_ssh")
    try:
        run = _run(["BILLING"])
        fired = [f["fired"] for f in demo_pair.faults("backup") if f["kind"] == "drop_ssh"]
    finally:
        demo_pair.clear_faults()
    assert fired == [1]
    assert str(run.state) == "success", _report(reports, run.run_id)["failures"]
    retried = [ti.task_id for ti in run.get_task_instances() if ti.try_number > 1]
    assert len(retried) == 1, retried
    assert _converged(demo_pair, ["BILLIB"]) == {}
    assert check_invariants(demo_pair, since=since) == []


def test_a_worker_lost_after_submitting_a_restore_attaches_to_it_on_retry(
    demo_pair: SimPair, reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies right after BACKUP accepted the RSTLIB batch job (emulated in dag.test:
    the attempt ends with an error at that point, as a killed process would). The retry
    looks for the job before submitting (JOB_INFO, any state), finds it ended clean and
    attaches to it: BILLIB is restored once, and the run ends with it in sync."""
    from ibmi_resync.executor import Executor

    since = datetime.now(UTC)
    original = Executor._sbmjob
    lost: list[str] = []

    def submit_then_die(self: Executor, index: int, step) -> None:
        original(self, index, step)
        if step.job and step.job.startswith("RL") and not lost:
            lost.append(step.job)
            raise RuntimeError("worker lost (emulated)")

    monkeypatch.setitem(Executor._handlers, "SBMJOB", submit_then_die)
    run = _run(["BILLING"])
    states = _states(run)
    assert lost, "no restore was submitted"
    assert str(run.state) == "success", sorted(k for k, v in states.items() if v != "success")
    jobs = demo_pair.query(
        "backup",
        "SELECT started_at, ended_at FROM jobs WHERE job_name = %s ORDER BY started_at",
        lost[0],
    )
    # The retry found the restore the lost attempt submitted, ended clean, and attached to it
    # (its job log was checked as if the attempt had waited): BILLIB was restored once.
    assert len(jobs) == 1, jobs
    assert _converged(demo_pair, ["BILLIB"]) == {}
    assert check_invariants(demo_pair, since=since) == []


def test_a_slow_mark_is_waited_for(demo_pair: SimPair, reports: Path) -> None:
    """BILLING's mark completes 4 s late: the deferred wait keeps polling the event log and the
    run succeeds; the mark task took at least that long."""
    since = datetime.now(UTC)
    demo_pair.add_fault("primary", "mark_slow", target="BILLING", seconds=4)
    try:
        run = _run(["BILLING"])
    finally:
        demo_pair.clear_faults()
    states = _states(run)
    assert str(run.state) == "success", sorted(k for k, v in states.items() if v != "success")
    # the group's mark is the first phase of its mark-and-save task: its bar in the report
    bars = _report(reports, run.run_id)["timeline"]
    (mark,) = [b for b in bars if b["task"] == "mark_and_save" and b["phase"] == 2]
    took = datetime.fromisoformat(mark["end"]) - datetime.fromisoformat(mark["start"])
    assert mark["group"] == "BILLING" and took.total_seconds() >= 4, mark
    assert check_invariants(demo_pair, since=since) == []


@pytest.mark.parametrize(
    ("kind", "verdict"), [("latency_stuck", "timed out"), ("apply_frozen", "apply frozen")]
)
def test_latency_that_does_not_resolve_fails_the_wait_with_what_it_saw(
    demo_pair: SimPair, reports: Path, short_waits: Path, kind: str, verdict: str
) -> None:
    """BILLING's latency stays high (latency_stuck): the latency wait times out after the
    plan's 20 s. Its apply stops while the application journals (apply_frozen): the wait
    sees the last applied entry stand still and fails before its timeout. Either way the
    failure names the group and the latency it last saw, and the final sync check does not
    run. The restore is done by then, so nothing is lost."""
    since, before = datetime.now(UTC), _last_id(demo_pair, "primary")
    demo_pair.add_fault("primary", kind, target="BILLING")
    try:
        run = _run(["BILLING"])
    finally:
        demo_pair.clear_faults()
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("replicate.replicate_group", 0)] == "failed", states
    failure = _failure(_report(reports, run.run_id), "replicate_group")
    assert failure["group"] == "BILLING" and verdict in failure["message"], failure
    assert "phase 10 (latency)" in failure["message"], failure
    # the sync check of phase 8 ran; the final one (phase 11, same task) did not
    checks = [
        c
        for _, c, _, _ in _commands(demo_pair, "primary", before)
        if _verb(c) == "DMSTRSC" and "GROUP(BILLING)" in c
    ]
    assert len(checks) == 1, checks
    assert check_invariants(demo_pair, since=since) == []


def test_a_missing_completion_message_fails_the_mark_wait(
    demo_pair: SimPair, reports: Path, short_waits: Path
) -> None:
    """BILLING's mark completion message never reaches the event log: the mark wait times out
    after the plan's 20 s naming the group and what it last saw, and nothing of BILLING is
    saved without its marked position."""
    # The group is ended first, so the mark's SIM1001 is the next completion message the
    # group writes (the fault loses exactly one, and the end's own message comes first).
    ended = demo_pair.run(
        "primary", "system 'ICLUSTER/DMENDGRP GROUP(BILLING) OPTION(*CNTRLD) DELAY(120)'"
    )
    assert ended.rc == 0 or "SIM1012" in ended.stderr, ended  # SIM1012: not active
    _wait_for(lambda: _group_status(demo_pair, "BILLING") == "*INACTIVE")
    since, before = datetime.now(UTC), _last_id(demo_pair, "primary")
    demo_pair.add_fault("primary", "event_missing", target="BILLING")
    try:
        run = _run(["BILLING"])
    finally:
        demo_pair.clear_faults()
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("outage.mark_and_save", 0)] == "failed", states
    saves = [c for _, c, _, _ in _commands(demo_pair, "primary", before) if "LIB(BILLIB)" in c]
    assert not [c for c in saves if "SAVLIB" in c], saves
    failure = _failure(_report(reports, run.run_id), "mark_and_save")
    assert failure["group"] == "BILLING" and "timed out" in failure["message"]
    assert "phase 2 (mark_positions)" in failure["message"], failure
    assert check_invariants(demo_pair, since=since) == []


def test_a_failed_mark_never_lets_the_group_save_unmarked(
    demo_pair: SimPair, reports: Path
) -> None:
    """DMMRKPOS answers SIM1002 for BILLING: the mark task fails naming the group and SIM1002,
    once (not retried), and nothing of BILLING is saved. (Last: a failing run leaves the
    applications ended; the next resync ends and restarts them itself.)"""
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
    assert str(run.state) == "failed"
    assert events == ["SIM1002"], events  # marked once: a failed mark is final, not retried
    assert len(marks) == 1 and saves == [], (marks, saves)
    assert states[("outage.mark_and_save", 0)] == "failed"
    failure = _failure(_report(reports, run.run_id), "mark_and_save")
    assert failure["group"] == "BILLING"
    assert "SIM1002" in failure["message"] and "BILLING" in failure["message"]
    assert check_invariants(demo_pair, since=since) == []
