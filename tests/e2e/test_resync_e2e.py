"""The resync DAG, end to end, through Airflow (`dag.test`) against the simulated pair.

Each test runs the real DAG file with the real operators, triggers and transports (SSHHook,
SFTP, OdbcHook over psqlODBC) against ``ibmi_sim``; the assertions read the simulator's own
records (command log, jobs, objects), not the product's view of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ibmi_sim.testing import SimPair
from tests.e2e.approvals import ApprovalAnswer

ROOT = Path(__file__).resolve().parents[2]
GROUP_LIBRARIES = {"SYSTEM": ["SECLIB"], "ORDERS": ["ORDLIB", "ORDHIST"], "BILLING": ["BILLIB"]}
DESTRUCTIVE = ("CLRLIB", "DLTLIB", "RSTLIB", "RSTOBJ", "RST ", "RSTDLO", "RSTUSRPRF", "RSTAUT")

pytestmark = pytest.mark.integration


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags["icluster_resync"]


def _states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


def _commands(pair: SimPair, key: str, after: int = 0) -> list[tuple[int, str, str, int]]:
    """(id, command, job, exit status) of the node's command log after id ``after``."""
    return [
        (int(row[0]), row[1], row[2] or "", int(row[3]))
        for row in pair.query(
            key,
            "SELECT id, command, job, exit_status FROM command_log WHERE id > %s ORDER BY id",
            after,
        )
    ]


def _last_id(pair: SimPair, key: str) -> int:
    return int(pair.query(key, "SELECT coalesce(max(id), 0) FROM command_log")[0][0])


def _verb(command: str) -> str:
    """CL verb of a logged command: 'QSYS/RSTLIB SAVLIB(X) ...' -> 'RSTLIB'."""
    return command.split("(")[0].split()[0].split("/")[-1].upper()


def _report(reports: Path, run_id: str) -> dict[str, Any]:
    matches = [
        p for p in reports.glob("*/report.json") if json.loads(p.read_text())["run_id"] == run_id
    ]
    assert matches, f"no report for {run_id} under {reports}"
    return json.loads(matches[0].read_text())


def _in_sync(pair: SimPair, libraries: list[str]) -> dict[str, tuple[list, list]]:
    """Libraries whose objects differ between the nodes (name, type, size, content)."""
    return pair.library_differences(libraries)


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(tmp_path / "reports"))
    return tmp_path / "reports"


def test_a_three_group_resync_leaves_the_pair_in_sync(demo_pair: SimPair, reports: Path) -> None:
    before = {key: _last_id(demo_pair, key) for key in ("primary", "backup")}
    run = _dag().test(run_conf={"approvals_required": False})
    states = _states(run)
    failed = sorted(f"{t}[{i}]" for (t, i), s in states.items() if s == "failed")
    assert str(run.state) == "success", failed

    report = _report(reports, run.run_id)
    assert report["status"] in ("OK", "WARN"), report["reasons"]
    # Phase 8 runs before replication restarts, so changes made after the mark may count
    # there (a WARN); the final sync check, after latency resolved, must find none.
    checks = {
        g["group"]: {c["phase"]: c["differences"] for c in g["sync_checks"]}
        for g in report["groups"]
    }
    assert {group: phases[11] for group, phases in checks.items()} == dict.fromkeys(
        GROUP_LIBRARIES, 0
    ), checks

    # The pair is in sync, object for object, in every library of every group.
    libraries = [lib for libs in GROUP_LIBRARIES.values() for lib in libs]
    assert _in_sync(demo_pair, libraries) == {}

    # No destructive command ever reached PRIMARY.
    primary = _commands(demo_pair, "primary", before["primary"])
    assert [c for c in primary if _verb(c[1]) in {v.strip() for v in DESTRUCTIVE}] == []

    # The SYSTEM group started before the others (runbook step 10).
    starts = [c[1] for c in primary if _verb(c[1]) == "DMSTRGRP" and c[3] == 0]
    assert len(starts) == 3 and "GROUP(SYSTEM)" in starts[0], starts

    # Restores on BACKUP ran in the documented order (ibmi.md §5.2): profiles first,
    # authorities last, and within a group its libraries before its IFS and DLO (different
    # groups overlap, as the order allows).
    backup = [c[1] for c in _commands(demo_pair, "backup", before["backup"])]
    restores = [c for c in backup if _verb(c).startswith("RST")]
    order = [_verb(c) for c in restores]
    assert order[0] == "RSTUSRPRF" and order[-1] == "RSTAUT", order

    def position(verb: str, text: str) -> int:
        return next(i for i, c in enumerate(restores) if _verb(c) == verb and text in c)

    assert position("RST", "/home/orders") > max(
        position("RSTLIB", "SAVLIB(ORDLIB)"), position("RSTLIB", "SAVLIB(ORDHIST)")
    )
    assert position("RSTDLO", "INVOICES") > position("RSTLIB", "SAVLIB(BILLIB)")

    # The applications were down only from phase 1 to phase 3.
    outage = report["outage"]
    assert outage["applications_down"] and outage["applications_up"]
    assert outage["applications_down"] < outage["applications_up"]


