"""The network-sync program (icluster.md §9): what it sends, in which order, cut into tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibmi_resync.executor import Executor, RunState
from ibmi_resync.plan import Plan, PlanError, RunOptions, load_plan
from ibmi_resync.program import (
    REFRESH_START,
    Phase,
    Step,
    changing_steps,
    network_sync_program,
)
from ibmi_resync.tasks import steps_for_task
from tests.unit.test_executor import CLOCK, _nodes, ok

ROOT = Path(__file__).resolve().parents[2]
PLAN: Plan = load_plan(ROOT / "config" / "demo-plan.yaml")
# The tasks of dags/icluster_network_sync.py and whether each runs per group.
DAG_TASKS = {
    "preflight": False,
    "start_replication": True,
    "wait_for_latency": True,
    "final_sync_check": True,
}


def _verb(step: Step) -> str:
    return step.command.command if step.command is not None else ""


@pytest.fixture(scope="module")
def steps() -> list[Step]:
    return network_sync_program(PLAN, RunOptions(groups=("ORDERS", "BILLING")), run_key="r1")


def test_nothing_is_saved_cleared_restored_or_ended_but_the_groups(steps: list[Step]) -> None:
    verbs = {_verb(step) for step in steps}
    assert not verbs & {"ENDSBS", "STRSBS", "SAVLIB", "SAV", "SAVDLO", "CLRLIB", "RSTLIB", "RST"}
    assert {step.kind for step in steps} <= {"CL", "SBMJOB", "SQL", "WAIT"}
    assert all(step.node == "PRIMARY" for step in changing_steps(steps))
    assert not any("RSYNCSAVF" in step.text + str(step.params) for step in steps)


def test_each_group_is_ended_refreshed_by_a_batch_job_then_waited_for(
    steps: list[Step],
) -> None:
    for group in ("ORDERS", "BILLING"):
        mine = [s for s in steps if s.group == group and s.phase == Phase.START_REPLICATION]
        kinds = [(s.kind, _verb(s)) for s in mine]
        assert kinds.index(("CL", "DMENDGRP")) < kinds.index(("SBMJOB", "DMSTRGRP"))
        batch = next(s for s in mine if s.kind == "SBMJOB")
        assert f"DMSTRGRP GROUP({group}) REFRESH(*YES)" in batch.text
        assert batch.job and batch.job.startswith("RF") and len(batch.job) == 10
        end = next(s for s in mine if _verb(s) == "DMENDGRP")
        assert end.guard == "group_active"  # an ended group is not ended again
        waits = [s for s in mine if s.kind == "WAIT"][-2:]
        assert waits[0].wait and waits[0].wait["success_ids"] == ["SIM1108"]
        assert waits[0].wait["failure_ids"] == ["SIM1109"]
        assert REFRESH_START in waits[0].params
        assert waits[1].wait == {"kind": "status_is", "status": "*ACTIVE"}
        later = [s.phase for s in steps if s.group == group and s.phase > Phase.START_REPLICATION]
        assert later[0] == Phase.LATENCY and later[-1] == Phase.FINAL_SYNC_CHECK


def test_a_run_is_the_same_program_every_time_for_the_same_run(steps: list[Step]) -> None:
    again = network_sync_program(PLAN, RunOptions(groups=("ORDERS", "BILLING")), run_key="r1")
    other = network_sync_program(PLAN, RunOptions(groups=("ORDERS", "BILLING")), run_key="r2")
    assert [s.text for s in again] == [s.text for s in steps]
    assert [s.job for s in other if s.job] != [s.job for s in steps if s.job]


def test_every_step_is_run_by_exactly_one_task_of_the_dag(steps: list[Step]) -> None:
    taken: list[Step] = []
    for task, per_group in DAG_TASKS.items():
        for group in ("ORDERS", "BILLING") if per_group else (None,):
            taken += steps_for_task(steps, task, group)
    assert sorted(map(id, taken)) == sorted(map(id, steps))


def test_the_preflight_does_not_ask_for_the_save_file_library(steps: list[Step]) -> None:
    preflight = [s for s in steps if s.phase == Phase.PREFLIGHT]
    assert preflight and not any(s.subject == PLAN.save_file_library for s in preflight)
    assert any(s.check == "local_node" and s.node == "BACKUP" for s in preflight)


def test_a_profile_without_the_refresh_is_refused_naming_the_fields() -> None:
    profile = PLAN.site_profile
    bare = profile.model_copy(
        update={
            "commands": profile.commands.model_copy(update={"start_group_refresh": None}),
            "messages": profile.messages.model_copy(update={"refresh_complete": None}),
        }
    )
    plan = PLAN.model_copy(update={"site_profile": bare})
    with pytest.raises(PlanError) as refused:
        network_sync_program(plan, RunOptions(groups=("ORDERS",)))
    assert "commands.start_group_refresh" in str(refused.value)
    assert "messages.refresh_complete" in str(refused.value)
    assert "icluster.md §9" in str(refused.value)


def test_the_refresh_wait_starts_at_the_time_the_batch_job_was_submitted() -> None:
    """The executor takes the node's clock before SBMJOB, so the completion message of this
    refresh (and not an earlier one) ends the wait."""
    steps = network_sync_program(PLAN, RunOptions(groups=("ORDERS",)), run_key="r1")
    mine = steps_for_task(steps, "start_replication", "ORDERS")
    nodes, primary, _backup = _nodes()
    primary.sql["GROUP_STATUS"] = lambda _p: [
        {"GROUP_NAME": "ORDERS", "STATUS": "*INACTIVE", "CONTINUOUS_SYNC_CHECK": "N"}
    ]
    primary.sql["ACTIVE_JOB_INFO"] = lambda _p: []
    primary.cl["SBMJOB"] = ok("CPC1221: Job 100001/QSECOFR/RFXXXXXXXX submitted.\n")
    executor = Executor(nodes, RunState())
    # The group is already *INACTIVE at the first poll of its wait, so the walk goes on to the
    # SBMJOB without deferring and stops at the wait for the job's end.
    job_wait = executor.run(mine)
    assert job_wait is not None and job_wait.condition == {"kind": "job_ended"}
    assert executor.state.values["started:ORDERS:9"] == CLOCK
    # after the job ended and its job log was read, the event wait asks from that moment on
    event_wait = next(
        i for i, s in enumerate(mine) if s.kind == "WAIT" and REFRESH_START in s.params
    )
    assert executor._pending(event_wait, mine[event_wait]).params == ["ORDERS", CLOCK]
    assert any(c.startswith("QSYS/SBMJOB CMD(ICLUSTER/DMSTRGRP") for c in primary.sent)


def test_the_plan_command_prints_the_network_sync(capsys: pytest.CaptureFixture[str]) -> None:
    from ibmi_resync.__main__ import main

    demo = str(ROOT / "config" / "demo-plan.yaml")
    assert main(["plan", demo, "--network-sync", "--groups", "ORDERS", "--shell"]) == 0
    out = capsys.readouterr().out
    assert "DMSTRGRP GROUP(ORDERS) REFRESH(*YES)" in out and "SAVLIB" not in out
    assert "GROUP(BILLING)" not in out
