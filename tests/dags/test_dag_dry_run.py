"""The whole DAG under `dag.test()` as a dry run, against scripted nodes: every task runs (one
mapped instance per group, one-group runs included), nothing that changes a node is sent,
and a failure in pre-flight fails the run with a report that names it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ibmi_resync.node import IbmiNode

ROOT = Path(__file__).resolve().parents[2]


class Scripted:
    """Answers like a healthy pair; records every command line sent."""

    def __init__(self, name: str, role: str, sent: list[str]) -> None:
        self.name, self.role, self.sent = name, role, sent

    def execute(self, line: str) -> tuple[int, str, str]:
        self.sent.append(line)
        return 0, "", ""

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        if "LOCAL_NODE" in text:
            return [{"NODE": self.name, "ROLE": self.role}]
        status = "*ACTIVE" if "ICSIM" in text else "ACTIVE"
        return [{"STATUS": status, "OBJECT_COUNT": 3, "SYSTEM_ASP_USED": 40.0}]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> list[str]:
    from icluster_resync import operators

    lines: list[str] = []

    @contextlib.contextmanager
    def scripted_node(plan, role, *, dry_run=False, journal=None) -> Iterator[IbmiNode]:
        spec = plan.primary if role == "PRIMARY" else plan.backup
        fake = Scripted(spec.name, spec.role, lines)
        yield IbmiNode(
            name=spec.name,
            role=spec.role,
            shell=fake,
            database=fake,
            profile=plan.site_profile,
            dry_run=dry_run,
        )

    monkeypatch.setattr(operators, "open_node", scripted_node)
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(airflow_db / "reports"))
    return lines


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags["icluster_resync"]


def _states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


@pytest.mark.parametrize("groups", [["ORDERS"], ["SYSTEM", "ORDERS", "BILLING"]])
def test_a_dry_run_walks_every_task_and_sends_only_reads(sent: list[str], groups) -> None:
    run = _dag().test(run_conf={"dry_run": True, "groups": groups})
    states = _states(run)
    assert str(run.state) == "success"
    for task in (
        "outage.mark_positions",
        "outage.save_group",
        "restore.restore_group",
        "replicate.final_sync_check",
    ):
        indexes = sorted(index for (task_id, index) in states if task_id == task)
        assert indexes == list(range(len(groups))), (task, indexes)
        assert all(states[(task, index)] == "success" for index in indexes)
    assert states[("approve_clearing", -1)] == "skipped"  # a dry run needs no approval
    # The grid labels each mapped instance with its group's name.
    labels = {
        ti.rendered_map_index
        for ti in run.get_task_instances()
        if ti.task_id == "outage.mark_positions"
    }
    assert labels == set(groups)
    # Only pre-flight talks to the nodes in a dry run, and it only reads.
    assert sent == ["system 'QSYS/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)'"] * 2


def test_a_failed_preflight_fails_the_run_and_the_report_says_why(
    sent: list[str], monkeypatch: pytest.MonkeyPatch, airflow_db: Path
) -> None:
    monkeypatch.setattr(Scripted, "fetch", lambda self, text, params: [])
    run = _dag().test(run_conf={"dry_run": True, "groups": ["ORDERS"]})
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("preflight", -1)] == "failed"
    assert states[("end_applications", -1)] == "upstream_failed"
    reports = sorted((airflow_db / "reports").glob("*/report.json"))
    report = json.loads(reports[-1].read_text())
    assert report["status"] == "FAIL"
    assert report["reasons"][0] == "tasks failed: preflight"
