"""Issue 6 item 3 on the real deployment: clearing the failed mapped instance re-runs only it.

A restore of BILLING fails on BACKUP (the simulator's `restore_fails` fault on BILLIB) in a
run of ORDERS and BILLING. The operator clears the failed `restore.restore_group` instance
with its downstream tasks, failed only, through the REST API (clearTaskInstances). The
run then ends in success, and both the API's task instances (tries per group) and the nodes'
own command logs show that ORDERS' work was done once: only BILLING's restore and the tasks
after it ran again.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ibmi_sim.testing import SimPair
from scripts import deployment as d
from tests.deploy.test_deployment import deployment  # noqa: F401  (the fixture)
from tests.e2e.test_resync_e2e import DESTRUCTIVE, _commands, _last_id, _verb

# Like the other deployment tests (tests/deploy/test_deployment.py).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

GROUPS = ["ORDERS", "BILLING"]
# What belongs to ORDERS in config/demo-plan.yaml: the group, its libraries and IFS path.
ORDERS_NAMES = re.compile(r"\b(ORDERS|ORDLIB|ORDHIST)\b|/home/orders", re.IGNORECASE)
BILLING_NAMES = re.compile(r"\b(BILLING|BILLIB)\b|INVOICES", re.IGNORECASE)
# The mapped task groups that did ORDERS' work in the first run (before the failed restore).
DONE_BEFORE = ("outage.", "move.", "clear.", "restore.")
# CL verbs that save, clear, restore or mark: none may reach ORDERS twice.
REDO_VERBS = {
    "DMMRKPOS", "SAVLIB", "SAVOBJ", "SAV", "SAVDLO", "CRTSAVF", "CLRSAVF", "DLTF",
    "CLRLIB", "RSTLIB", "RSTOBJ", "RST", "RSTDLO",
}  # fmt: skip


def _task_instances(api: d.Api, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(task id, group or '') -> the API's task instance."""
    return {
        (ti["task_id"], (ti.get("rendered_map_index") or "") if ti["map_index"] >= 0 else ""): ti
        for ti in d.RunFollower(api, run_id).task_instances()
    }


def _step(command: str) -> str:
    """CL verb of a logged command, of the submitted one for SBMJOB CMD(...)."""
    verb = _verb(command)
    return _verb(command.split("CMD(", 1)[1]) if verb == "SBMJOB" else verb


def _clear(api: d.Api, run_id: str, task: tuple[str, int], *, dry_run: bool) -> list[dict]:
    body = {
        "dag_run_id": run_id,
        "task_ids": [list(task)],
        "only_failed": True,
        "include_downstream": True,
        "reset_dag_runs": True,
        "dry_run": dry_run,
    }
    answer = api.request("POST", f"/api/v2/dags/{d.DAG_ID}/clearTaskInstances", body)
    return answer["task_instances"]


@contextmanager
def deployed_pair(settings: d.Settings) -> Iterator[tuple[d.Api, SimPair]]:
    """Start the deployment; yield its API and its simulated pair, left without faults."""
    api, _ = d.up(settings, sys.stdout)
    info = json.loads((settings.sim_state / "connections.json").read_text())
    pair = SimPair(info, settings.sim_state)
    try:
        yield api, pair
    finally:
        pair.clear_faults()
        pair.close()


@pytest.mark.parametrize("deployment", ["LocalExecutor"], indirect=True)
def test_clearing_the_failed_restore_reruns_only_that_group(deployment: d.Settings) -> None:  # noqa: F811
    with deployed_pair(deployment) as (api, pair):
        _run_fail_clear_and_check(api, deployment, pair)


