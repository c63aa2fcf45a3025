"""What the resync tells people, and in which words (issue 8: notifications).

Four events, each switched on in the plan's `notifications` section:

- `approval_waiting`: a person must approve clearing the target libraries on BACKUP;
- `run_failed`: a task failed for good (retries spent), with its phase, its group (the
  mapped instance's label) and the error message;
- `latency_not_resolved`: the wait for a group's replication latency failed or timed out
  (what the latency sensor last saw is in the message); the wait is a phase of a task that
  also starts the group and runs its final sync check, so the failed phase decides;
- `run_finished`: the run's report is written, with its overall status (OK, WARN, FAIL) and
  the outage window.

This module only composes: a `Notice` (subject, plain text, HTML) from plain facts or from a
report dict. Delivering it (SMTP through an Airflow notifier) is the Airflow layer's job, in
`icluster_resync.notifications`. Nothing here imports Airflow, and nothing taken from a run
(error text, group names, CL) reaches the HTML unescaped or the subject with a line break.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ibmi_resync.program import Phase
from ibmi_resync.tasks import TASKS

__all__ = [
    "FailureFacts",
    "Notice",
    "approval_waiting",
    "duration_text",
    "failed_phase",
    "is_latency_failure",
    "phase_of",
    "run_finished",
    "task_failed",
]

# How a step's failure names its phase (executor.StepFailed): "phase 10 (latency)".
_PHASE_NAMED = re.compile(r"\bphase (\d+) \(")
_SUBJECT_LIMIT = 180
# Tasks of the DAG that run no program slice, and the runbook place they stand for.
_OTHER_TASKS = {
    "select_groups": "phase 0: pre-flight (groups and maintenance window)",
    "approval_gate": "phase 5: clear (approval gate)",
    "approve_clearing": "phase 5: clear (approval)",
    "unattended": "phase 5: clear (approval gate)",
    "approved": "phase 5: clear (approval gate)",
    "write_report": "run report",
}


@dataclass(frozen=True)
class Notice:
    """One message: `event` is one of the plan's notification events."""

    event: str
    subject: str
    lines: tuple[tuple[str, str], ...]  # (label, value) facts, in order
    paragraphs: tuple[str, ...] = ()
    detail: str | None = None  # preformatted text: an error message, the report's reasons

    @property
    def text(self) -> str:
        """The plain-text body."""
        parts = [*self.paragraphs, ""] if self.paragraphs else []
        width = max((len(label) for label, _ in self.lines), default=0)
        parts += [f"{label + ':':<{width + 1}} {value}" for label, value in self.lines]
        if self.detail:
            parts += ["", self.detail]
        return "\n".join(parts) + "\n"

    @property
    def html(self) -> str:
        """The HTML body: every value escaped, no scripts, no remote content."""
        e = html.escape
        paragraphs = "".join(f"<p>{e(text)}</p>" for text in self.paragraphs)
        rows = "".join(
            f'<tr><th style="text-align:left;padding-right:1em">{e(label)}</th>'
            f"<td>{e(value)}</td></tr>"
            for label, value in self.lines
        )
        detail = f"<pre>{e(self.detail)}</pre>" if self.detail else ""
        return (
            f'<html><body style="font-family:sans-serif">{paragraphs}'
            f"<table>{rows}</table>{detail}</body></html>"
        )


@dataclass(frozen=True)
class FailureFacts:
    """What a failed task instance tells: which run, which task, which group, what error."""

    plan: str
    run_id: str
    task_id: str
    error: str
    group: str | None = None  # the mapped instance's label (its replication group)
    map_index: int = -1
    try_number: int | None = None
    log_url: str | None = None
    at: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def one_line(text: object, limit: int = _SUBJECT_LIMIT) -> str:
    """Text for a header: whitespace (line breaks included) folded to single spaces."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _subject(prefix: str, text: str) -> str:
    return one_line(f"{prefix} {text}".strip())


def resync_task_of(task_id: str) -> str:
    """`outage.mark_and_save` -> `mark_and_save` (the task group prefix dropped)."""
    return task_id.rsplit(".", 1)[-1]


def failed_phase(task_id: str, error: str = "") -> Phase | None:
    """The runbook phase a DAG task failed in: its only phase; for a task of several phases
    (mark then save; start, latency, final check) the one its error names, else its first.
    None for a task that runs no program slice."""
    part = TASKS.get(resync_task_of(task_id))
    if part is None:
        return None
    named = {int(match.group(1)) for match in _PHASE_NAMED.finditer(error)}
    return next((phase for phase in part.phases if phase.value in named), part.phase)


def is_latency_failure(task_id: str, error: str = "") -> bool:
    """Whether the failure is the wait for a group's replication latency."""
    return failed_phase(task_id, error) is Phase.LATENCY


def phase_of(task_id: str, error: str = "") -> str:
    """The runbook phase a DAG task failed in, in words: `phase 3: Save, verify, ...`."""
    phase = failed_phase(task_id, error)
    if phase is not None:
        return f"phase {phase.value}: {phase.title}"
    return _OTHER_TASKS.get(resync_task_of(task_id), f"task {task_id}")