def test_a_dry_run_sends_no_changing_command(demo_pair: SimPair, reports: Path) -> None:
    before = {key: _last_id(demo_pair, key) for key in ("primary", "backup")}
    run = _dag().test(run_conf={"dry_run": True})
    assert str(run.state) == "success"
    for key in ("primary", "backup"):
        sent = [_verb(c[1]) for c in _commands(demo_pair, key, before[key])]
        # Pre-flight's reachability probe is the only CL a dry run sends; it changes nothing.
        assert sent == ["CHKOBJ"], (key, sent)


def test_a_one_group_run_touches_only_that_group(demo_pair: SimPair, reports: Path) -> None:
    before = {key: _last_id(demo_pair, key) for key in ("primary", "backup")}
    run = _dag().test(run_conf={"groups": ["BILLING"], "approvals_required": False})
    states = _states(run)
    assert str(run.state) == "success", sorted(k for k, s in states.items() if s == "failed")
    assert sorted(i for (t, i) in states if t == "outage.mark_and_save") == [0]
    sent = [c[1] for key in ("primary", "backup") for c in _commands(demo_pair, key, before[key])]
    others = ("SYSTEM", "ORDERS", "SECLIB", "ORDLIB", "ORDHIST", "/home/orders")
    assert [c for c in sent if any(name in c for name in others)] == []
    assert any("GROUP(BILLING)" in c for c in sent) and any("BILLIB" in c for c in sent)
    assert _in_sync(demo_pair, ["BILLIB"]) == {}
    # The report compares the run with the forecast and the runs before it (in this session).
    comparison = _report(reports, run.run_id)["comparison"]
    assert "error" not in comparison, comparison
    assert comparison["this_run"]["run_id"] == run.run_id
    assert comparison["this_run"]["outage_seconds"] is not None


