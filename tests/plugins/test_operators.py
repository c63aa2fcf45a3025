"""ResyncTaskOperator: slices the program, defers on waits with its state, resumes, and turns
runbook failures into non-retryable task failures. The nodes are scripted (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from ibmi_resync.plan import RunOptions, load_plan
from ibmi_resync.program import resync_program
from ibmi_resync.tasks import build_task_steps
from icluster_resync import operators
from icluster_resync.operators import ResyncTaskOperator
from icluster_resync.triggers import NodeQueryTrigger
from tests.plugins.conftest import Scripted

ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")


def _context(**params: Any) -> dict[str, Any]:
    return {
        "params": params,
        "dag_run": mock.Mock(run_id="manual__2026-11-25"),
        "ti": mock.Mock(),
    }


def test_end_applications_defers_with_its_state_and_resumes(scripted: Scripted) -> None:
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, NodeQueryTrigger)
    assert trigger.odbc_conn_id == "ibmi_primary_odbc"
    assert trigger.params == ["APPLIB", "APPSBS"]
    assert trigger.condition == {"kind": "subsystem_inactive"}
    assert scripted.sent == ["QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD) DELAY(120)"]
    # The state rides in the trigger and comes back in its event (dag.test drops the
    # deferral's kwargs); a rebuilt operator continues from the wait with it.
    assert not deferred.value.kwargs
    assert trigger.resume["index"] >= 0 and trigger.resume["state"]["log"]
    again = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    result = again.execute_complete(
        _context(), {"status": "done", "seen": "STATUS=INACTIVE", "resume": trigger.resume}
    )
    assert result["task"] == "end_applications"
    # after the wait: no *IMMED end needed, then no user jobs, then no locks in 4 libraries
    results = [entry["result"] for entry in result["log"]]
    assert results[-6:] == ["skipped"] + ["checked"] * 5


def test_a_runbook_failure_is_not_retried(scripted: Scripted) -> None:
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(_context())
    scripted.subsystem_status = "X"
    context = _context()
    with pytest.raises(AirflowFailException, match="user job"):
        operator.execute_complete(
            context,
            {"status": "done", "seen": "STATUS=INACTIVE", "resume": deferred.value.trigger.resume},
        )
    # The report reads why the task failed from this XCom.
    (call,) = context["ti"].xcom_push.call_args_list
    assert call.kwargs["key"] == "failure"
    assert call.kwargs["value"]["task"] == "end_applications"
    assert "user job" in call.kwargs["value"]["message"]


def test_an_event_without_the_state_fails_clearly(scripted: Scripted) -> None:
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    with pytest.raises(AirflowFailException, match="without the task's state"):
        operator.execute_complete(_context(), {"status": "done", "seen": "STATUS=INACTIVE"})


def test_a_dry_run_sends_nothing(scripted: Scripted) -> None:
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    result = operator.execute(_context(dry_run=True))
    # ENDSBS, its wait, ENDSBS *IMMED, the user-jobs check, a lock check per library (4)
    assert result == {"dry_run": True, "steps": 8}
    assert scripted.sent == []


def test_a_group_outside_the_plan_fails_with_the_field(scripted: Scripted) -> None:
    operator = ResyncTaskOperator(task_id="preflight", resync_task="preflight")
    with pytest.raises(AirflowFailException, match=r"groups\[0\]"):
        operator.execute(_context(groups=["NOPE"]))


def _steps(task: str, group: str | None = None) -> list:
    return build_task_steps(resync_program, PLAN, RunOptions(), run_key="r", task=task, group=group)


def _mapped_dag() -> dict[str, ResyncTaskOperator]:
    """preflight >> a task group mapped over two groups (mark and save >> transfer >> restore)
    >> restart >> the SYSTEM group's start (unmapped, like the DAG's start_system_group)."""
    from airflow.sdk import DAG, task_group

    tasks: dict[str, ResyncTaskOperator] = {}
    with DAG("mapped", schedule=None):
        tasks["preflight"] = ResyncTaskOperator(task_id="preflight", resync_task="preflight")

        @task_group(group_id="outage")
        def outage(group: str) -> None:
            tasks["save"] = ResyncTaskOperator(
                task_id="mark_and_save", resync_task="mark_and_save", group=group
            )
            tasks["transfer"] = ResyncTaskOperator(
                task_id="transfer_group", resync_task="transfer_group", group=group
            )
            tasks["restore"] = ResyncTaskOperator(
                task_id="restore_group", resync_task="restore_group", group=group
            )
            tasks["save"] >> tasks["transfer"] >> tasks["restore"]

        saved = outage.expand(group=["SYSTEM", "ORDERS"])
        tasks["restart"] = ResyncTaskOperator(
            task_id="restart_applications", resync_task="restart_applications"
        )
        tasks["start_system"] = ResyncTaskOperator(
            task_id="start_system_group", resync_task="start_replication", group="SYSTEM"
        )
        tasks["preflight"] >> saved >> tasks["restart"] >> tasks["start_system"]
    return tasks


def _xcoms(task_ids: Any, map_indexes: Any = None) -> Any:
    """The XComs of a run of `_mapped_dag`, answered as the Task SDK's xcom_pull does."""
    stored = {
        "preflight": [{"task": "preflight", "group": None, "count:ORDLIB": 40, "count:SECLIB": 3}],
        "outage.mark_and_save": [
            {
                "task": "mark_and_save",
                "group": "SYSTEM",
                "event:SYSTEM:2": {"seq": "1"},
                "saved:SECLIB": 3,
            },
            {
                "task": "mark_and_save",
                "group": "ORDERS",
                "event:ORDERS:2": {"seq": "2"},
                "saved:ORDLIB": 40,
            },
        ],
        "outage.transfer_group": [
            {"task": "transfer_group", "group": "SYSTEM"},
            {"task": "transfer_group", "group": "ORDERS"},
        ],
        "restart_applications": [{"task": "restart_applications", "group": None}],
    }
    if isinstance(task_ids, str):
        return stored[task_ids][map_indexes]
    return [value for task_id in task_ids for value in stored[task_id]]


