"""
### iCluster resync: synchronise all replication groups by save and restore

Rocket's runbook "iCluster Synchronization - Synchronizing all groups", a task per step:

0. pre-flight (nodes reachable, roles, iCluster active, groups known, storage)
1. end the applications, their subsystems and users
2-3. per replication group, one task: end the group, mark positions (DMMRKPOS), wait for
   the event log, then save its libraries, IFS and DLO as batch jobs, verify the job logs;
   beside them save the security data; then restart the applications (the outage ends)
4. move the save files to BACKUP (SFTP, checksums on both ends)
5. approval, then clear the target libraries on BACKUP
6. restore user profiles, then per group libraries, IFS, DLO, then RSTAUT
7. start iCluster and its nodes
8. sync check per group (DMSTRSC *OBJATTR, repair *AUTH *CBU *CRD)
9. start the SYSTEM group at the marked position, then per group, one task: start it at
   its mark, 10. wait until latency resolves, 11. final sync check

The plan file (env IBMI_RESYNC_PLAN) names the nodes, groups and limits; the trigger form
narrows a run (groups, dry run, approvals). `python -m ibmi_resync plan` prints every
command this DAG sends.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Asset, Param, task, task_group
from airflow.sdk.exceptions import AirflowFailException

from ibmi_resync.forecast import forecast_from_folder
from ibmi_resync.plan import PlanError, RunOptions, load_plan
from ibmi_resync.window import Decision, decide
from icluster_resync.dag_parts import dry_run_param, groups_param, task_defaults
from icluster_resync.notifications import resync_notifiers
from icluster_resync.operators import ResyncTaskOperator, plan_path, run_options
from icluster_resync.reporting import reports_folder, write_run_report
from icluster_resync.timetable import resync_schedule

PLAN = load_plan(plan_path())
log = logging.getLogger(__name__)
# E-mail (or another channel) for an approval waiting, a failure, latency that does not
# resolve and the finished run, as the plan's `notifications` section asks; none by default.
NOTIFY = resync_notifiers(PLAN)
# Announced when a run's report is written, so audit or notification DAGs can follow runs.
RESYNC_REPORT = Asset(
    name=f"icluster_resync_report_{PLAN.name}", uri=f"ibmi-resync://{PLAN.name}/report"
)

with DAG(
    dag_id="icluster_resync",
    description="Rocket iCluster resync of an IBM i pair by save and restore",
    doc_md=__doc__,
    # The plan's maintenance windows as a timetable (plugins/maintenance_window_plugin.py
    # registers it), or its cron, or None: manual runs only.
    schedule=resync_schedule(PLAN.schedule),
    start_date=pendulum.datetime(2026, 1, 1, tz=PLAN.schedule.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["ibm-i", "icluster", "resync"],
    default_args=task_defaults(**NOTIFY.task_defaults),
    params={
        "groups": groups_param(
            PLAN, "Replication groups to resync; empty means all of the plan's groups."
        ),
        "dry_run": dry_run_param(),
        "approvals_required": Param(
            PLAN.approvals_required,
            type="boolean",
            description="Ask a person before any library is cleared on BACKUP.",
        ),
        "transfer_mode": Param("sftp", enum=["sftp"], description="How save files travel."),
        "window_override_reason": Param(
            "",
            type="string",
            maxLength=500,
            description="Start even if the maintenance-window guard refuses, for this reason "
            "(kept in the task log and the run report).",
        ),
    },
) as dag:

    def window_guard(run, override_reason: str) -> Decision:
        """The maintenance-window guard (ibmi_resync.window) for this run, with the forecast
        of the outage from the rehearsals and past runs in the reports folder."""
        schedule = PLAN.schedule
        if not schedule.windows and schedule.window_minutes is None:
            return decide(schedule, scheduled=False, now=pendulum.now("UTC"))
        scheduled = str(run.run_type).endswith("scheduled")
        opens = getattr(run, "data_interval_start", None) or run.run_after
        closes = getattr(run, "data_interval_end", None)
        if schedule.window_minutes is not None:  # cron: the window starts at the run time
            opens = run.run_after
            closes = opens + timedelta(minutes=schedule.window_minutes)
        forecast = forecast_from_folder(PLAN, reports_folder())
        return decide(
            schedule,
            scheduled=scheduled,
            now=pendulum.now("UTC"),
            run_window=(opens, closes) if closes is not None and opens < closes else None,
            outage_minutes=forecast.outage_minutes,
            outage_source=f"forecast: {forecast.outage_source}",
            override_reason=override_reason,
        )

    @task
    def select_groups(params: dict | None = None, **context) -> list[str]:
        """The run's groups, SYSTEM first (runbook step 10), validated against the plan;
        a scheduled run that cannot finish its outage inside the window does not start."""
        try:
            # Strict: every later task reads the same params through run_options().
            options = RunOptions.from_trigger(params)
            chosen = options.selected_groups(PLAN)
        except PlanError as error:
            raise AirflowFailException(str(error)) from None  # retrying cannot fix a form
        decision = window_guard(context["dag_run"], options.window_override_reason)
        if context.get("ti") is not None:
            context["ti"].xcom_push(key="window", value=decision.message)
        if not decision.start:
            raise AirflowFailException(decision.message)
        (log.warning if decision.overridden else log.info)(
            "maintenance window: %s", decision.message
        )
        return [group.name for group in sorted(chosen, key=lambda group: not group.system)]

    groups = select_groups()

    @task
    def system_group_of_run(groups: list[str]) -> str | None:
        """The SYSTEM group if this run resyncs it (runbook step 10 starts it first)."""
        return next((name for name in groups if PLAN.group(name).system), None)

    preflight = ResyncTaskOperator(task_id="preflight", resync_task="preflight")
    end_applications = ResyncTaskOperator(
        task_id="end_applications", resync_task="end_applications"
    )

    @task_group(group_id="outage")
    def outage_of(group: str) -> None:
        """Runbook steps 2-3 for one group, one task: end the group, mark its positions, wait
        for the completion message, then save its libraries, IFS and DLO and check the job
        logs. Its save starts as soon as its own mark is done (ibmi_resync.tasks says why one
        task)."""
        ResyncTaskOperator(task_id="mark_and_save", resync_task="mark_and_save", group=group)

    outage = outage_of.expand(group=groups)
    save_security_data = ResyncTaskOperator(
        task_id="save_security_data", resync_task="save_security_data"
    )
    restart_applications = ResyncTaskOperator(
        task_id="restart_applications", resync_task="restart_applications"
    )

    transfer_security_data = ResyncTaskOperator(
        task_id="transfer_security_data", resync_task="transfer_security_data"
    )

    @task_group(group_id="move")
    def move(group: str) -> None:
        """Runbook step 4 for one group's save files."""
        ResyncTaskOperator(task_id="transfer_group", resync_task="transfer_group", group=group)

    moved = move.expand(group=groups)

    @task.branch
    def approval_gate(params: dict | None = None) -> str:
        needed = run_options(params).approvals(PLAN) and not run_options(params).dry_run
        return "approve_clearing" if needed else "unattended"

    gate = approval_gate()
    approve = ApprovalOperator(
        task_id="approve_clearing",
        subject="Clear the target libraries on BACKUP and restore them?",
        body=(
            f"Plan {PLAN.name}: libraries of the run's groups will be cleared on "
            f"{PLAN.backup.name} (BACKUP) and restored from the save files just moved."
        ),
        defaults="Reject",
        fail_on_reject=True,
        retries=0,  # a "Reject" is an answer, not a fault: asking again would overrule it
        response_timeout=timedelta(seconds=PLAN.timeouts.approval),
        **NOTIFY.approval_kwargs,
    )
    unattended = EmptyOperator(task_id="unattended")
    approved = EmptyOperator(task_id="approved", trigger_rule="none_failed_min_one_success")

    @task_group(group_id="clear")
    def clear(group: str) -> None:
        """Runbook step 5: only after the BACKUP confirms its role."""
        ResyncTaskOperator(task_id="clear_group", resync_task="clear_group", group=group)

    cleared = clear.expand(group=groups)
    restore_profiles = ResyncTaskOperator(
        task_id="restore_profiles", resync_task="restore_profiles"
    )

    @task_group(group_id="restore")
    def restore(group: str) -> None:
        """Runbook step 6 for one group: libraries, then IFS and DLO, job logs verified."""
        ResyncTaskOperator(task_id="restore_group", resync_task="restore_group", group=group)

    restored = restore.expand(group=groups)
    restore_authorities = ResyncTaskOperator(
        task_id="restore_authorities", resync_task="restore_authorities"
    )
    start_cluster = ResyncTaskOperator(task_id="start_cluster", resync_task="start_cluster")

    @task_group(group_id="check")
    def check(group: str) -> None:
        """Runbook step 8."""
        ResyncTaskOperator(task_id="sync_check", resync_task="sync_check", group=group)

    checked = check.expand(group=groups)

    # Runbook step 10: the SYSTEM group (profiles, authorities) starts first, at its mark,
    # in a task of its own; the other groups start after it, in parallel. Its own mapped
    # start below finds it active and says so.
    start_system_group = ResyncTaskOperator(
        task_id="start_system_group",
        resync_task="start_replication",
        group=system_group_of_run(groups),
    )

    @task_group(group_id="replicate")
    def replicate(group: str) -> None:
        """Runbook step 10 and after, one task: start at the mark, wait (deferred) until
        latency resolves, final sync check."""
        ResyncTaskOperator(task_id="replicate_group", resync_task="replicate_group", group=group)

    replicated = replicate.expand(group=groups)

    @task(trigger_rule="all_done", outlets=[RESYNC_REPORT], **NOTIFY.report_kwargs)
    def write_report(**context) -> dict:
        """Runbook, last word: the run report (JSON and HTML), OK / WARN / FAIL."""
        resync_tasks = [
            t.task_id for t in context["dag"].tasks if isinstance(t, ResyncTaskOperator)
        ]
        summary = write_run_report(context, PLAN, resync_tasks)
        if summary["status"] == "FAIL":
            # The report is the run's leaf task: failing it makes the run itself FAIL.
            raise AirflowFailException(
                f"resync FAILED: {'; '.join(summary['reasons'])}; report {summary['report']}"
            )
        return summary

    report = write_report()

    (
        groups
        >> preflight
        >> end_applications
        >> [outage, save_security_data]
        >> restart_applications
        >> [transfer_security_data, moved]
        >> gate
    )
    gate >> [approve, unattended] >> approved
    approved >> cleared >> restore_profiles >> restored >> restore_authorities
    restore_authorities >> start_cluster >> checked >> start_system_group >> replicated >> report
