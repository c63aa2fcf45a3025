"""The rehearsal DAG's shape (runbook step a only: nothing that ends applications, saves,
clears or restores), and the resync DAG with maintenance windows: its timetable, the
override in the trigger form, and the first task's guard refusing or starting a run."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from icluster_resync.operators import ResyncTaskOperator

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
# Resync task slices a rehearsal must never run (runbook step a is DMMRKPOS only).
FORBIDDEN = {
    "end_applications",
    "save_security_data",
    "mark_and_save",
    "restart_applications",
    "transfer_security_data",
    "transfer_group",
    "clear_group",
    "restore_profiles",
    "restore_group",
    "restore_authorities",
    "sync_check",
    "wait_for_latency",
    "replicate_group",
}


def _dagbag(folder: Path = DAGS):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


@pytest.fixture(scope="module")
def rehearsal():
    bag = _dagbag()
    assert "icluster_rehearsal" in bag.dags, bag.import_errors
    return bag.dags["icluster_rehearsal"]


def test_rehearsal_policy(rehearsal) -> None:
    assert {"ibm-i", "icluster", "rehearsal"} <= set(rehearsal.tags)
    assert rehearsal.catchup is False and rehearsal.max_active_runs == 1
    assert rehearsal.default_args["retries"] >= 2
    assert rehearsal.doc_md and "DMMRKPOS" in rehearsal.doc_md
    assert rehearsal.params["dry_run"] is False
    groups = rehearsal.params.get_param("groups")
    assert groups.schema["items"]["enum"] == ["SYSTEM", "ORDERS", "BILLING"]


def test_rehearsal_runs_only_preflight_marks_and_restarts(rehearsal) -> None:
    slices = {
        task.task_id: task.resync_task
        for task in rehearsal.tasks
        if isinstance(task, ResyncTaskOperator)
    }
    assert slices == {
        "preflight": "preflight",
        "rehearse.mark_positions": "mark_positions",
        "start_system_group": "start_replication",
        "restart.start_replication": "start_replication",
        "restart.restart_continuous_sync_check": "final_sync_check",
    }
    assert FORBIDDEN.isdisjoint(slices.values())
    assert rehearsal.get_task("restart.restart_continuous_sync_check").keep_guard == ("was_running")
    order = [
        "preflight",
        "rehearse.mark_positions",
        "ended_groups",
        "start_system_group",
        "restart.start_replication",
        "restart.restart_continuous_sync_check",
        "write_report",
    ]
    for earlier, later in itertools.pairwise(order):
        assert earlier in rehearsal.get_task(later).get_flat_relative_ids(upstream=True)
    assert rehearsal.get_task("write_report").trigger_rule == "all_done"


# ---- the resync DAG with maintenance windows --------------------------------------------


@pytest.fixture(scope="module")
def windowed(tmp_path_factory: pytest.TempPathFactory):
    """The resync DAG parsed with the demo plan plus a quarterly window."""
    folder = tmp_path_factory.mktemp("windowed")
    data = yaml.safe_load((ROOT / "config" / "demo-plan.yaml").read_text())
    data["site_profile"] = str(ROOT / "config" / "site-profiles" / "simulator.yaml")
    data["schedule"] = {
        "timezone": "Europe/Zurich",
        "windows": ["first Sunday of the quarter, 01:00-05:00"],
        "estimated_outage_minutes": 90,
    }
    plan = folder / "plan.yaml"
    plan.write_text(yaml.safe_dump(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IBMI_RESYNC_PLAN", str(plan))
        patch.setenv("IBMI_RESYNC_REPORTS", str(folder / "reports"))
        bag = _dagbag(DAGS / "icluster_resync.py")
        assert bag.import_errors == {}
        yield bag.dags["icluster_resync"], patch


def test_windows_become_the_timetable_and_the_form_has_the_override(windowed) -> None:
    from icluster_resync.timetable import MaintenanceWindowTimetable

    dag, _ = windowed
    assert isinstance(dag.timetable, MaintenanceWindowTimetable)
    assert "first Sunday of the quarter" in dag.timetable.summary
    assert dag.params["window_override_reason"] == ""


def _select(dag, *, run_type: str, at: datetime, window=None, reason: str = "", patch=None):
    import pendulum

    patch.setattr(pendulum, "now", lambda tz=None: pendulum.instance(at))
    start, end = window or (None, None)
    run = SimpleNamespace(
        run_type=run_type, run_after=at, data_interval_start=start, data_interval_end=end
    )
    params = {
        "groups": [],
        "dry_run": False,
        "approvals_required": False,
        "transfer_mode": "sftp",
        "window_override_reason": reason,
    }
    return dag.get_task("select_groups").python_callable(params=params, dag_run=run)


OPENS = datetime(2027, 1, 3, 0, 0, tzinfo=UTC)
CLOSES = datetime(2027, 1, 3, 4, 0, tzinfo=UTC)


def test_the_guard_lets_a_run_that_fits_start(windowed) -> None:
    dag, patch = windowed
    groups = _select(dag, run_type="scheduled", at=OPENS, window=(OPENS, CLOSES), patch=patch)
    assert groups == ["SYSTEM", "ORDERS", "BILLING"]


def test_the_guard_refuses_a_late_scheduled_run_and_says_why(windowed) -> None:
    dag, patch = windowed
    late = datetime(2027, 1, 3, 3, 0, tzinfo=UTC)
    with pytest.raises(AirflowFailException) as refused:
        _select(dag, run_type="scheduled", at=late, window=(OPENS, CLOSES), patch=patch)
    assert "60 minutes left" in str(refused.value) and "needs 90" in str(refused.value)


def test_a_manual_run_outside_the_window_needs_a_reason(windowed, caplog) -> None:
    dag, patch = windowed
    outside = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    with pytest.raises(AirflowFailException, match="outside every maintenance window"):
        _select(dag, run_type="manual", at=outside, patch=patch)
    with caplog.at_level("WARNING"):
        groups = _select(
            dag, run_type="manual", at=outside, reason="CHG0042 agreed outage", patch=patch
        )
    assert groups[0] == "SYSTEM"
    assert "overridden by the trigger (CHG0042 agreed outage)" in caplog.text
