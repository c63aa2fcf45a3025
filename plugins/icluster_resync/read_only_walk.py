"""The rest of a deferred task, walked in the triggerer while it only reads the nodes.

After a batch save or restore ends, what is left of its task is the job log check and the
object counts: SQL through ODBC (ibmi.md §8); after a group starts at its mark, the next step
is the wait for its latency. Coming back to a worker for them costs a task start: 1-3 s of
wall time between the wait's end and the next step, and the scheduler's and a worker's CPU
(docs/benchmarks.md), on the outage's path for the last save. So the trigger walks them
itself, with the same executor and the same steps, on nodes that can only observe
(`NoShell`: SSH does, ODBC observes), and either ends the task, polls the next wait, or hands
the task back to a worker exactly where it stands: at a wait whose next steps send a command.
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
    reads_to_next_wait,
    slice_digest,
    task_result,
)
from ibmi_resync.node import Database, IbmiNode, NoShell
from ibmi_resync.plan import Plan, RunOptions
from ibmi_resync.tasks import build_task_steps

__all__ = ["CommandNext", "ReadOnlyWalk"]


class CommandNext(RuntimeError):
    """The steps after the wait send a command: a worker takes the task over at that wait."""


class ReadOnlyWalk:
    """A task's slice from its checkpoint (the wait being polled) to its end.

    :param rest: what `ResyncTaskOperator._rest` gave the trigger: program, plan, form, run,
        task, group, attempt and the steps' digest.
    :param resume: the checkpoint of the wait the trigger polls (`executor.checkpoint`).
    :param plan: the plan `rest` names, loaded.
    :param databases: an ODBC database of each role, "PRIMARY" and "BACKUP"; the walk
        closes them.
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
            role: IbmiNode(
                name=node.name,
                role=node.role,
                shell=NoShell(),
                database=databases[role],
                profile=plan.site_profile,
            )
            for role, node in (("PRIMARY", plan.primary), ("BACKUP", plan.backup))
        }

    def advance(self, event: Mapping[str, Any]) -> PendingWait | dict[str, Any]:
        """Resume at the checkpoint's wait with its `event` and walk on.

        Returns the next wait still to poll (the checkpoint moves there), or the finished
        task's XCom. Raises when a worker must take over: the steps after the wait send a
        command (`CommandNext`, checked before any of them runs, so nothing is read twice),
        a step that needs SSH after all, a check that failed (the worker reports it as any
        failure), a result that is not plain JSON. The checkpoint then stays where it was,
        so the worker resumes at that wait.
        """
        state, inherited, index = from_checkpoint(self.resume)
        executor = Executor(self.nodes, state, log=self.log, names=self.names)
        executor.resume(self.steps, index, event)
        if not reads_to_next_wait(self.steps, index, executor.state.values):
            raise CommandNext(f"the steps after this wait send a command ({self.task})")
        pending = executor.run(self.steps, index + 1, poll_first=False)
        if pending is not None:
            self.resume = checkpoint(executor.state, inherited, pending.index)
            return pending
        result = task_result(self.task, self.group, executor.state, inherited)
        if isinstance(self.attempt, int):
            result["attempt"] = self.attempt  # as the worker's result says (the report reads it)
        json.dumps(result)  # a TypeError here: the worker ends the task instead
        return result

    def close(self) -> None:
        for node in self.nodes.values():
            close = getattr(node.database, "close", None)
            if close is not None:
                close()
