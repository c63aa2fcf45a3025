"""One operator runs one task's slice of the resync program (ibmi_resync.tasks).

The operator turns Airflow context into calls: it loads the plan, reads the trigger form,
cuts its slice of the program, opens the two nodes through their Airflow connections and
hands the slice to the executor. When the executor reaches a wait, the operator defers on a
NodeQueryTrigger and comes back in `execute_complete`, with the executor's state carried in
the deferral kwargs, because the operator object is rebuilt after a deferral.

Idempotency: program steps carry guards, and batch jobs have deterministic names derived
from the run id, so a retried task finds the work already done (or still running) and says
so in its log instead of doing it twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.module_loading import qualname

from ibmi_resync.executor import (
    Executor,
    PendingWait,
    RunState,
    StepFailed,
    checkpoint,
    earlier_answers,
    from_checkpoint,
    slice_digest,
    task_result,
    trigger_walks_on,
)
from ibmi_resync.names import IbmiInputError
from ibmi_resync.node import CommandFailed, DryRunRefusal, RoleMismatch
from ibmi_resync.plan import Plan, PlanError, RunOptions, load_plan
from ibmi_resync.program import Step, resync_program
from ibmi_resync.tasks import TASKS, answering_tasks, build_task_steps
from icluster_resync.transfer import SftpSaveFileMover
from icluster_resync.transport import SignOnRefused, open_node
from icluster_resync.triggers import NodeQueryTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFAULT_PLAN = Path(__file__).resolve().parents[2] / "config" / "demo-plan.yaml"
# Errors that retrying cannot fix: the task fails at once, naming the cause, without retries.
_FINAL = (
    StepFailed,
    CommandFailed,
    RoleMismatch,
    DryRunRefusal,
    PlanError,
    IbmiInputError,
    SignOnRefused,
)


def _mapped(task: BaseOperator) -> bool:
    """Whether the task is mapped over the run's groups (it sits in a mapped task group)."""
    return task.get_closest_mapped_task_group() is not None


def _run_key(context: Context) -> str:
    return context["dag_run"].run_id if context.get("dag_run") else "manual"


def _as_list(pulled: Any) -> list[Any]:
    return pulled if isinstance(pulled, list) else [pulled]


def plan_path() -> str:
    """The plan file: IBMI_RESYNC_PLAN, else the demo plan next to the project."""
    return os.environ.get("IBMI_RESYNC_PLAN", str(DEFAULT_PLAN))


def run_options(params: dict[str, Any] | None) -> RunOptions:
    params = params or {}
    return RunOptions(
        groups=tuple(params.get("groups") or ()),
        dry_run=bool(params.get("dry_run", False)),
        approvals_required=params.get("approvals_required"),
        transfer_mode=params.get("transfer_mode") or "sftp",
    )


