"""Notifications of a resync run through Airflow notifiers (issue 8), SMTP by default.

`resync_notifiers(plan)` gives what the DAG attaches, as chosen by the plan's `notifications`
section (nothing when it is off):

- `task_defaults`: an `on_failure_callback` for every task (merge into `default_args`): a task
  that failed for good sends `run_failed` with its phase, group and error, or
  `latency_not_resolved` when it is a group's latency wait;
- `approval`: the `notifiers` of the ApprovalOperator: `approval_waiting`, sent once, when the
  approval starts waiting (not again when it resumes);
- `report`: the report task's success and failure callbacks: `run_finished`, with the report's
  overall status and outage window (the report is read from its file, which exists even
  when the task fails the run on a FAIL status).

Words come from `ibmi_resync.notices`; this module takes the facts from Airflow's context
and delivers. A notice that cannot be composed or sent is logged, never raised: a dead mail
relay must not fail an approval, a task or the run.

Another channel: pass `deliver=` (a callable taking the Notice and the context) to
`resync_notifiers`; the default sends through the SMTP provider's `SmtpNotifier` with the
plan's `smtp_conn_id` (its host, port, TLS and `from_email` are the Airflow connection's).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from ibmi_resync.notices import (
    FailureFacts,
    Notice,
    approval_waiting,
    run_finished,
    task_failed,
)
from ibmi_resync.plan import Notifications, Plan
from icluster_resync.reporting import run_folder

__all__ = [
    "ApprovalWaitingNotifier",
    "Deliver",
    "ResyncNotifiers",
    "RunFinishedNotifier",
    "TaskFailureNotifier",
    "resync_notifiers",
    "smtp_delivery",
]

Deliver = Callable[[Notice, Mapping[str, Any]], None]
REPORT_TASK = "write_report"
GROUPS_TASK = "select_groups"


def smtp_delivery(settings: Notifications) -> Deliver:
    """Send a notice to the plan's recipients through the SMTP provider's notifier."""

    def deliver(notice: Notice, context: Mapping[str, Any]) -> None:
        # Imported here, not at DAG parse time (the 200-group DAG parses in under a second).
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        # Subject and body are given, so SmtpNotifier renders no template: text taken from
        # the run (error messages, CL) is never read as Jinja.
        SmtpNotifier(
            to=list(settings.recipients),
            from_email=settings.from_email,
            subject=notice.subject,
            html_content=notice.html,
            smtp_conn_id=settings.smtp_conn_id,
            custom_headers={"X-Resync-Event": notice.event},
        ).notify(context)  # type: ignore[arg-type]

    return deliver


def _run_id(context: Mapping[str, Any]) -> str:
    run = context.get("dag_run")
    ti = context.get("ti") or context.get("task_instance")
    return str(getattr(run, "run_id", None) or getattr(ti, "run_id", None) or "unknown run")


class _ResyncNotifier(BaseNotifier):
    """Compose a notice from the callback's context; send it if the plan asks for its event."""

    template_fields = ()

    def __init__(self, plan: Plan, *, deliver: Deliver | None = None) -> None:
        super().__init__()
        self.plan_name = plan.name
        self.backup_node = plan.backup.name
        self.settings = plan.notifications
        self.deliver = deliver or smtp_delivery(self.settings)

    def compose(self, context: Mapping[str, Any]) -> Notice | None:
        raise NotImplementedError

    def choose(self, notice: Notice) -> Notice | None:
        return notice if self.settings.wants(notice.event) else None

    def notify(self, context: Any) -> None:
        try:
            notice = self.compose(context)
            notice = self.choose(notice) if notice is not None else None
        except Exception:
            self.log.exception("could not compose the resync notice")
            return
        if notice is None:
            return
        try:
            self.deliver(notice, context)
        except Exception as error:
            self.log.error(
                "could not send the %s notice %r to %s: %s: %s",
                notice.event,
                notice.subject,
                ", ".join(self.settings.recipients),
                type(error).__name__,
                error,
            )
            return
        self.log.info(
            "sent the %s notice %r to %s",
            notice.event,
            notice.subject,
            ", ".join(self.settings.recipients),
        )


class ApprovalWaitingNotifier(_ResyncNotifier):
    """HITL notifier of the approval task: someone must approve the clear."""

    def compose(self, context: Mapping[str, Any]) -> Notice:
        task, ti = context.get("task"), context.get("ti")
        groups: list[str] = []
        try:
            chosen = ti.xcom_pull(task_ids=GROUPS_TASK) if ti is not None else None
            groups = [str(name) for name in chosen or []]
        except Exception:
            groups = []
        timeout = getattr(task, "response_timeout", None)
        defaults = getattr(task, "defaults", None) or []
        return approval_waiting(
            plan=self.plan_name,
            run_id=_run_id(context),
            backup_node=self.backup_node,
            question=str(getattr(task, "subject", None) or "Approval needed"),
            explanation=getattr(task, "body", None),
            groups=groups,
            timeout_seconds=timeout.total_seconds() if timeout is not None else None,
            default_answer=", ".join(defaults) or None,
            link=self._link(context),
            prefix=self.settings.subject_prefix,
        )

    @staticmethod
    def _link(context: Mapping[str, Any]) -> str | None:
        task, ti = context.get("task"), context.get("ti")
        try:
            return task.generate_link_to_ui_from_context(context=context)  # type: ignore[union-attr]
        except Exception:
            return getattr(ti, "log_url", None)


