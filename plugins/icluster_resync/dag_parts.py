"""What the resync, rehearsal and network-sync DAGs declare alike: the task defaults and the
trigger form's `groups` and `dry_run` fields, so retries and the form read the same in each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param

from ibmi_resync.plan import Plan

__all__ = ["dry_run_param", "groups_param", "task_defaults"]


def task_defaults(**extra: Any) -> dict[str, Any]:
    """Owner and retry policy of every task. Two retries, 30 s apart, are for lost
    connections (a node that refused connections, an SSH channel that closed mid-command);
    an answer from IBM i fails the task at once (operators._FINAL)."""
    return {"owner": "ibm-i-ha", "retries": 2, "retry_delay": timedelta(seconds=30), **extra}


def groups_param(plan: Plan, description: str) -> Param:
    """The replication groups of the run, chosen among the plan's (the form offers them)."""
    return Param(
        [],
        type="array",
        items={"type": "string", "enum": list(plan.group_names)},
        description=description,
    )


def dry_run_param() -> Param:
    return Param(False, type="boolean", description="Log the commands, change nothing.")