class ResyncTaskOperator(BaseOperator):
    """Run the resync program steps of `resync_task` (for `group`, when per group).

    :param resync_task: a key of ibmi_resync.tasks.TASKS.
    :param group: the replication group, for per-group tasks (mapped over the run's groups).
    """

    template_fields: Sequence[str] = ("group",)
    ui_color = "#dbe8f6"
    # The ordered program whose slice a task runs; the network sync swaps in its own.
    program: Callable[..., list[Step]] = staticmethod(resync_program)
    # Whether the trigger may walk what follows a task's last wait (`_rest`): only when it
    # cuts the same steps from the program as `_slice` does.
    rest_in_trigger: bool = True

    def __init__(self, *, resync_task: str, group: str | None = None, **kwargs: Any) -> None:
        # A mapped instance is labelled in the grid by its replication group, not 0, 1, 2.
        kwargs.setdefault("map_index_template", "{{ task.group }}")
        super().__init__(**kwargs)
        self.resync_task = resync_task
        self.group = group

    # ---- Airflow entry points ------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        return self._recording_failure(context, self._start, context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        return self._recording_failure(context, self._resume, context, event)

    def _recording_failure(self, context: Context, call: Any, *args: Any) -> dict[str, Any]:
        """Run ``call``; on a failure, leave its message (node, phase, group or library, message
        id) in the XCom ``failure``, so the run report says why, not only which task failed.
        A retry starts with the task's XComs cleared, so only the last attempt's stays."""
        try:
            result = call(*args)
        except Exception as error:  # TaskDeferred is a BaseException: a deferral passes
            message = str(error) or type(error).__name__
            failure = {"task": self.resync_task, "group": self.group, "message": message}
            ti = context.get("ti")
            if ti is not None:  # a task instance is there in every real run
                ti.xcom_push(key="failure", value=failure)
            raise
        attempt = getattr(context.get("ti"), "try_number", None)
        if isinstance(attempt, int) and isinstance(result, dict):
            result["attempt"] = attempt  # the report says which tasks ran again
        return result

    def _start(self, context: Context) -> dict[str, Any]:
        if TASKS[self.resync_task].per_group and not self.group:
            # e.g. start_system_group in a run without the SYSTEM group
            self.log.info("%s: no replication group given, nothing to do", self.resync_task)
            return {"task": self.resync_task, "group": None, "log": []}
        plan, options, steps = self._slice(context)
        if options.dry_run and self.resync_task != "preflight":
            for step in steps:
                self.log.info(
                    "dry run, would send on %s: %s %s %s",
                    step.node,
                    step.kind,
                    step.shell or step.text,
                    list(step.params) or "",
                )
            return {"dry_run": True, "steps": len(steps)}
        inherited = self._inherited(context, plan, options, steps)
        return self._walk(context, plan, options, steps, RunState(dict(inherited)), 0, inherited)

    def _resume(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        finished = event.get("finished")
        if isinstance(finished, Mapping):
            # The trigger walked the rest of the slice itself. Under a real triggerer it ends
            # the task there; only `dag.test()` brings it back here.
            self.log.info("the rest of the task after its wait was walked by the trigger")
            return dict(finished)
        plan, options, steps = self._slice(context)
        resume = event.get("resume") or {}
        try:
            state, inherited, index = from_checkpoint(resume)
        except ValueError as error:
            message = f"the wait came back without the task's state: {event}"
            raise AirflowFailException(message) from error
        # The earlier tasks' answers rode in the trigger with the task's own: a resume reads
        # no XCom (each upstream task is a request to the api-server, about ten a start).
        if not isinstance(resume.get("inherited"), Mapping):  # a trigger deferred without them
            inherited = self._inherited(context, plan, options, steps)
            state.values = {**inherited, **state.values}
        executor = self._executor(plan, options, state)
        try:
            executor.resume(steps, index, event)
        except _FINAL as error:
            raise AirflowFailException(str(error)) from error
        return self._walk(context, plan, options, steps, executor.state, index + 1, inherited)

    def _inherited(
        self, context: Context, plan: Plan, options: RunOptions, steps: list[Step]
    ) -> dict[str, Any]:
        """The answers of the run's earlier tasks that `steps` read (`earlier_answers`): the
        object counts pre-flight recorded, the saved counts, the marked position, whether a
        continuous sync check ran (keys carry their group or library, so instances of
        different groups never collide).

        Why: each task walks only its slice of the program, but later checks need earlier
        answers (a restore is reconciled against the saved count; replication starts only at
        the position marked in phase 2). They travel as the upstream tasks' XComs, and each
        task read is a request to the api-server. So a task whose steps read none pulls
        nothing; it reads only the upstream tasks that learn what it needs
        (`answering_tasks`: a restore reads the save, not the seven tasks between); and of
        the tasks mapped over the groups, only its own group's instance: every instance
        would make each task start read O(groups) XComs, O(groups²) in a run (a 200-group
        run has 1,800 such task instances).
        """
        wanted = earlier_answers(steps)
        if not wanted or not self.has_dag():
            return {}
        before = [
            task
            for task in self.get_flat_relatives(upstream=True)
            if isinstance(task, ResyncTaskOperator)
        ]
        answering = answering_tasks(
            self.program,
            plan,
            options,
            run_key=_run_key(context),
            wanted=wanted,
            group=self.group,
            among={task.resync_task for task in before},
        )
        upstream = sorted(
            (task for task in before if task.resync_task in answering),
            key=lambda task: task.task_id,
        )
        if not upstream:
            return {}
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        own_group_only = bool(self.group) and isinstance(map_index, int) and map_index >= 0
        whole = [t.task_id for t in upstream if not own_group_only or not _mapped(t)]
        pulled = _as_list(ti.xcom_pull(task_ids=whole)) if whole else []
        for task in upstream if own_group_only else ():
            if not _mapped(task):
                continue
            # The mapped task groups all expand over select_groups' list: the same map
            # index is the same group. Checked, and if not, every instance is read.
            mine = ti.xcom_pull(task_ids=task.task_id, map_indexes=map_index)
            if isinstance(mine, Mapping) and mine.get("group") == self.group:
                pulled.append(mine)
            else:
                pulled.extend(_as_list(ti.xcom_pull(task_ids=[task.task_id])))
        inherited: dict[str, Any] = {}
        for result in pulled:
            if isinstance(result, Mapping):
                inherited.update((key, result[key]) for key in wanted if key in result)
        return inherited

    # ---- the walk ------------------------------------------------------------------------

    def _walk(
        self,
        context: Context,
        plan: Plan,
        options: RunOptions,
        steps: list[Step],
        state: RunState,
        start: int,
        inherited: Mapping[str, Any],
    ) -> dict[str, Any]:
        executor = self._executor(plan, options, state)
        try:
            with (
                open_node(plan, "PRIMARY", dry_run=options.dry_run) as primary,
                open_node(plan, "BACKUP", dry_run=options.dry_run) as backup,
            ):
                executor.nodes = {"PRIMARY": primary, "BACKUP": backup}
                pending = executor.run(steps, start)
        except _FINAL as error:
            raise AirflowFailException(str(error)) from error
        if pending is not None:
            rest = self._rest(context, options, steps, pending.index)
            resume = checkpoint(executor.state, inherited, pending.index)
            self._defer_on(plan, pending, resume, rest)
        return task_result(self.resync_task, self.group, executor.state, inherited)

    def _rest(
        self,
        context: Context,
        options: RunOptions,
        steps: list[Step],
        index: int,
    ) -> dict[str, Any] | None:
        """What the trigger needs to walk on after the wait itself, when it can run the steps
        up to the next wait (`trigger_walks_on`: commands, batch jobs, checks): which program,
        plan, form, run, task and attempt, so it cuts the same steps. Why: the task then ends
        in the triggerer, or polls its next wait there, without coming back to a worker; a
        task start costs 1-3 s of wall time on the outage's path (docs/benchmarks.md)."""
        if not self.rest_in_trigger or not trigger_walks_on(steps, index):
            return None
        return {
            "program": qualname(self.program),
            "plan": plan_path(),
            "options": options.model_dump(mode="json"),
            "run_key": _run_key(context),
            "task": self.resync_task,
            "group": self.group or None,
            "attempt": getattr(context.get("ti"), "try_number", None),
            "digest": slice_digest(steps),
        }

    def _defer_on(
        self,
        plan: Plan,
        pending: PendingWait,
        resume: dict[str, Any],
        rest: dict[str, Any] | None,
    ) -> None:
        node = plan.primary if pending.node == "PRIMARY" else plan.backup
        self.log.info("waiting on %s: %s until %s", node.name, pending.sql, pending.condition)
        self.defer(
            trigger=NodeQueryTrigger(
                odbc_conn_id=node.odbc_conn_id,
                sql=pending.sql,
                params=pending.params,
                condition=pending.condition,
                poll_seconds=pending.poll_seconds,
                timeout_seconds=pending.timeout_seconds,
                resume=resume,
                rest=rest,
            ),
            method_name="execute_complete",
        )

    def _executor(self, plan: Plan, options: RunOptions, state: RunState) -> Executor:
        names = {"PRIMARY": plan.primary.name, "BACKUP": plan.backup.name}
        return Executor({}, state, log=self.log.info, mover=SftpSaveFileMover(plan), names=names)

    def _slice(self, context: Context) -> tuple[Plan, RunOptions, list[Step]]:
        try:
            plan = load_plan(plan_path())
            options = run_options(context.get("params"))
            steps = build_task_steps(
                self.program,
                plan,
                options,
                run_key=_run_key(context),
                task=self.resync_task,
                group=self.group or None,
            )
        except _FINAL as error:
            raise AirflowFailException(str(error)) from error
        return plan, options, steps
