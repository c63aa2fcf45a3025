"""The network-sync DAG's integrity: it imports, has the shape of docs/network-sync.md, and
its tasks name program slices that exist (ibmi_resync.tasks)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ibmi_resync.plan import load_plan
from ibmi_resync.tasks import TASKS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "icluster_network_sync.py"))
    assert bag.import_errors == {}
    return bag.dags["icluster_network_sync"]


def test_policy_and_trigger_form(dag) -> None:
    assert {"ibm-i", "icluster", "network-sync"} <= set(dag.tags)
    assert dag.schedule is None and dag.catchup is False and dag.max_active_runs == 1
    assert dag.doc_md and "refresh" in dag.doc_md
    plan = load_plan(ROOT / "config" / "demo-plan.yaml")
    groups = dag.params.get_param("groups")
    assert groups.schema["items"]["enum"] == list(plan.group_names)
    assert set(dag.params) == {"groups", "dry_run"}


def test_order_and_slices(dag) -> None:
    from icluster_resync.network_sync import NetworkSyncTaskOperator

    order = [
        "select_groups",
        "preflight",
        "network_sync.start_with_refresh",
        "network_sync.wait_for_latency",
        "network_sync.final_sync_check",
        "write_report",
    ]
    for before, after in itertools.pairwise(order):
        assert after in dag.get_task(before).downstream_task_ids, (before, after)
    operators = [t for t in dag.tasks if isinstance(t, NetworkSyncTaskOperator)]
    assert len(operators) == 4
    for task in operators:
        assert task.resync_task in TASKS
        if TASKS[task.resync_task].per_group:
            assert task.map_index_template == "{{ task.group }}"  # labelled by group
    assert dag.get_task("network_sync.start_with_refresh").retries == 0
    assert dag.get_task("network_sync.wait_for_latency").retries >= 2
    assert dag.get_task("write_report").trigger_rule == "all_done"
