"""Serial baseline (issue 7 figure 3): the same resync, one step at a time, no Airflow.

What a careful operator does by hand, through the product's own client: the program of
``ibmi_resync.program`` cut into the DAG's task slices (``ibmi_resync.tasks``), each slice
walked by the same ``Executor`` over the same node client and transports (SSH through
SSHHook, SQL through the ODBC hook, save files through the product's SFTP mover); groups one
after another in plan order (SYSTEM first), tasks in runbook order; every wait polled here at
the plan's poll interval, the way the deferred trigger polls it. Values a task learned are
handed to the next ones, as the DAG's XComs do.

Run it against a pair started with the benchmark's configuration; the Airflow connections
come from the pair (``AIRFLOW_CONN_*`` in this process's environment).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

from ibmi_resync.executor import Executor, PendingWait, RunState
from ibmi_resync.plan import Plan, RunOptions, load_plan
from ibmi_resync.program import resync_program
from ibmi_resync.tasks import RESYNC_TASKS, TASKS, steps_for_task
from ibmi_resync.waits import evaluate

# Keys of a slice's state that describe the slice or its own step indexes (as the operator
# leaves them out of what later tasks inherit: plugins/icluster_resync/operators.py).
_NOT_VALUES = frozenset({"task", "group", "log", "dry_run", "steps", "held_failures"})
_STEP_LOCAL = ("outcome:", "found:", "timed_out:")


def _wait(plan: Plan, pending: PendingWait) -> dict[str, Any]:
    """Poll the wait's SQL until its condition holds (the NodeQueryTrigger's loop, inline)."""
    from icluster_resync.transport import OdbcDatabase

    node = plan.primary if pending.node == "PRIMARY" else plan.backup
    database = OdbcDatabase(node.odbc_conn_id)
    started = time.time()
    memory: dict[str, Any] = {}
    seen = "no poll answered yet"
    try:
        while True:
            rows = database.fetch(pending.sql, list(pending.params))
            verdict = evaluate(pending.condition, rows, memory)
            memory, seen = verdict.memory, verdict.seen
            if verdict.done:
                status = "done" if verdict.ok else "failed"
                return {"status": status, "seen": seen, "details": verdict.details}
            if time.time() - started >= pending.timeout_seconds:
                return {"status": "timeout", "seen": seen, "details": {}}
            time.sleep(pending.poll_seconds)
    finally:
        database.close()


def run(plan_path: str, out: TextIO | None = None) -> dict[str, Any]:
    """Walk the whole resync serially; returns wall time, slices run and the time span."""
    from icluster_resync.transfer import SftpSaveFileMover
    from icluster_resync.transport import open_node

    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # The hooks log every command (info) and a driver warning per connection through
    # structlog: the serial run's own lines say what runs.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    plan = load_plan(plan_path)
    options = RunOptions(approvals_required=False)
    run_key = f"serial__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    steps = resync_program(plan, options, run_key=run_key)
    groups = [group.name for group in plan.groups]
    values: dict[str, Any] = {}
    names = {"PRIMARY": plan.primary.name, "BACKUP": plan.backup.name}
    mover = SftpSaveFileMover(plan)
    slices = 0
    started_at = datetime.now(UTC)
    started = time.monotonic()
    # The runbook's order, phase by phase: a task of several phases (a group's mark and save)
    # is done as an operator does it by hand, every group's mark, then every group's save.
    for task, phase in ((name, phase) for name in RESYNC_TASKS for phase in TASKS[name].phases):
        for group in groups if TASKS[task].per_group else [None]:
            chosen = [s for s in steps_for_task(steps, task, group) if s.phase is phase]
            if not chosen:
                continue
            slices += 1
            executor = Executor({}, RunState(dict(values)), mover=mover, names=names)
            with open_node(plan, "PRIMARY") as primary, open_node(plan, "BACKUP") as backup:
                executor.nodes = {"PRIMARY": primary, "BACKUP": backup}
                index = 0
                while (pending := executor.run(chosen, index)) is not None:
                    executor.resume(chosen, pending.index, _wait(plan, pending))
                    index = pending.index + 1
            values.update(
                (key, value)
                for key, value in executor.state.values.items()
                if key not in _NOT_VALUES and not key.startswith(_STEP_LOCAL)
            )
            if out is not None:
                label = f"{task}[{group}]" if group else task
                print(f"  serial: {label} done at {time.monotonic() - started:.1f} s", file=out)
    return {
        "wall_s": round(time.monotonic() - started, 1),
        "slices": slices,
        "start": started_at,
        "end": datetime.now(UTC),
    }