def _inherit(task: ResyncTaskOperator, ti: Any, name: str, group: str | None = None) -> dict:
    """What `task` inherits as task `name` (of `group`) of the demo plan's run."""
    return task._inherited({"ti": ti}, PLAN, RunOptions(), _steps(name, group))


def test_a_task_whose_steps_read_no_earlier_answer_pulls_no_xcom() -> None:
    tasks = _mapped_dag()
    ti = mock.Mock(map_index=-1)
    ti.xcom_pull.side_effect = _xcoms
    assert _inherit(tasks["restart"], ti, "restart_applications") == {}
    ti = mock.Mock(map_index=0)
    tasks["transfer"].group = "SYSTEM"
    assert _inherit(tasks["transfer"], ti, "transfer_group", "SYSTEM") == {}
    ti.xcom_pull.assert_not_called()


def test_a_task_reads_only_the_upstream_tasks_that_learn_what_it_needs() -> None:
    tasks = _mapped_dag()
    ti = mock.Mock(map_index=1)
    ti.xcom_pull.side_effect = _xcoms
    save = tasks["save"]
    save.group = "ORDERS"  # as rendered for map index 1
    # the save's job-log check reads the counts pre-flight recorded for its own libraries;
    # its mark (same task) learns none of them
    assert _inherit(save, ti, "mark_and_save", "ORDERS") == {"count:ORDLIB": 40}
    assert ti.xcom_pull.call_args_list == [mock.call(task_ids=["preflight"])]


def test_a_group_task_reads_only_its_own_group_of_the_mapped_tasks_before_it() -> None:
    tasks = _mapped_dag()
    ti = mock.Mock(map_index=1)
    ti.xcom_pull.side_effect = _xcoms
    restore = tasks["restore"]
    restore.group = "ORDERS"
    # the restore is reconciled against the saved counts of its own group's save; the
    # transfer between them learns nothing it needs and is not read
    assert _inherit(restore, ti, "restore_group", "ORDERS") == {"saved:ORDLIB": 40}
    assert ti.xcom_pull.call_args_list == [
        mock.call(task_ids="outage.mark_and_save", map_indexes=1),
    ]


def test_an_unmapped_task_reads_every_instance_of_the_mapped_tasks_before_it() -> None:
    tasks = _mapped_dag()
    ti = mock.Mock(map_index=-1)
    ti.xcom_pull.side_effect = _xcoms
    inherited = _inherit(tasks["start_system"], ti, "start_replication", "SYSTEM")
    assert inherited == {"event:SYSTEM:2": {"seq": "1"}}
    assert ti.xcom_pull.call_args_list == [mock.call(task_ids=["outage.mark_and_save"])]


def test_a_map_index_of_another_group_falls_back_to_every_instance() -> None:
    tasks = _mapped_dag()
    ti = mock.Mock(map_index=0)  # index 0 holds SYSTEM's XComs, not ORDERS'
    ti.xcom_pull.side_effect = _xcoms
    restore = tasks["restore"]
    restore.group = "ORDERS"
    assert _inherit(restore, ti, "restore_group", "ORDERS") == {"saved:ORDLIB": 40}
    assert ti.xcom_pull.call_args_list[-1] == mock.call(task_ids=["outage.mark_and_save"])


def test_a_resume_reads_no_xcom_the_earlier_answers_ride_in_the_trigger(
    scripted: Scripted,
) -> None:
    """The deferral carries the task's own values and, apart, what it inherited, so the
    resumed task makes no XCom request and still returns only its own values."""
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    earlier = {"count:ORDLIB": 40, "event:ORDERS:2": {"seq": "2"}}
    with (
        mock.patch.object(ResyncTaskOperator, "_inherited", return_value=earlier),
        pytest.raises(TaskDeferred) as deferred,
    ):
        operator.execute(_context())
    resume = deferred.value.trigger.resume
    assert resume["inherited"] == earlier
    assert not set(earlier) & set(resume["state"]["values"])
    seen: list[dict[str, Any]] = []
    original = operators.Executor.resume

    def resume_with(self, steps, index, event):  # what the executor holds when it resumes
        seen.append(dict(self.state.values))
        return original(self, steps, index, event)

    with (
        mock.patch.object(ResyncTaskOperator, "_inherited", side_effect=AssertionError("pulled")),
        mock.patch.object(operators.Executor, "resume", resume_with),
    ):
        result = ResyncTaskOperator(
            task_id="end_applications", resync_task="end_applications"
        ).execute_complete(_context(), {"status": "done", "seen": "-", "resume": resume})
    assert seen and seen[0].items() >= earlier.items()
    assert not set(earlier) & set(result)  # the XCom holds only the task's own values


def test_a_trigger_deferred_without_the_inherited_answers_pulls_them(scripted: Scripted) -> None:
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(_context())
    resume = {k: v for k, v in deferred.value.trigger.resume.items() if k != "inherited"}
    with mock.patch.object(ResyncTaskOperator, "_inherited", return_value={}) as pulled:
        ResyncTaskOperator(
            task_id="end_applications", resync_task="end_applications"
        ).execute_complete(_context(), {"status": "done", "seen": "-", "resume": resume})
    assert pulled.call_count == 1