def duration_text(seconds: float | None, *, tenths: bool = False) -> str:
    """450.5 -> `7 min 30 s`; None -> `unknown`; with `tenths`, under a minute `0.4 s` (the
    run report's steps, where sub-second IBM i work is common)."""
    if seconds is None:
        return "unknown"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{seconds:.1f} s" if tenths else f"{secs} s"


def approval_waiting(
    *,
    plan: str,
    run_id: str,
    backup_node: str,
    question: str,
    explanation: str | None = None,
    groups: Sequence[str] = (),
    timeout_seconds: float | None = None,
    default_answer: str | None = None,
    link: str | None = None,
    prefix: str = "[iCluster resync]",
) -> Notice:
    """A person must answer the approval before the BACKUP's libraries are cleared."""
    lines = [
        ("Plan", plan),
        ("Run", run_id),
        ("Node to clear", f"{backup_node} (BACKUP)"),
        ("Groups", ", ".join(groups) if groups else "all of the plan's groups"),
    ]
    if timeout_seconds is not None:
        answer = f", then the answer is {default_answer}" if default_answer else ""
        lines.append(("Waits for", f"{duration_text(timeout_seconds)}{answer}"))
    if link:
        lines.append(("Answer here", link))
    paragraphs = [question]
    if explanation:
        paragraphs.append(explanation)
    paragraphs.append(
        "The run waits for this answer; nothing is cleared on the BACKUP until someone approves."
    )
    return Notice(
        event="approval_waiting",
        subject=_subject(prefix, f"{plan}: approval waiting to clear libraries on {backup_node}"),
        lines=tuple(lines),
        paragraphs=tuple(paragraphs),
    )


def task_failed(facts: FailureFacts, *, prefix: str = "[iCluster resync]") -> Notice:
    """A task failed for good: `latency_not_resolved` for the latency wait, else `run_failed`."""
    group = facts.group or (f"map index {facts.map_index}" if facts.map_index >= 0 else None)
    latency = is_latency_failure(facts.task_id, facts.error)
    lines = [
        ("Plan", facts.plan),
        ("Run", facts.run_id),
        ("Phase", phase_of(facts.task_id, facts.error)),
        ("Task", facts.task_id),
        ("Group", group or "(whole run)"),
    ]
    if facts.try_number is not None:
        lines.append(("Attempt", str(facts.try_number)))
    if facts.at is not None:
        lines.append(("Failed at", facts.at.isoformat(timespec="seconds")))
    lines += list(facts.extra.items())
    if facts.log_url:
        lines.append(("Log", facts.log_url))
    where = f" for group {group}" if group else ""
    if latency:
        subject = f"{facts.plan}: latency not resolved{where}"
        paragraphs = (
            f"Replication latency of group {group or '?'} did not come under the threshold in "
            "time, or its apply is frozen. The group is started; its final sync check does "
            "not run.",
        )
    else:
        subject = f"{facts.plan}: FAILED in {phase_of(facts.task_id, facts.error)}{where}"
        paragraphs = (f"The resync run failed at task {facts.task_id}{where}.",)
    return Notice(
        event="latency_not_resolved" if latency else "run_failed",
        subject=_subject(prefix, subject),
        lines=tuple(lines),
        paragraphs=paragraphs,
        detail=f"Error: {facts.error}" if facts.error else None,
    )


def run_finished(
    report: Mapping[str, Any],
    *,
    report_path: str | None = None,
    prefix: str = "[iCluster resync]",
) -> Notice:
    """The run's report is written: overall status, outage window, why it is not OK."""
    status = str(report.get("status") or "FAIL")
    outage = report.get("outage") or {}
    seconds = outage.get("seconds")
    down, up = outage.get("applications_down"), outage.get("applications_up")
    groups = [str(record.get("group")) for record in report.get("groups") or []]
    lines = [
        ("Plan", str(report.get("plan", "?"))),
        ("Run", str(report.get("run_id", "?"))),
        ("Status", status),
        ("Triggered by", str(report.get("triggered_by") or "schedule")),
        ("Applications down", str(down or "not recorded")),
        ("Applications up", str(up or "not recorded")),
        ("Outage", duration_text(seconds)),
        ("Run started", str(report.get("started") or "not recorded")),
        ("Run ended", str(report.get("ended") or "not recorded")),
        ("Groups", ", ".join(groups) if groups else "none recorded"),
    ]
    if report_path:
        lines.append(("Report", report_path))
    reasons = [str(reason) for reason in report.get("reasons") or []]
    outage_words = f"outage {duration_text(seconds)}" if seconds is not None else "no outage"
    kind = "dry run" if (report.get("params") or {}).get("dry_run") else "resync"
    return Notice(
        event="run_finished",
        subject=_subject(prefix, f"{report.get('plan', '?')}: {kind} {status}, {outage_words}"),
        lines=tuple(lines),
        paragraphs=(f"The {kind if kind == 'dry run' else 'resync run'} finished: {status}.",),
        detail="\n".join(f"- {reason}" for reason in reasons) if reasons else None,
    )
