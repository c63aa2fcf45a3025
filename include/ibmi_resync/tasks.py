"""Which program steps each DAG task runs.

The DAG has one task per runbook step and, for per-group work, one mapped instance per
replication group (task instances grow with groups, not with libraries: a group's libraries
are parallel IBM i batch jobs inside one task). This module cuts `resync_program` into those
slices, so every step the dry run prints is run by exactly one task of the resync DAG
(`RESYNC_TASKS`; a test proves it), and every task that clears or restores starts by asking
the BACKUP who it is.

A group's steps that follow each other with nothing of another group between them share one
task, across phases: mark then save (runbook steps 2-3), start at the mark, wait for latency,
final sync check (step 10 and after). Why: each task instance costs the scheduler and a
worker about 0.4-0.7 s of a 2-core machine whatever it does, and each hand-off between two
tasks 1-3 s of wall time (docs/benchmarks.md); a 200-group run had 9 instances a group. The
phases stay visible: each step's log entry carries its phase, and the report draws a bar per
phase. The rehearsal and the network sync use the one-phase slices (`mark_positions`,
`start_replication`, `wait_for_latency`, `final_sync_check`).

A retry of `mark_and_save` marks again, then saves (attaching to a save job an earlier
attempt left running or ended clean). That is safe because the applications stay ended
from step 1 to the restart (runbook step 3): no journal entry falls between the earlier
save's start and the newer mark, so the save still holds exactly what the mark points after.
Clear and restore stay two tasks: a retry of one task would clear the library again and
then attach to the earlier, ended-clean restore job, leaving the library empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ibmi_resync.executor import learned_answers
from ibmi_resync.plan import Plan, RunOptions
from ibmi_resync.program import Phase, Scope, Step

__all__ = [
    "RESYNC_TASKS",
    "TASKS",
    "Program",
    "TaskSlice",
    "answering_tasks",
    "build_task_steps",
    "steps_for_task",
]


class Program(Protocol):
    """`resync_program` or `network_sync_program`."""

    def __call__(
        self, plan: Plan, options: RunOptions | None = None, *, run_key: str, scope: Scope | None
    ) -> list[Step]: ...


@dataclass(frozen=True)
class TaskSlice:
    """A task's share of the program: its phases, in program order, and a test on each step
    of them."""

    phases: tuple[Phase, ...]
    per_group: bool
    picks: Callable[[Step, str | None], bool]
    confirm_backup: bool = False

    @property
    def phase(self) -> Phase:
        """The phase the task starts in: where the grid, notices and report file it."""
        return self.phases[0]


def _verb(step: Step) -> str:
    return step.command.command if step.command is not None else ""


def _is_role_check(step: Step) -> bool:
    return step.kind == "SQL" and step.check == "local_node" and step.node == "BACKUP"


def _of_group(step: Step, group: str | None) -> bool:
    return step.group == group


def _everything(step: Step, group: str | None) -> bool:
    return step.kind != "APPROVAL"


def _security_save(step: Step, group: str | None) -> bool:
    return step.group is None and _verb(step) != "STRSBS"


def _restart(step: Step, group: str | None) -> bool:
    return _verb(step) == "STRSBS"


def _batch_action(action: str) -> Callable[[Step, str | None], bool]:
    def picks(step: Step, group: str | None) -> bool:
        return step.job is not None and step.job.startswith(action)

    return picks


def _group_restore(step: Step, group: str | None) -> bool:
    return step.group == group and step.group is not None


_MARK_THEN_SAVE = (Phase.MARK_POSITIONS, Phase.SAVE)
_START_THEN_SETTLE = (Phase.START_REPLICATION, Phase.LATENCY, Phase.FINAL_SYNC_CHECK)

TASKS: dict[str, TaskSlice] = {
    "preflight": TaskSlice((Phase.PREFLIGHT,), False, _everything),
    "end_applications": TaskSlice((Phase.END_APPLICATIONS,), False, _everything),
    "mark_and_save": TaskSlice(_MARK_THEN_SAVE, True, _of_group),
    "save_security_data": TaskSlice((Phase.SAVE,), False, _security_save),
    "restart_applications": TaskSlice((Phase.SAVE,), False, _restart),
    "transfer_security_data": TaskSlice((Phase.TRANSFER,), False, _of_group),
    "transfer_group": TaskSlice((Phase.TRANSFER,), True, _of_group),
    "clear_group": TaskSlice((Phase.CLEAR,), True, _of_group, confirm_backup=True),
    "restore_profiles": TaskSlice((Phase.RESTORE,), False, _batch_action("RP"), True),
    "restore_group": TaskSlice((Phase.RESTORE,), True, _group_restore, confirm_backup=True),
    "restore_authorities": TaskSlice((Phase.RESTORE,), False, _batch_action("RA"), True),
    "start_cluster": TaskSlice((Phase.START_CLUSTER,), False, _everything),
    "sync_check": TaskSlice((Phase.SYNC_CHECK,), True, _of_group),
    "replicate_group": TaskSlice(_START_THEN_SETTLE, True, _of_group),
    # One phase each, for the rehearsal, the network sync and the SYSTEM group's own start.
    "mark_positions": TaskSlice((Phase.MARK_POSITIONS,), True, _of_group),
    "start_replication": TaskSlice((Phase.START_REPLICATION,), True, _of_group),
    "wait_for_latency": TaskSlice((Phase.LATENCY,), True, _of_group),
    "final_sync_check": TaskSlice((Phase.FINAL_SYNC_CHECK,), True, _of_group),
}
# The resync DAG's tasks, in DAG order: together they run every step of the program once.
RESYNC_TASKS = tuple(TASKS)[: tuple(TASKS).index("replicate_group") + 1]


def _slice_of(task: str, group: str | None) -> TaskSlice:
    part = TASKS.get(task)
    if part is None:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if part.per_group and not group:
        raise ValueError(f"task {task} runs per replication group: give the group")
    if not part.per_group and group:
        raise ValueError(f"task {task} runs once per run, not per group")
    return part


def build_task_steps(
    program: Program,
    plan: Plan,
    options: RunOptions,
    *,
    run_key: str,
    task: str,
    group: str | None = None,
) -> list[Step]:
    """The steps `task` runs, from a program built for the task's phase and group only (what
    a task start needs: see `Scope`); the same steps `steps_for_task` cuts from the whole."""
    part = _slice_of(task, group)
    scope = Scope(part.phases, group if part.per_group else None)
    return steps_for_task(program(plan, options, run_key=run_key, scope=scope), task, group)


def answering_tasks(
    program: Program,
    plan: Plan,
    options: RunOptions,
    *,
    run_key: str,
    wanted: set[str],
    group: str | None = None,
    among: Iterable[str] | None = None,
) -> set[str]:
    """The tasks (of `among`, the DAG's own tasks; else every slice) whose steps learn any of
    `wanted` (`earlier_answers` of the steps of a task of `group`): that group's instance of
    each per-group task, and the once-a-run tasks for their part of that group. Without a
    group (no once-a-run task reads an earlier answer today), every task of `among`.

    Why: a task start reads the XComs of the upstream tasks that hold what its checks need
    (a restore's saved count is the save's, a start's marked position the mark's); reading
    every upstream task was ten api-server requests a start, most of them for nothing. Each
    phase is built for the group only (`Scope`): 4 ms for all of them at 200 groups of 10
    libraries, where building the once-a-run phases whole took 650 ms."""
    if not wanted:
        return set()
    kept = None if among is None else set(among)
    names = [name for name in TASKS if kept is None or name in kept]
    if not group:
        return set(names)
    built: dict[tuple[Phase, ...], list[Step]] = {}
    found: set[str] = set()
    for name in names:
        part = TASKS[name]
        if part.phases not in built:
            scope = Scope(part.phases, group)
            built[part.phases] = program(plan, options, run_key=run_key, scope=scope)
        steps = steps_for_task(built[part.phases], name, group if part.per_group else None)
        if learned_answers(steps) & wanted:
            found.add(name)
    return found


def steps_for_task(steps: list[Step], task: str, group: str | None = None) -> list[Step]:
    """The steps `task` runs (for `group` when the task is per group), in program order."""
    part = _slice_of(task, group)
    in_phase = [step for step in steps if step.phase in part.phases]
    # The BACKUP's role check of a destructive phase is put first below, once per task; the
    # pre-flight keeps its own, so a node that answers the wrong role stops the run before the
    # applications are ended.
    chosen = [
        step
        for step in in_phase
        if (part.phase is Phase.PREFLIGHT or not _is_role_check(step)) and part.picks(step, group)
    ]
    if part.confirm_backup and chosen:
        checks = [step for step in in_phase if _is_role_check(step)]
        chosen = checks[:1] + chosen
    return chosen
