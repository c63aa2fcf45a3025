"""
### iCluster rehearsal: DMMRKPOS per replication group ahead of the outage, timed

Rocket's runbook "iCluster Synchronization - Synchronizing all groups", optional step (a):
run DMMRKPOS in advance "to identify if there are any issues with the group definitions and
... a benchmark estimate of how long you can expect it to take".

0. pre-flight (the resync's own: nodes reachable, roles, iCluster active, groups known,
   object counts, storage)
1. per replication group (mapped): end the group (and its continuous sync check) as the
   resync's mark step does, DMMRKPOS, wait for the completion message in the event log
   (deferred); timed
2. start every group it ended at the position it just marked, SYSTEM first, and the
   continuous sync check again where one ran
3. the rehearsal report (next to the resync reports), with the runbook's caveats and the
   forecast of the next resync's outage

It never ends an application, saves, clears or restores. Caveats (runbook step a): after
DMMRKPOS every object of the marked groups is journaled; the mark meets the running
applications' locks and is slower than in the outage. See docs/rehearsal-and-windows.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task, task_group
from airflow.sdk.exceptions import AirflowFailException

from ibmi_resync.plan import PlanError, RunOptions, load_plan
from ibmi_resync.rehearsal import groups_ended
from icluster_resync.dag_parts import dry_run_param, groups_param, task_defaults
from icluster_resync.operators import ResyncTaskOperator, plan_path
from icluster_resync.rehearsal import RehearsalRestartOperator, write_rehearsal_report
from icluster_resync.reporting import _results

PLAN = load_plan(plan_path())
MARK_TASK = "rehearse.mark_positions"

with DAG(
    dag_id="icluster_rehearsal",
    description="Rocket iCluster rehearsal: DMMRKPOS per group ahead of the outage, timed",
    doc_md=__doc__,
    schedule=None,  # by hand, days or weeks before the outage (runbook step a)
    start_date=pendulum.datetime(2026, 1, 1, tz=PLAN.schedule.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["ibm-i", "icluster", "rehearsal"],
    default_args=task_defaults(),
    params={
        "groups": groups_param(
            PLAN, "Replication groups to rehearse; empty means all of the plan's groups."
        ),
        "dry_run": dry_run_param(),
    },
) as dag:

    @task
    def select_groups(params: dict | None = None) -> list[str]:
        """The run's groups, SYSTEM first, validated against the plan as the resync's are."""
        try:
            chosen = RunOptions.from_trigger(params).selected_groups(PLAN)
        except PlanError as error:
            raise AirflowFailException(str(error)) from None  # retrying cannot fix a form
        return [group.name for group in sorted(chosen, key=lambda group: not group.system)]

    groups = select_groups()
    preflight = ResyncTaskOperator(task_id="preflight", resync_task="preflight")

    @task_group(group_id="rehearse")
    def rehearse(group: str) -> None:
        """Runbook step (a) for one group: the resync's own mark step, deferred waits."""
        ResyncTaskOperator(task_id="mark_positions", resync_task="mark_positions", group=group)

    marks = rehearse.expand(group=groups)

    @task
    def ended_groups(**context) -> list[str]:
        """The groups the marks ended (they were replicating): those are started again."""
        return groups_ended(PLAN, _results(context["ti"].xcom_pull(task_ids=MARK_TASK)))

    ended = ended_groups()

    @task
    def system_group_ended(ended: list[str]) -> str | None:
        """The SYSTEM group starts first (runbook step 10), if the rehearsal ended it."""
        return next((name for name in ended if PLAN.group(name).system), None)

    start_system_group = RehearsalRestartOperator(
        task_id="start_system_group",
        resync_task="start_replication",
        group=system_group_ended(ended),
        restarted=ended,
    )

    @task_group(group_id="restart")
    def restart(group: str) -> None:
        """Start the group at the position just marked; its continuous sync check again."""
        start = RehearsalRestartOperator(
            task_id="start_replication",
            resync_task="start_replication",
            group=group,
            restarted=ended,
        )
        sync_check = RehearsalRestartOperator(
            task_id="restart_continuous_sync_check",
            resync_task="final_sync_check",
            group=group,
            restarted=ended,
            keep_guard="was_running",
        )
        start >> sync_check

    restarted = restart.expand(group=ended)

    @task(trigger_rule="all_done")
    def write_report(**context) -> dict:
        """The rehearsal report (JSON and HTML): timings per group, caveats, the forecast."""
        tasks = [t.task_id for t in context["dag"].tasks if isinstance(t, ResyncTaskOperator)]
        summary = write_rehearsal_report(
            context,
            PLAN,
            mark_task=MARK_TASK,
            restart_tasks=[t for t in tasks if t != "preflight" and t != MARK_TASK],
            task_ids=tasks,
        )
        if summary["status"] == "FAIL":
            raise AirflowFailException(
                f"rehearsal FAILED: {'; '.join(summary['reasons'])}; report {summary['report']}"
            )
        return summary

    groups >> preflight >> marks >> ended
    start_system_group >> restarted >> write_report()
