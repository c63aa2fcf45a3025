"""Every step of the program is run by exactly one task; destructive tasks confirm BACKUP."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibmi_resync.executor import earlier_answers, learned_answers
from ibmi_resync.plan import RunOptions, load_plan
from ibmi_resync.program import Phase, network_sync_program, resync_program
from ibmi_resync.tasks import (
    RESYNC_TASKS,
    TASKS,
    answering_tasks,
    build_task_steps,
    steps_for_task,
)

ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")


def _all_slices(steps, groups, tasks=RESYNC_TASKS):
    for task in tasks:
        for group in groups if TASKS[task].per_group else [None]:
            yield task, group, steps_for_task(steps, task, group)


@pytest.mark.parametrize("groups", [(), ("ORDERS",), ("SYSTEM",), ("BILLING", "SYSTEM")])
def test_every_step_runs_in_exactly_one_task(groups: tuple[str, ...]) -> None:
    options = RunOptions(groups=groups)
    steps = resync_program(PLAN, options)
    names = [g.name for g in options.selected_groups(PLAN)]
    ran: dict[int, str] = {}
    for task, group, chosen in _all_slices(steps, names):
        for step in chosen:
            if step.check == "local_node" and step.node == "BACKUP":
                continue  # the role check is repeated on purpose in every destructive task
            key = id(step)
            assert key not in ran, f"{step.text} in {ran[key]} and {task}[{group}]"
            ran[key] = f"{task}[{group}]"
    missing = [
        s.text
        for s in steps
        if id(s) not in ran
        and s.kind != "APPROVAL"
        and not (s.check == "local_node" and s.node == "BACKUP")
    ]
    assert missing == []


def test_destructive_tasks_start_by_confirming_the_backup() -> None:
    steps = resync_program(PLAN)
    for task in ("clear_group", "restore_group"):
        for group in PLAN.group_names:
            chosen = steps_for_task(steps, task, group)
            assert chosen[0].check == "local_node" and chosen[0].node == "BACKUP"
            destructive = [s for s in chosen if s.changes_node]
            assert destructive and all(s.node == "BACKUP" for s in destructive)
    for task in ("restore_profiles", "restore_authorities"):
        chosen = steps_for_task(steps, task)
        assert chosen[0].check == "local_node"


def test_a_group_task_holds_all_of_its_libraries() -> None:
    steps = resync_program(PLAN)
    saves = [s.subject for s in steps_for_task(steps, "mark_and_save", "ORDERS") if s.job]
    assert {"ORDLIB", "ORDHIST"} <= set(saves)
    assert TASKS["mark_and_save"].per_group and not TASKS["preflight"].per_group


@pytest.mark.parametrize(
    ("task", "phases", "one_phase_tasks"),
    [
        ("mark_and_save", [2, 3], ("mark_positions",)),
        (
            "replicate_group",
            [9, 10, 11],
            ("start_replication", "wait_for_latency", "final_sync_check"),
        ),
    ],
)
def test_a_task_of_several_phases_runs_them_in_runbook_order(
    task: str, phases: list[int], one_phase_tasks: tuple[str, ...]
) -> None:
    """A group's mark then its save, and its start, latency wait and final check, each in
    one task: the same steps, in the same order, as the one-phase slices the rehearsal and
    the network sync use (the save's are the group's own steps of phase 3)."""
    steps = resync_program(PLAN)
    chosen = steps_for_task(steps, task, "ORDERS")
    seen = [step.phase.value for step in chosen]
    assert sorted(set(seen)) == phases and seen == sorted(seen)
    parts = [s for name in one_phase_tasks for s in steps_for_task(steps, name, "ORDERS")]
    if task == "mark_and_save":
        parts += [s for s in steps if s.phase is Phase.SAVE and s.group == "ORDERS"]
    assert chosen == parts
    waits = [i for i, step in enumerate(chosen) if step.kind == "WAIT"]
    assert waits and chosen[waits[0]].phase.value == phases[0]  # the mark's, before any save
    assert task in RESYNC_TASKS and not set(one_phase_tasks) & set(RESYNC_TASKS)


def test_wrong_use_is_refused() -> None:
    steps = resync_program(PLAN)
    with pytest.raises(ValueError, match="runs per replication group"):
        steps_for_task(steps, "mark_and_save")
    with pytest.raises(ValueError, match="runs once per run"):
        steps_for_task(steps, "preflight", "ORDERS")
    with pytest.raises(ValueError, match="unknown task"):
        steps_for_task(steps, "nope")


def test_preflight_asks_both_nodes_for_their_role() -> None:
    steps = steps_for_task(resync_program(PLAN), "preflight")
    asked = [step.node for step in steps if step.check == "local_node"]
    assert asked == ["PRIMARY", "BACKUP"]


# ---- a task builds only its own scope of the program -------------------------------------

NETWORK_SYNC_TASKS = ("preflight", "start_replication", "wait_for_latency", "final_sync_check")


@pytest.mark.parametrize(
    "options",
    [
        RunOptions(),
        RunOptions(groups=("ORDERS",)),
        RunOptions(groups=("BILLING", "SYSTEM")),
        RunOptions(approvals_required=True),
    ],
    ids=["all", "orders", "billing-system", "approvals"],
)
@pytest.mark.parametrize("program", [resync_program, network_sync_program])
def test_a_task_built_for_its_scope_gets_the_steps_of_the_whole_program(
    program, options: RunOptions
) -> None:
    """Same steps, same order, same index in the slice: a deferral's resume index and the
    batch job names (from run key, action and subject) point at the same steps either way."""
    whole = program(PLAN, options, run_key="manual__2026-12-01")
    names = [g.name for g in options.selected_groups(PLAN)]
    tasks = NETWORK_SYNC_TASKS if program is network_sync_program else tuple(TASKS)
    compared = 0  # every slice, the one-phase ones the resync DAG does not use included
    for task in tasks:
        for group in names if TASKS[task].per_group else [None]:
            scoped = build_task_steps(
                program, PLAN, options, run_key="manual__2026-12-01", task=task, group=group
            )
            assert scoped == steps_for_task(whole, task, group), f"{task}[{group}]"
            assert [s.shell for s in scoped] == [
                s.shell for s in steps_for_task(whole, task, group)
            ]
            compared += len(scoped)
    assert compared > len(names) * 5  # real slices were compared, not empty ones


def test_a_group_task_builds_a_small_part_of_the_program() -> None:
    """What a mark task builds does not grow with the other groups of the run."""
    built: list[int] = []

    def counting(plan, options=None, *, run_key, scope):
        steps = resync_program(plan, options, run_key=run_key, scope=scope)
        built.append(len(steps))
        return steps

    whole = resync_program(PLAN, run_key="r")
    mark = build_task_steps(counting, PLAN, RunOptions(), run_key="r", task="mark_positions",
                            group="ORDERS")  # fmt: skip
    assert mark and all(step.group == "ORDERS" for step in mark)
    assert built[0] == len(mark)  # nothing of another phase or group was built
    assert built[0] * len(PLAN.group_names) <= len(whole) / 4


def test_build_task_steps_refuses_a_group_for_a_run_wide_task_and_none_for_a_group_task() -> None:
    with pytest.raises(ValueError, match="once per run"):
        build_task_steps(resync_program, PLAN, RunOptions(), run_key="r", task="preflight",
                         group="ORDERS")  # fmt: skip
    with pytest.raises(ValueError, match="per replication group"):
        build_task_steps(resync_program, PLAN, RunOptions(), run_key="r", task="mark_and_save")


@pytest.mark.parametrize("program", [resync_program, network_sync_program])
def test_answering_tasks_are_the_tasks_that_learn_the_answers_in_the_whole_program(
    program,
) -> None:
    """What a task reads from earlier tasks (`earlier_answers`) is learned by exactly the
    tasks `answering_tasks` names, as the whole program's slices say, and each of them runs
    before it (an earlier task in TASKS, so upstream in the DAG)."""
    options = RunOptions()
    whole = program(PLAN, options, run_key="r")
    names = [g.name for g in options.selected_groups(PLAN)]
    tasks = NETWORK_SYNC_TASKS if program is network_sync_program else RESYNC_TASKS
    learned = [
        (task, learned_answers(steps)) for task, _group, steps in _all_slices(whole, names, tasks)
    ]
    readers = 0
    for task in tasks:
        for group in names if TASKS[task].per_group else [None]:
            steps = build_task_steps(program, PLAN, options, run_key="r", task=task, group=group)
            wanted = earlier_answers(steps) - learned_answers(steps)
            found = answering_tasks(
                program, PLAN, options, run_key="r", wanted=wanted, group=group, among=tasks
            )
            assert found == {name for name, keys in learned if keys & wanted}, f"{task}[{group}]"
            once = answering_tasks(  # `among` may be any iterable, read once
                program, PLAN, options, run_key="r", wanted=wanted, group=group, among=iter(tasks)
            )
            assert once == found, f"{task}[{group}]"
            covered = set().union(*(keys for name, keys in learned if name in found))
            assert wanted <= covered, f"{task}[{group}]: nobody learns {wanted - covered}"
            assert all(tasks.index(name) < tasks.index(task) for name in found), task
            readers += bool(wanted)
    # resync: save, restore and start read answers; network sync: final check
    assert readers >= len(names) * (3 if program is resync_program else 1)


def test_answering_tasks_of_a_run_wide_task_are_every_task() -> None:
    found = answering_tasks(
        resync_program, PLAN, RunOptions(), run_key="r", wanted={"count:ORDLIB"}
    )
    assert found == set(TASKS)
    assert answering_tasks(resync_program, PLAN, RunOptions(), run_key="r", wanted=set()) == set()
