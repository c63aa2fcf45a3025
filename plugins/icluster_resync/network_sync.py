"""The operator of the network-sync DAG: the resync operator on another program.

Why a subclass and not a new executor: the network sync (icluster.md §9) is the same kind of
work as the save/restore resync (CL over SSH, SQL over ODBC, deferred waits, guards, batch
jobs with deterministic names), only a different ordered program
(`ibmi_resync.program.network_sync_program`). Everything else (deferral, failure messages for
the report, what earlier tasks learned, dry run) is `ResyncTaskOperator`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from ibmi_resync.plan import Plan, RunOptions, load_plan
from ibmi_resync.program import Step, network_sync_program
from ibmi_resync.tasks import steps_for_task
from icluster_resync.operators import _FINAL, ResyncTaskOperator, plan_path, run_options

if TYPE_CHECKING:
    from airflow.sdk import Context


class NetworkSyncTaskOperator(ResyncTaskOperator):
    """Run the network-sync program steps of `resync_task` (a key of ibmi_resync.tasks.TASKS:
    the network sync reuses the resync's phases and task slices)."""

    ui_color = "#dcefe2"

    def _slice(self, context: Context) -> tuple[Plan, RunOptions, list[Step]]:
        try:
            plan = load_plan(plan_path())
            options = run_options(context.get("params"))
            run_id = context["dag_run"].run_id if context.get("dag_run") else "manual"
            steps = network_sync_program(plan, options, run_key=run_id)
        except _FINAL as error:
            raise AirflowFailException(str(error)) from error
        return plan, options, steps_for_task(steps, self.resync_task, self.group or None)