def _run_fail_clear_and_check(api: d.Api, settings: d.Settings, pair: SimPair) -> None:
    # 1. BILLIB's restore on BACKUP leaves one object not restored: the run fails there.
    pair.add_fault("backup", "restore_fails", target="BILLIB", count=1)
    run_id = d.trigger(api, {"approvals_required": False, "groups": GROUPS})
    d.follow_run(api, run_id, sys.stdout, timeout=1200, quiet_seconds=30)
    first = d.run_summary(api, settings, run_id)
    assert first["state"] == "failed", first
    assert first["report_status"] == "FAIL", first
    before = _task_instances(api, run_id)
    assert before[("restore.restore_group", "BILLING")]["state"] == "failed"
    assert before[("restore.restore_group", "ORDERS")]["state"] == "success"
    # ORDERS' save, transfer, clear and restore are done; its later tasks never ran.
    for (task_id, group), ti in before.items():
        if group == "ORDERS" and task_id.startswith(DONE_BEFORE):
            assert (ti["state"], ti["try_number"]) == ("success", 1), ti
    assert not [k for k in before if k[1] == "ORDERS" and not k[0].startswith(DONE_BEFORE)]
    assert [f["group"] for f in _report(first)["failures"]] == ["BILLING"]

    # 2. The fault is gone; the operator clears the failed instance, downstream, failed only.
    pair.clear_faults()
    mark = {key: _last_id(pair, key) for key in ("primary", "backup")}
    failed = before[("restore.restore_group", "BILLING")]
    task = ("restore.restore_group", int(failed["map_index"]))
    planned = {
        (ti["task_id"], (ti.get("rendered_map_index") or "") if ti["map_index"] >= 0 else "")
        for ti in _clear(api, run_id, task, dry_run=True)
    }
    print("cleared:", sorted(planned, key=str))
    for task_id, group in planned:
        assert not (group == "ORDERS" and task_id.startswith(DONE_BEFORE)), planned
    assert ("restore.restore_group", "BILLING") in planned
    assert ("write_report", "") in planned, planned
    _clear(api, run_id, task, dry_run=False)
    d.follow_run(api, run_id, sys.stdout, timeout=1200, quiet_seconds=30)
    second = d.run_summary(api, settings, run_id)
    after = _task_instances(api, run_id)

    commands = {key: _commands(pair, key, mark[key]) for key in ("primary", "backup")}
    earlier = {key: [r for r in _commands(pair, key) if r[0] <= mark[key]] for key in commands}
    assert second["state"] == "success", (second, commands)
    assert second["report_status"] in ("OK", "WARN"), second

    # 3a. The API: only the cleared instances ran again (mapped tasks that never ran before
    # were not expanded then); everything else, ORDERS' work above all, kept its try.
    cleared_tasks = {task_id for task_id, _ in planned}
    for key, ti in after.items():
        assert ti["state"] in ("success", "skipped"), ti
        if key not in before:
            assert key[0] in cleared_tasks and (key[0], "") in planned, ti
        elif key in planned:
            assert ti["try_number"] == before[key]["try_number"] + 1, ti
        else:
            assert (ti["state"], ti["try_number"]) == (
                before[key]["state"],
                before[key]["try_number"],
            ), (ti, before[key])
    assert after[("restore.restore_group", "BILLING")]["try_number"] == 2
    for (task_id, group), ti in after.items():
        if group == "ORDERS" and task_id.startswith(DONE_BEFORE):
            assert (ti["state"], ti["try_number"]) == ("success", 1), ti

    # 3b. The nodes: no command of the first run reached ORDERS again (what ORDERS got after
    # the clear is the sync checks and the replication start it never had), nothing saved,
    # cleared, marked or restored for it; of BILLING only the restore that did not end clean
    # (RSTLIB BILLIB) ran again, nothing of its marks, saves, transfers or clearing.
    for key, rows in commands.items():
        orders_now = [c for _, c, _, _ in rows if ORDERS_NAMES.search(c)]
        orders_then = {c for _, c, _, _ in earlier[key] if ORDERS_NAMES.search(c)}
        assert orders_then and not orders_then.intersection(orders_now), (key, orders_now)
        assert [c for c in orders_now if _step(c) in REDO_VERBS] == [], (key, orders_now)
        billing_redone = [
            c
            for _, c, _, _ in rows
            if BILLING_NAMES.search(c) and _step(c) in REDO_VERBS - {"RSTLIB"}
        ]
        assert billing_redone == [], (key, billing_redone)
    primary_destructive = [
        c for _, c, _, _ in commands["primary"] if _step(c) in {v.strip() for v in DESTRUCTIVE}
    ]
    assert primary_destructive == [], primary_destructive
    restores = [c for _, c, _, _ in commands["backup"] if _step(c).startswith("RST")]
    assert restores and all("SAVLIB(BILLIB)" in c for c in restores), commands["backup"]

    # 3c. The pair is in sync and the report, written again at the end, says so.
    libraries = d.pair_sync_state(settings, GROUPS)
    assert libraries and all(libraries.values()), libraries
    report = _report(second)
    assert report["status"] in ("OK", "WARN") and report["failures"] == [], report
    # ... and what ran again: BILLING's restore on its second attempt, ORDERS' kept.
    assert "restore_group[BILLING] ran again (attempt 2)" in report["notes"], report["notes"]
    assert not any("[ORDERS] ran again" in note for note in report["notes"]), report["notes"]


def _report(summary: dict[str, Any]) -> dict[str, Any]:
    """The run's report.json, as run_summary finds it."""
    assert summary["report_json"], summary
    return json.loads(Path(summary["report_json"]).read_text())
