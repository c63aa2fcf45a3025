"""The rehearsal DAG (runbook step a), end to end through Airflow (`dag.test`) against the
simulated pair: every group marked and timed, every group it ended started again at the
position it marked (SYSTEM first, a continuous sync check started again), the applications
never touched, nothing saved, cleared or restored; and its report feeds the forecast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ibmi_sim.testing import SimPair

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ["SYSTEM", "ORDERS", "BILLING"]
# What a rehearsal must never send (runbook step a: only DMMRKPOS and what it needs).
NEVER = {"ENDSBS", "SAVLIB", "SAV", "SAVDLO", "SAVSECDTA", "CLRLIB", "RSTLIB", "RST", "RSTDLO"}
NEVER |= {"RSTUSRPRF", "RSTAUT", "CRTSAVF", "CLRSAVF", "ENDSBS", "DMSTRSC"}

pytestmark = pytest.mark.integration


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags["icluster_rehearsal"]


def _verb(command: str) -> str:
    return command.split("(")[0].split()[0].split("/")[-1].upper()


def _commands(pair: SimPair, key: str, after: int) -> list[str]:
    rows = pair.query(key, "SELECT command FROM command_log WHERE id > %s ORDER BY id", after)
    return [row[0] for row in rows]


def _last_id(pair: SimPair, key: str) -> int:
    return int(pair.query(key, "SELECT coalesce(max(id), 0) FROM command_log")[0][0])


def _groups(pair: SimPair) -> dict[str, tuple[str, bool, Any]]:
    rows = pair.query(
        "primary",
        "SELECT group_name, status, continuous_sync_check, marked_sequence FROM icluster_groups",
    )
    return {row[0]: (row[1], bool(row[2]), row[3]) for row in rows}


def _report(reports: Path, run_id: str) -> dict[str, Any]:
    for path in reports.glob("*/report.json"):
        data = json.loads(path.read_text())
        if data["run_id"] == run_id:
            return data
    raise AssertionError(f"no report for {run_id} under {reports}")


@pytest.fixture
def continuous_sync_check_on_orders(demo_pair: SimPair):
    """ORDERS runs a continuous sync check during the test; the pair is left as found."""
    query = "UPDATE icluster_groups SET continuous_sync_check = %s WHERE group_name = 'ORDERS' "
    demo_pair.query("primary", query + "RETURNING group_name", True)
    yield
    demo_pair.query("primary", query + "RETURNING group_name", False)


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(tmp_path / "reports"))
    return tmp_path / "reports"


def test_a_rehearsal_marks_times_and_restarts_every_group(
    demo_pair: SimPair, reports: Path, continuous_sync_check_on_orders: None
) -> None:
    from ibmi_resync.forecast import forecast_from_folder
    from ibmi_resync.plan import load_plan

    before = {key: _last_id(demo_pair, key) for key in ("primary", "backup")}
    # A continuous sync check runs on ORDERS: the mark ends it, the rehearsal restarts it.
    marked_before = {name: state[2] for name, state in _groups(demo_pair).items()}

    run = _dag().test()
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states

    report = _report(reports, run.run_id)
    assert report["kind"] == "rehearsal" and report["status"] == "OK", report["reasons"]
    assert report["dag_id"] == "icluster_rehearsal"
    groups = {record["group"]: record for record in report["rehearsal"]["groups"]}
    assert list(groups) == GROUPS
    for record in groups.values():
        assert record["ended_group"] and record["marked"] and record["restarted_at_mark"], record
        assert record["end_seconds"] > 0 and record["mark_seconds"] > 0, record
        assert record["total_seconds"] >= record["end_seconds"] + record["mark_seconds"] - 0.01
        assert record["marked_position"], record
    assert groups["ORDERS"]["ended_continuous_sync_check"]
    assert groups["ORDERS"]["restarted_continuous_sync_check"]
    # The mark phase as the resync's is measured: end of the last mark - end of pre-flight.
    assert report["mark_phase_seconds"] >= max(r["total_seconds"] for r in groups.values())
    assert any("journaled" in caveat for caveat in report["caveats"])
    assert any("locks" in caveat.lower() for caveat in report["caveats"])
    assert "started each group it ended at the position it had just marked" in " ".join(
        report["notes"]
    )
    # The pre-flight's object counts are the next run's volume for the forecast.
    assert report["libraries"]["ORDLIB"]["count"] > 0

    # On the pair: every group active again, at a new mark, its continuous sync check back.
    after = _groups(demo_pair)
    assert {name: state[0] for name, state in after.items()} == dict.fromkeys(GROUPS, "*ACTIVE")
    assert after["ORDERS"][1] is True
    assert all(after[name][2] != marked_before[name] for name in GROUPS), after

    primary = _commands(demo_pair, "primary", before["primary"])
    verbs = [_verb(command) for command in primary]
    assert verbs.count("DMMRKPOS") == 3 and verbs.count("DMENDGRP") == 3
    starts = [c for c in primary if _verb(c) == "DMSTRGRP"]
    assert len(starts) == 3 and "GROUP(SYSTEM)" in starts[0], starts
    assert all("USEMARKED(*YES)" in c for c in starts), starts
    assert verbs.count("ENDHASC") == 1 and verbs.count("STRCNSC") == 1
    assert NEVER.isdisjoint(verbs), verbs
    backup = [_verb(c) for c in _commands(demo_pair, "backup", before["backup"])]
    assert NEVER.isdisjoint(backup), backup

    # The forecast reads the rehearsal: the mark phase comes from it.
    forecast = forecast_from_folder(load_plan(ROOT / "config" / "demo-plan.yaml"), reports)
    assert forecast.rehearsal == run.run_id
    mark = next(p for p in forecast.phases if p.phase == 2)
    assert mark.seconds == report["mark_phase_seconds"] and "rehearsal" in mark.source
    assert report["forecast"]["rehearsal"] == run.run_id


def test_a_dry_run_rehearsal_sends_no_changing_command(demo_pair: SimPair, reports: Path) -> None:
    before = _last_id(demo_pair, "primary")
    run = _dag().test(run_conf={"dry_run": True})
    assert str(run.state) == "success"
    sent = {_verb(c) for c in _commands(demo_pair, "primary", before)}
    assert sent <= {"CHKOBJ"}, sent
    report = _report(reports, run.run_id)
    assert report["mark_phase_seconds"] is None and report["rehearsal"]["groups"] == []


def test_a_one_group_rehearsal_restarts_that_group_only(demo_pair: SimPair, reports: Path) -> None:
    """One mapped instance (Airflow 3.3 hands a lone instance's output on as a bare dict)."""
    before = _last_id(demo_pair, "primary")
    run = _dag().test(run_conf={"groups": ["ORDERS"]})
    assert str(run.state) == "success"
    report = _report(reports, run.run_id)
    assert report["status"] == "OK", report["reasons"]
    assert [(g["group"], g["restarted_at_mark"]) for g in report["rehearsal"]["groups"]] == [
        ("ORDERS", True)
    ]
    starts = [c for c in _commands(demo_pair, "primary", before) if _verb(c) == "DMSTRGRP"]
    assert len(starts) == 1 and "GROUP(ORDERS)" in starts[0], starts
    assert {name: state[0] for name, state in _groups(demo_pair).items()} == dict.fromkeys(
        GROUPS, "*ACTIVE"
    )
