"""
### iCluster network sync: resynchronise chosen groups over the network

Rocket's other way to resync ("iCluster Synchronization - Synchronizing replication using the
network connection", icluster.md §9): no save files and no outage. For each chosen group:

0. pre-flight (nodes reachable, roles, iCluster active, groups known, storage)
1. end the group if it runs, then start it with the refresh option (DMSTRGRP with refresh,
   one batch job per group) and wait for the refresh's completion message and the group to
   be active
2. wait until latency resolves (what the applications changed during the refresh is applied)
3. final sync check, then the continuous sync check again if one ran before

The refresh copies every object of the group over the network, so it suits groups that are
small or cannot stop (bandwidth, data volume and rate of change limit it). The plan file (env
IBMI_RESYNC_PLAN) names the nodes and groups; the site profile names the refresh command and
its messages (`commands.start_group_refresh`, `messages.refresh_complete` / `refresh_failed`).
See docs/network-sync.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task, task_group
from airflow.sdk.exceptions import AirflowFailException

from ibmi_resync.plan import PlanError, RunOptions, load_plan
from icluster_resync.dag_parts import dry_run_param, groups_param, task_defaults
from icluster_resync.network_sync import NetworkSyncTaskOperator
from icluster_resync.notifications import resync_notifiers
from icluster_resync.operators import ResyncTaskOperator, plan_path
from icluster_resync.reporting import write_run_report

PLAN = load_plan(plan_path())
NOTIFY = resync_notifiers(PLAN)
NETWORK_SYNC_REPORT = Asset(
    name=f"icluster_network_sync_report_{PLAN.name}",
    uri=f"ibmi-resync://{PLAN.name}/network-sync-report",
)

with DAG(
    dag_id="icluster_network_sync",
    description="Rocket iCluster resync of chosen groups over the network (refresh)",
    doc_md=__doc__,
    schedule=None,  # by hand, for the groups chosen in the trigger form
    start_date=pendulum.datetime(2026, 1, 1, tz=PLAN.schedule.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["ibm-i", "icluster", "resync", "network-sync"],
    default_args=task_defaults(**NOTIFY.task_defaults),
    params={
        "groups": groups_param(
            PLAN, "Replication groups to synchronise over the network (at least one)."
        ),
        "dry_run": dry_run_param(),
    },
) as dag:

    @task
    def select_groups(params: dict | None = None) -> list[str]:
        """The run's groups, validated against the plan as the resync DAG validates them; a
        network sync never means "every group" by default (each refresh moves all its data)."""
        try:
            options = RunOptions.from_trigger(params)
            chosen = options.selected_groups(PLAN)
        except PlanError as error:
            raise AirflowFailException(str(error)) from None  # retrying cannot fix a form
        if not options.groups:
            raise AirflowFailException(
                "trigger params: groups: choose the groups to synchronise over the network "
                f"(plan {PLAN.name}: {', '.join(PLAN.group_names)})"
            )
        missing = PLAN.site_profile.network_sync_missing()
        if missing:
            raise AirflowFailException(
                f"site profile {PLAN.site_profile.name}: {', '.join(missing)} must be set for "
                "the network sync (icluster.md §9)"
            )
        return [group.name for group in chosen]

    groups = select_groups()
    preflight = NetworkSyncTaskOperator(task_id="preflight", resync_task="preflight")

    @task_group(group_id="network_sync")
    def network_sync(group: str) -> None:
        """One group: start with refresh, wait for latency, final sync check."""
        refresh = NetworkSyncTaskOperator(
            task_id="start_with_refresh",
            resync_task="start_replication",
            group=group,
            # A retry would find the group refreshing and wait for it to end: re-run the DAG
            # instead (it ends the group and refreshes again), see docs/network-sync.md.
            retries=0,
        )
        latency = NetworkSyncTaskOperator(
            task_id="wait_for_latency", resync_task="wait_for_latency", group=group
        )
        final = NetworkSyncTaskOperator(
            task_id="final_sync_check", resync_task="final_sync_check", group=group
        )
        refresh >> latency >> final

    synced = network_sync.expand(group=groups)

    @task(trigger_rule="all_done", outlets=[NETWORK_SYNC_REPORT], **NOTIFY.report_kwargs)
    def write_report(**context) -> dict:
        """The run report (JSON and HTML), the same as the resync's: OK / WARN / FAIL."""
        tasks = [t.task_id for t in context["dag"].tasks if isinstance(t, ResyncTaskOperator)]
        summary = write_run_report(context, PLAN, tasks)
        if summary["status"] == "FAIL":
            raise AirflowFailException(
                f"network sync FAILED: {'; '.join(summary['reasons'])}; report {summary['report']}"
            )
        return summary

    groups >> preflight >> synced >> write_report()
