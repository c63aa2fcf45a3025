"""The audit command (issue 8 item 6): past runs from the reports the DAGs write.

The reports here are written by the real report writer (icluster_resync.reporting) from a
run's context as Airflow hands it over (task results, task states, the DagRun, the approval
task's answer), so a field the writer stops recording makes these tests fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ibmi_resync import audit
from ibmi_resync.__main__ import main
from ibmi_resync.plan import load_plan
from icluster_resync.reporting import write_run_report

ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")


@dataclass
class FakeDagRun:
    run_id: str
    dag_id: str
    run_type: str
    start_date: datetime
    triggering_user_name: str | None


@dataclass
class FakeTi:
    xcoms: dict[tuple[str, str], Any]
    states: dict[str, str]

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def get_task_states(self, dag_id: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {run_ids[0]: self.states}


@dataclass
class FakeApproval:
    task_id: str = "approve_clearing"
    subject: str = "Clear the target libraries on BACKUP and restore them?"
    options: list[str] = field(default_factory=lambda: ["Approve", "Reject"])


@dataclass
class FakeDag:
    tasks: list[Any]


def _entry(at: str, text: str, group: str | None = None, phase: int = 1) -> dict[str, Any]:
    return {
        "at": at,
        "phase": phase,
        "node": "PRIMARY",
        "kind": "CL",
        "group": group,
        "text": text,
        "result": "OK",
        "detail": "",
    }


def _write(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    run_id: str,
    dag_id: str = "icluster_resync",
    user: str | None,
    run_type: str,
    approval: Any = None,
    approval_state: str = "success",
    outage: bool = True,
    final_failed: bool = False,
    groups: tuple[str, ...] = ("ORDERS",),
    dry_run: bool = False,
) -> dict[str, Any]:
    """One run's report, written the way the DAG's report task writes it."""
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(folder))
    day = run_id[-10:] if run_id[-10:-6] == "2026" else "2026-11-01"
    log = []
    if outage:
        log += [
            _entry(f"{day}T01:00:00+00:00", "QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD)"),
            _entry(f"{day}T01:20:30+00:00", "QSYS/STRSBS SBSD(APPLIB/APPSBS)", phase=3),
        ]
    log.append(_entry(f"{day}T01:45:00+00:00", "ICLUSTER/DMSTRSC", groups[0], phase=11))
    results = {("preflight", "return_value"): {"task": "preflight", "log": log}}
    results[("replicate.final_sync_check", "return_value")] = [
        {"task": "final_sync_check", "group": group, "log": []} for group in groups
    ]
    states = {"preflight": "success", "replicate.final_sync_check": "success"}
    if final_failed:
        states["replicate.final_sync_check"] = "failed"
        results[("replicate.final_sync_check", "failure")] = {
            "task": "final_sync_check",
            "group": groups[0],
            "message": "PRIMARY, phase 11: wait for SIM1201 timed out",
        }
    tasks: list[Any] = []
    if approval is not None or approval_state == "failed":
        tasks.append(FakeApproval())
        states["approve_clearing"] = approval_state
        if approval is not None:
            results[("approve_clearing", "return_value")] = approval
    context = {
        "ti": FakeTi(results, states),
        "dag_run": FakeDagRun(
            run_id, dag_id, run_type, datetime.fromisoformat(f"{day}T00:59:58+00:00"), user
        ),
        "dag": FakeDag(tasks),
        "params": {"groups": list(groups), "dry_run": dry_run},
    }
    write_run_report(context, PLAN, ["preflight", "replicate.final_sync_check"])
    return json.loads(next(folder.glob(f"{run_id.replace(':', '_')}/report.json")).read_text())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "reports"


def test_a_manual_approved_resync_says_who_triggered_and_who_approved(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = {
        "chosen_options": ["Approve"],
        "params_input": {},
        "responded_at": "2026-11-01T01:25:07+00:00",
        "responded_by_user": {"id": "7", "name": "operator.jane"},
    }
    report = _write(
        folder,
        monkeypatch,
        run_id="manual__2026-11-01",
        user="admin",
        run_type="manual",
        approval=answer,
    )
    assert report["dag_id"] == "icluster_resync" and report["triggered_by"] == "admin"
    (row,) = audit.audit_rows(audit.load_reports(folder)[0])
    assert (row.run_id, row.dag_id, row.triggered_by) == (
        "manual__2026-11-01",
        "icluster_resync",
        "admin",
    )
    assert row.start == "2026-11-01T00:59:58+00:00" and row.end is not None
    assert row.approvals == [
        {
            "task": "approve_clearing",
            "subject": "Clear the target libraries on BACKUP and restore them?",
            "answer": "Approve",
            "by": "operator.jane",
            "at": "2026-11-01T01:25:07+00:00",
        }
    ]
    assert row.groups == ["ORDERS"] and row.result == "OK"
    assert (row.outage_start, row.outage_end, row.outage_seconds) == (
        "2026-11-01T01:00:00+00:00",
        "2026-11-01T01:20:30+00:00",
        1230.0,
    )
    table = audit.render_table([row])
    assert "Approve by operator.jane at 2026-11-01 01:25:07 (approve_clearing)" in table
    assert "2026-11-01 01:00:00 - 01:20:30 (1230 s)" in table


def test_scheduled_rejected_failed_and_network_runs(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(
        folder,
        monkeypatch,
        run_id="scheduled__2026-11-08",
        user=None,
        run_type="scheduled",
        approval_state="failed",
        final_failed=True,
    )
    _write(
        folder,
        monkeypatch,
        run_id="manual__2026-11-09",
        dag_id="icluster_network_sync",
        user="operator.joe",
        run_type="manual",
        outage=False,
        groups=("BILLING",),
    )
    rows = {row.run_id: row for row in audit.audit_rows(audit.load_reports(folder)[0])}
    scheduled = rows["scheduled__2026-11-08"]
    assert scheduled.triggered_by == "scheduler"
    assert (
        scheduled.approvals[0]["answer"] == "Reject" and scheduled.approvals[0]["by"] == "unknown"
    )
    assert scheduled.result == "FAIL"
    assert any("wait for SIM1201 timed out" in reason for reason in scheduled.reasons)
    network = rows["manual__2026-11-09"]
    assert (network.dag_id, network.triggered_by, network.groups) == (
        "icluster_network_sync",
        "operator.joe",
        ["BILLING"],
    )
    assert network.outage_start is None and network.approvals == []
    table = audit.render_table(list(rows.values()))
    assert "Why:" in table and "scheduled__2026-11-08: " in table
    line = next(x for x in table.splitlines() if x.startswith("manual__2026-11-09"))
    assert line.split()[-1] == "none"  # no outage window


def test_since_filters_and_orders_oldest_first(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in ("2026-11-20", "2026-10-02", "2026-11-05"):
        _write(folder, monkeypatch, run_id=f"manual__{day}", user="admin", run_type="manual")
    reports, _ = audit.load_reports(folder)
    assert [r.run_id for r in audit.audit_rows(reports)] == [
        "manual__2026-10-02",
        "manual__2026-11-05",
        "manual__2026-11-20",
    ]
    since = audit.parse_since("2026-11-05")
    assert since == datetime(2026, 11, 5, tzinfo=UTC)
    assert [r.run_id for r in audit.audit_rows(reports, since=since)] == [
        "manual__2026-11-05",  # started 00:59:58 that day
        "manual__2026-11-20",
    ]
    assert [r.run_id for r in audit.audit_rows(reports, since=audit.parse_since("2026-11-06"))] == [
        "manual__2026-11-20"
    ]
    with pytest.raises(ValueError, match="--since"):
        audit.parse_since("last tuesday")


def test_an_older_report_and_an_unreadable_file(folder: Path) -> None:
    (folder / "old").mkdir(parents=True)
    (folder / "old" / "report.json").write_text(
        json.dumps(
            {
                "run_id": "scheduled__2026-09-06T01:00:00+00:00",
                "plan": "demo-pair",
                "triggered_by": None,
                "params": {"groups": [], "dry_run": True},
                "status": "OK",
                "reasons": [],
                "outage": {"applications_down": None, "applications_up": None, "seconds": None},
                "started": "2026-09-06T01:00:02+00:00",
                "ended": "2026-09-06T01:00:09+00:00",
                "approvals": [],
                "groups": [],
            }
        )
    )
    (folder / "broken").mkdir()
    (folder / "broken" / "report.json").write_text("{not json")
    reports, unreadable = audit.load_reports(folder)
    assert len(unreadable) == 1 and "broken" in unreadable[0]
    (row,) = audit.audit_rows(reports)
    assert (row.dag_id, row.triggered_by, row.dry_run) == ("icluster_resync", "scheduler", True)
    assert "OK (dry run)" in audit.render_table([row])


def test_the_command_line(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(folder, monkeypatch, run_id="manual__2026-11-01", user="admin", run_type="manual")
    _write(
        folder,
        monkeypatch,
        run_id="manual__2026-11-02",
        dag_id="icluster_network_sync",
        user="admin",
        run_type="manual",
        outage=False,
    )
    assert main(["audit", "--reports", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["RUN", "ID", "DAG"]
    assert [line.split()[0] for line in out[1:]] == ["manual__2026-11-01", "manual__2026-11-02"]
    assert main(["audit", "--reports", str(folder), "--json", "--since", "2026-11-02"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert only["dag_id"] == "icluster_network_sync" and only["triggered_by"] == "admin"
    assert main(["audit", "--reports", str(folder), "--json", "--dag", "icluster_resync"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["manual__2026-11-01"]
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(folder))
    assert main(["audit"]) == 0 and "manual__2026-11-02" in capsys.readouterr().out
    assert main(["audit", "--reports", str(folder / "nowhere")]) == 2
    assert "no reports folder" in capsys.readouterr().err
