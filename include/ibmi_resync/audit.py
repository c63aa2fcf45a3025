"""The audit: who ran which resync, when, with what approvals and result (issue 8 item 6).

Why the run reports and not Airflow's database: the reports are files every run writes at its
end (plugins/icluster_resync/reporting.py), kept as long as the site keeps them, readable
without the metadata database or the API (which a site may purge, and which an auditor may
not be allowed to reach). Each report carries the run id, the DAG, the triggering user, the
run type, the approvals (who answered what, when), the groups, the result and the outage.
docs/audit.md says how to cross-check a line with Airflow's own run history and audit log.

Pure: no Airflow import (a test enforces that for include/).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "AuditRow",
    "audit_rows",
    "default_reports_folder",
    "load_reports",
    "parse_since",
    "render_json",
    "render_table",
]

# Runs written before the report named its DAG came from the only DAG that wrote reports then.
_DAG_BEFORE_DAG_ID = "icluster_resync"
# Airflow run ids start with the run type (manual__, scheduled__, asset_triggered__, ...).
_RUN_TYPES = ("scheduled", "manual", "asset_triggered", "backfill", "operator_triggered")


def default_reports_folder() -> Path:
    """Where the DAGs write reports: IBMI_RESYNC_REPORTS, else AIRFLOW_HOME/resync-reports
    (the same rule as icluster_resync.reporting.reports_folder)."""
    default = Path(os.environ.get("AIRFLOW_HOME", ".")) / "resync-reports"
    return Path(os.environ.get("IBMI_RESYNC_REPORTS", str(default)))


def load_reports(folder: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every ``*/report.json`` under ``folder``; files that cannot be read are named in the
    second list (an audit must say what it could not read, not skip it silently)."""
    reports: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for path in sorted(Path(folder).glob("*/report.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            unreadable.append(f"{path}: {type(error).__name__}: {error}")
            continue
        if not isinstance(data, dict) or "run_id" not in data:
            unreadable.append(f"{path}: not a run report")
            continue
        reports.append(data)
    return reports, unreadable


def parse_since(text: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or an ISO date-time (UTC when no offset is given)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise ValueError(f"--since {text!r}: give a date (2026-11-01) or an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuditRow:
    """One past run, with the columns the audit asks for."""

    run_id: str
    dag_id: str
    triggered_by: str
    start: str | None
    end: str | None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    result: str = "?"
    dry_run: bool = False
    reasons: list[str] = field(default_factory=list)
    outage_start: str | None = None
    outage_end: str | None = None
    outage_seconds: float | None = None
    plan: str | None = None


def _run_type(report: Mapping[str, Any]) -> str | None:
    given = str(report.get("run_type") or "").lower()
    for kind in _RUN_TYPES:
        if kind in given or str(report.get("run_id", "")).startswith(f"{kind}__"):
            return kind
    return None


def _triggered_by(report: Mapping[str, Any]) -> str:
    """The Airflow user who triggered the run; "scheduler" for a scheduled run; otherwise
    how it started (a manual run without a user: ``airflow dags test``, or an open API)."""
    user = report.get("triggered_by")
    if user:
        return str(user)
    kind = _run_type(report)
    if kind == "scheduled":
        return "scheduler"
    if kind == "asset_triggered":
        return "asset event"
    return f"unknown ({kind or 'no run type'})"


def _who(user: Any) -> str:
    if isinstance(user, Mapping):
        return str(user.get("name") or user.get("id") or "?")
    # A rejection fails the approval task before it returns the answer: the report knows the
    # answer, not who gave it (Airflow's HITL details do, docs/audit.md).
    return str(user) if user else "unknown"


def _approval(entry: Mapping[str, Any]) -> dict[str, Any]:
    chosen = entry.get("chosen_options") or []
    return {
        "task": entry.get("task"),
        "subject": entry.get("subject"),
        "answer": ", ".join(str(option) for option in chosen) or "?",
        "by": _who(entry.get("responded_by_user")),
        "at": entry.get("responded_at"),
    }


def _groups(report: Mapping[str, Any]) -> list[str]:
    found = [str(g["group"]) for g in report.get("groups") or [] if isinstance(g, Mapping)]
    if found:
        return found
    return [str(g) for g in (report.get("params") or {}).get("groups") or []]


def _moment(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit_row(report: Mapping[str, Any]) -> AuditRow:
    """One report as an audit line (older reports lack some fields: they are inferred)."""
    outage = report.get("outage") or {}
    params = report.get("params") or {}
    return AuditRow(
        run_id=str(report["run_id"]),
        dag_id=str(report.get("dag_id") or _DAG_BEFORE_DAG_ID),
        triggered_by=_triggered_by(report),
        start=report.get("run_started") or report.get("started"),
        end=report.get("report_written") or report.get("ended"),
        approvals=[_approval(a) for a in report.get("approvals") or [] if isinstance(a, Mapping)],
        groups=_groups(report),
        result=str(report.get("status") or "?"),
        dry_run=bool(params.get("dry_run")),
        reasons=[str(reason) for reason in report.get("reasons") or []],
        outage_start=outage.get("applications_down"),
        outage_end=outage.get("applications_up"),
        outage_seconds=outage.get("seconds"),
        plan=report.get("plan"),
    )


def audit_rows(
    reports: Iterable[Mapping[str, Any]],
    *,
    since: datetime | None = None,
    dag_id: str | None = None,
) -> list[AuditRow]:
    """The runs that started at or after ``since`` (of ``dag_id``), oldest first."""
    rows = [audit_row(report) for report in reports]
    if since is not None:
        rows = [row for row in rows if (start := _moment(row.start)) and start >= since]
    if dag_id is not None:
        rows = [row for row in rows if row.dag_id == dag_id]
    return sorted(rows, key=lambda row: _moment(row.start) or datetime.min.replace(tzinfo=UTC))


def _short(moment: str | None) -> str:
    parsed = _moment(moment)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"


def _outage(row: AuditRow) -> str:
    if not row.outage_start:
        return "none"
    end = _short(row.outage_end)[11:] if row.outage_end else "not restarted"
    seconds = f" ({row.outage_seconds:g} s)" if row.outage_seconds is not None else ""
    return f"{_short(row.outage_start)} - {end}{seconds}"


def _approvals_text(row: AuditRow) -> str:
    if not row.approvals:
        return "-"
    return "; ".join(
        f"{a['answer']} by {a['by']} at {_short(a['at'])}"
        + (f" ({a['task']})" if a["task"] else "")
        for a in row.approvals
    )


COLUMNS = (
    "RUN ID",
    "DAG",
    "TRIGGERED BY",
    "START (UTC)",
    "END (UTC)",
    "APPROVALS",
    "GROUPS",
    "RESULT",
    "OUTAGE WINDOW (UTC)",
)


def _cells(row: AuditRow) -> tuple[str, ...]:
    result = row.result + (" (dry run)" if row.dry_run else "")
    return (
        row.run_id,
        row.dag_id,
        row.triggered_by,
        _short(row.start),
        _short(row.end),
        _approvals_text(row),
        ",".join(row.groups) or "-",
        result,
        _outage(row),
    )


def render_table(rows: Iterable[AuditRow]) -> str:
    """Aligned columns, one run a line; then why each run that did not end OK did not."""
    rows = list(rows)
    table = [COLUMNS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    out = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in table
    ]
    explained = [row for row in rows if row.result != "OK" and row.reasons]
    if explained:
        out += ["", "Why:"]
        out += [f"  {row.run_id}: {'; '.join(row.reasons)}" for row in explained]
    return "\n".join(out) + "\n"


def render_json(rows: Iterable[AuditRow]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=1, default=str) + "\n"
