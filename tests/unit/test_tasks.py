"""Every step of the program is run by exactly one task; destructive tasks confirm BACKUP."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibmi_resync.plan import RunOptions, load_plan
from ibmi_resync.program import resync_program
from ibmi_resync.tasks import GROUP_TASKS, TASKS, steps_for_task

ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")


def _all_slices(steps, groups):
    for task, part in TASKS.items():
        for group in groups if part.per_group else [None]:
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
    saves = [s.subject for s in steps_for_task(steps, "save_group", "ORDERS") if s.job]
    assert {"ORDLIB", "ORDHIST"} <= set(saves)
    assert "mark_positions" in GROUP_TASKS and "preflight" not in GROUP_TASKS


def test_wrong_use_is_refused() -> None:
    steps = resync_program(PLAN)
    with pytest.raises(ValueError, match="runs per replication group"):
        steps_for_task(steps, "save_group")
    with pytest.raises(ValueError, match="runs once per run"):
        steps_for_task(steps, "preflight", "ORDERS")
    with pytest.raises(ValueError, match="unknown task"):
        steps_for_task(steps, "nope")


def test_preflight_asks_both_nodes_for_their_role() -> None:
    steps = steps_for_task(resync_program(PLAN), "preflight")
    asked = [step.node for step in steps if step.check == "local_node"]
    assert asked == ["PRIMARY", "BACKUP"]
