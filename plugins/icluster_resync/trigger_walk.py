"""The rest of a deferred task, walked in the triggerer after its wait ends.

When a wait ends, what follows it is a command, a batch job or a check: DMMRKPOS after the
group ended, the saves after the mark, the job log check after a save, the latency wait after
a group starts at its mark. Coming back to a worker for them costs a task start: 1-3 s of
wall time between the wait's end and the next step, and the scheduler's and a worker's CPU
(docs/benchmarks.md), on the outage's path for every group. So the trigger walks them itself,
with the same executor, the same steps and their guards, on the plan's nodes (SSH does, ODBC
observes: the same transports as a worker), and either ends the task, polls the next wait, or
hands the task back to a worker exactly where it stands: at a wait followed by a save file
to move, or at the wait before a step that failed.

The SSH connection is opened for the steps between two waits and closed before the next wait
is polled: no SSH session is held while IBM i works.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk.module_loading import import_string

from ibmi_resync.executor import (
    Executor,
    PendingWait,
    checkpoint,
    from_checkpoint,
    slice_digest,
    task_result,
    trigger_walks_on,
)
from ibmi_resync.node import Database
from ibmi_resync.plan import Plan, RunOptions
from ibmi_resync.tasks import build_task_steps
from icluster_resync.transport import close_shells, plan_node

__all__ = ["TriggerWalk", "WorkerNext"]


class WorkerNext(RuntimeError):
    """The steps after the wait move a save file: a worker takes the task over at that wait."""


class TriggerWalk:
    """A task's slice from its checkpoint (the wait being polled) to its end.

    :param rest: what `ResyncTaskOperator._rest` gave the trigger: program, plan, form, run,
        task, group, attempt and the steps' digest.
    :param resume: the checkpoint of the wait the trigger polls (`executor.checkpoint`).
    :param plan: the plan `rest` names, loaded.
    :param databases: an ODBC database of each role, "PRIMARY" and "BACKUP"; the trigger
        polls its waits on them too, and closes them.
    """

    def __init__(
        self,
        rest: Mapping[str, Any],
        resume: Mapping[str, Any],
        plan: Plan,
        databases: Mapping[str, Database],
        *,
        log: Callable[[str], None],
    ) -> None:
        program = import_string(str(rest["program"]))
        options = RunOptions.model_validate_json(json.dumps(rest["options"]))
        self.steps = build_task_steps(
            program,
            plan,
            options,
            run_key=str(rest["run_key"]),
            task=str(rest["task"]),
            group=rest.get("group") or None,
        )
        if slice_digest(self.steps) != rest.get("digest"):
            # The plan file changed since the task deferred, or another slice was cut:
            # the indexes in the checkpoint would point at other steps.
            raise ValueError("the task's steps, cut again here, differ from the deferred task's")
        self.task = str(rest["task"])
        self.group = rest.get("group") or None
        self.attempt = rest.get("attempt")
        self.resume = dict(resume)
        self.log = log
        self.names = {"PRIMARY": plan.primary.name, "BACKUP": plan.backup.name}
        self.odbc_conn_ids = {
            "PRIMARY": plan.primary.odbc_conn_id,
            "BACKUP": plan.backup.odbc_conn_id,
        }
        self.nodes = {
            role: plan_node(plan, role, database=databases[role]) for role in ("PRIMARY", "BACKUP")
        }

    def advance(self, event: Mapping[str, Any]) -> PendingWait | dict[str, Any]:
        """Resume at the checkpoint's wait with its `event` and walk on.

        Returns the next wait still to poll (the checkpoint moves there), or the finished
        task's XCom. Raises when a worker must take over: the steps after the wait move a
        save file (`WorkerNext`, checked before any of them runs), a command or check that
        failed, a node that could not be reached, a result that is not plain JSON. The
        checkpoint then stays where it was, so the worker resumes at that wait and walks the
        same steps again with their guards, as a retried task does: a command IBM i refused
        is refused again and the worker reports it as any failure.
        """
        state, inherited, index = from_checkpoint(self.resume)
        if not trigger_walks_on(self.steps, index):
            raise WorkerNext(f"the steps after this wait move a save file ({self.task})")
        executor = Executor(self.nodes, state, log=self.log, names=self.names)
        executor.resume(self.steps, index, event)
        try:
            pending = executor.run(self.steps, index + 1, poll_first=False)
        finally:
            # The trigger polls its next wait over ODBC alone: no SSH session is held while
            # IBM i works.
            close_shells(self.nodes.values())
        if pending is not None:
            self.resume = checkpoint(executor.state, inherited, pending.index)
            return pending
        result = task_result(self.task, self.group, executor.state, inherited)
        if isinstance(self.attempt, int):
            result["attempt"] = self.attempt  # as the worker's result says (the report reads it)
        json.dumps(result)  # a TypeError here: the worker ends the task instead
        return result

    def close(self) -> None:
        close_shells(self.nodes.values())