def test_no_secret_reaches_logs_xcom_report_or_plan_output(
    demo_pair: SimPair,
    reports: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 6 item 7. The connections carry an SSH password (next to the key) and an ODBC
    password; after a one-group run neither, nor any line of the private key, is in the task
    logs, the run's XComs, the report (JSON and HTML) or the plan output."""
    import logging

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    odbc_secret = "Odbc-S3cret-4711"
    secrets = {"simpass1", odbc_secret}
    for name, value in demo_pair.airflow_env().items():
        conn = json.loads(value)
        if conn["conn_type"] == "ssh":
            conn["password"] = "simpass1"
            key_file = Path(conn["extra"]["key_file"])
            secrets |= {
                line.strip()
                for line in key_file.read_text().splitlines()
                if len(line.strip()) > 20 and "PRIVATE KEY" not in line
            }
        else:
            conn["password"] = odbc_secret
        monkeypatch.setenv(name, json.dumps(conn))
    caplog.set_level(logging.INFO)
    run = _dag().test(run_conf={"groups": ["BILLING"], "approvals_required": False})
    assert str(run.state) == "success"
    with create_session() as session:
        xcoms = [
            json.dumps(row.value, default=str)
            for row in session.query(XComModel).filter(XComModel.run_id == run.run_id)
        ]
    assert xcoms  # the tasks did push what they learned
    report_files = [p for p in reports.rglob("*") if p.is_file()]
    assert report_files
    from ibmi_resync.__main__ import main as resync_cli

    for extra in ([], ["--json"], ["--shell"]):
        resync_cli(["plan", str(ROOT / "config" / "demo-plan.yaml"), *extra])
    places = {
        "task logs": caplog.text + capsys.readouterr().out,
        "xcom": "\n".join(xcoms),
        **{str(p): p.read_text(errors="replace") for p in report_files},
    }
    assert "BILLIB" in places["task logs"]  # the run's task logs were captured
    leaks = {
        (where, secret[:8])
        for where, text in places.items()
        for secret in secrets
        if secret in text
    }
    assert leaks == set()


def test_an_approved_run_records_who_approved(demo_pair: SimPair, reports: Path) -> None:
    answer = ApprovalAnswer("Approve", "operator.jane")
    answer.start()
    try:
        run = _dag().test(run_conf={"groups": ["ORDERS"], "approvals_required": True})
    finally:
        answer.stop.set()
    assert answer.asked == run.run_id  # the run really waited for a person
    assert str(run.state) == "success"
    report = _report(reports, run.run_id)
    (approval,) = report["approvals"]
    assert "operator.jane" in json.dumps(approval)


def test_a_rejected_run_fails_before_any_library_is_cleared(
    demo_pair: SimPair, reports: Path
) -> None:
    before = _last_id(demo_pair, "backup")
    answer = ApprovalAnswer("Reject", "operator.joe")
    answer.start()
    try:
        run = _dag().test(run_conf={"groups": ["ORDERS"], "approvals_required": True})
    finally:
        answer.stop.set()
    assert answer.asked == run.run_id
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("approve_clearing", -1)] == "failed"
    assert all(s != "success" for (t, _), s in states.items() if t.startswith("clear"))
    backup = [_verb(c[1]) for c in _commands(demo_pair, "backup", before)]
    assert "CLRLIB" not in backup and not any(v.startswith("RST") for v in backup), backup


def test_a_partial_save_stops_before_the_applications_restart(
    demo_pair: SimPair, reports: Path
) -> None:
    """Two objects of ORDHIST are locked when its save runs (a job started after the
    applications ended): the save is partial, the run stops with the objects named, and
    the applications stay down for the operator to decide. (Last in this module: it leaves
    the applications ended, as a real run would.)"""
    before = _last_id(demo_pair, "primary")
    demo_pair.add_fault("primary", "lock_on_save", target="ORDHIST", count=2)
    try:
        run = _dag().test(run_conf={"groups": ["ORDERS"], "approvals_required": False})
    finally:
        demo_pair.clear_faults()
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("outage.mark_and_save", 0)] == "failed"
    assert states[("restart_applications", -1)] == "upstream_failed"
    primary = [_verb(c[1]) for c in _commands(demo_pair, "primary", before)]
    assert "STRSBS" not in primary, primary
    status = demo_pair.query("primary", "SELECT status FROM subsystems WHERE name = %s", "APPSBS")
    assert status and status[0][0].strip() != "ACTIVE", status
    report = _report(reports, run.run_id)
    (failure,) = [f for f in report["failures"] if f["task"] == "mark_and_save"]
    assert failure["group"] == "ORDERS"
    assert "ORDHIST" in failure["message"] and "2 not saved" in failure["message"]
    assert "locked now:" in failure["message"] and "SIMLOCKER" in failure["message"]
