"""The whole DAG under `dag.test()` as a dry run, against scripted nodes: every task runs (one
mapped instance per group, one-group runs included), nothing that changes a node is sent,
and a failure in pre-flight fails the run with a report that names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dags.fake_pair import HealthyNode, install

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> list[str]:
    return install(monkeypatch, airflow_db / "reports", everything=False)


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
        "outage.mark_and_save",
        "restore.restore_group",
        "replicate.replicate_group",
    ):
        indexes = sorted(index for (task_id, index) in states if task_id == task)
        assert indexes == list(range(len(groups))), (task, indexes)
        assert all(states[(task, index)] == "success" for index in indexes)
    assert states[("approve_clearing", -1)] == "skipped"  # a dry run needs no approval
    # The grid labels each mapped instance with its group's name.
    labels = {
        ti.rendered_map_index
        for ti in run.get_task_instances()
        if ti.task_id == "outage.mark_and_save"
    }
    assert labels == set(groups)
    # Only pre-flight talks to the nodes in a dry run, and it only reads.
    assert sent == ["system 'QSYS/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)'"] * 2


def test_a_failed_preflight_fails_the_run_and_the_report_says_why(
    sent: list[str], monkeypatch: pytest.MonkeyPatch, airflow_db: Path
) -> None:
    monkeypatch.setattr(HealthyNode, "fetch", lambda self, text, params: [])
    run = _dag().test(run_conf={"dry_run": True, "groups": ["ORDERS"]})
    states = _states(run)
    assert str(run.state) == "failed"
    assert states[("preflight", -1)] == "failed"
    assert states[("end_applications", -1)] == "upstream_failed"
    reports = sorted((airflow_db / "reports").glob("*/report.json"))
    report = json.loads(reports[-1].read_text())
    assert report["status"] == "FAIL"
    assert report["reasons"][0] == "tasks failed: preflight"