class TaskFailureNotifier(_ResyncNotifier):
    """on_failure_callback: a task failed for good (its retries, if any, are spent)."""

    def compose(self, context: Mapping[str, Any]) -> Notice | None:
        ti, task = context.get("ti"), context.get("task")
        task_id = str(getattr(ti, "task_id", None) or getattr(task, "task_id", "?"))
        map_index = getattr(ti, "map_index", -1)
        map_index = map_index if isinstance(map_index, int) else -1
        # The mapped instance's label is its replication group: the operator's rendered
        # `group`, else the instance's rendered map index.
        group = getattr(task, "group", None)
        if not isinstance(group, str) or not group:
            label = getattr(ti, "rendered_map_index", None)
            group = str(label) if isinstance(label, str) and label else None
        error = context.get("exception")
        reason = context.get("reason")
        message = (
            f"{type(error).__name__}: {error}"
            if isinstance(error, BaseException)
            else str(error or reason or "no error message was given")
        )
        try_number = getattr(ti, "try_number", None)
        facts = FailureFacts(
            plan=self.plan_name,
            run_id=_run_id(context),
            task_id=task_id,
            error=message,
            group=group,
            map_index=map_index,
            try_number=try_number if isinstance(try_number, int) else None,
            log_url=self._log_url(ti),
        )
        return task_failed(facts, prefix=self.settings.subject_prefix)

    @staticmethod
    def _log_url(ti: Any) -> str | None:
        try:
            url = getattr(ti, "log_url", None)
        except Exception:
            return None
        return url if isinstance(url, str) else None

    def choose(self, notice: Notice) -> Notice | None:
        if self.settings.wants(notice.event):
            return notice
        # A latency failure is a run failure too: whoever asked for failures hears of it.
        if notice.event == "latency_not_resolved" and self.settings.wants("run_failed"):
            return dataclasses.replace(notice, event="run_failed")
        return None


class RunFinishedNotifier(_ResyncNotifier):
    """Callbacks of the report task: the run is over; its report says how it went."""

    def compose(self, context: Mapping[str, Any]) -> Notice:
        run_id = _run_id(context)
        folder = run_folder(run_id)
        path = folder / "report.json"
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            failure = context.get("exception")
            report = {
                "plan": self.plan_name,
                "run_id": run_id,
                "status": "FAIL",
                "reasons": [
                    f"the run report could not be read ({path}: {error})",
                    *([f"report task failed: {failure}"] if failure else []),
                ],
            }
            return run_finished(report, prefix=self.settings.subject_prefix)
        html_path = folder / "report.html"
        return run_finished(
            report,
            report_path=str(html_path if html_path.exists() else path),
            prefix=self.settings.subject_prefix,
        )


@dataclass(frozen=True)
class ResyncNotifiers:
    """The notifiers of one plan, and the keyword arguments that attach them."""

    task_failure: tuple[BaseNotifier, ...] = ()
    approval: tuple[BaseNotifier, ...] = ()
    run_finished: tuple[BaseNotifier, ...] = ()

    @property
    def task_defaults(self) -> dict[str, Any]:
        """Merge into the DAG's default_args: every task reports its final failure."""
        return {"on_failure_callback": list(self.task_failure)} if self.task_failure else {}

    @property
    def approval_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the ApprovalOperator."""
        return {"notifiers": list(self.approval)} if self.approval else {}

    @property
    def report_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the report task (`@task(..., **report_kwargs)`).

        The report task's own failure (a FAIL report fails the run there) is told as
        `run_finished` when that event is on, so nobody gets two mails for it; otherwise it
        keeps the task-failure notifier of the defaults.
        """
        if not self.run_finished:
            return {}
        return {
            "on_success_callback": list(self.run_finished),
            "on_failure_callback": list(self.run_finished),
        }


def resync_notifiers(plan: Plan, *, deliver: Deliver | None = None) -> ResyncNotifiers:
    """The notifiers the plan asks for (none when its notifications section is off)."""
    settings = plan.notifications
    failure = settings.wants("run_failed") or settings.wants("latency_not_resolved")
    return ResyncNotifiers(
        task_failure=(TaskFailureNotifier(plan, deliver=deliver),) if failure else (),
        approval=(
            (ApprovalWaitingNotifier(plan, deliver=deliver),)
            if settings.wants("approval_waiting")
            else ()
        ),
        run_finished=(
            (RunFinishedNotifier(plan, deliver=deliver),) if settings.wants("run_finished") else ()
        ),
    )
