"""What ends each wait of the runbook, decided from the rows one poll returned.

A wait (subsystem ended, batch job ended, DMMRKPOS completion in the event log, group
status, latency resolved) polls one read-only SQL statement. The deferrable trigger in the
Airflow layer runs the poll loop; this module decides, from each poll's rows and a small
memory carried between polls, whether the wait is over, and says what it last saw, so a
timeout or a failure reports the state, the latency or the last message (issue: every wait
fails with what was last seen).

Conditions are plain dicts so that a trigger can serialize them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ibmi_resync.messages import row_get

__all__ = ["Verdict", "evaluate"]

ConditionKind = Literal[
    "subsystem_inactive", "job_ended", "event_message", "status_is", "latency_resolved"
]


@dataclass(frozen=True)
class Verdict:
    """One poll's judgement: `done` ends the wait; `ok` says how; `seen` is for the report."""

    done: bool
    ok: bool
    seen: str
    memory: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "T")
        # DB2 for i prints 2026-11-25-17.30.00.000000 (ibmi.md §8, timestamps).
        if len(text) >= 19 and text[10] == "-" and text[13] == ".":
            text = text[:10] + "T" + text[11:].replace(".", ":", 2)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    return None


def _subsystem_inactive(
    condition: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], memory: dict[str, Any]
) -> Verdict:
    if not rows:
        # ibmi.md §8: SUBSYSTEM_INFO lists inactive descriptions too; no row = no such *SBSD.
        return Verdict(True, False, "no such subsystem description", memory)
    status = _text(row_get(rows[0], "STATUS")).upper()
    jobs = row_get(rows[0], "CURRENT_ACTIVE_JOBS")
    seen = f"STATUS={status or '?'} CURRENT_ACTIVE_JOBS={jobs}"
    return Verdict(status == "INACTIVE", status == "INACTIVE", seen, memory)


def _job_ended(
    condition: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], memory: dict[str, Any]
) -> Verdict:
    if not rows:
        return Verdict(True, True, "job no longer known (ended)", memory)
    status = _text(row_get(rows[0], "V_JOB_STATUS")).upper()
    active = _text(row_get(rows[0], "V_ACTIVE_JOB_STATUS")).upper()
    # *OUTQ: the job has ended and its spooled output remains (ibmi.md §7.1, GET_JOB_INFO).
    done = status in {"*OUTQ", "*COMPLETE", "*NONE"}
    return Verdict(done, done, f"V_JOB_STATUS={status or '?'} {active}".strip(), memory)


def _event_message(
    condition: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], memory: dict[str, Any]
) -> Verdict:
    since = _timestamp(condition.get("since"))
    success = {str(i) for i in condition.get("success_ids", ())}
    failure = {str(i) for i in condition.get("failure_ids", ())}
    group = _text(condition.get("group")).upper()
    last = memory.get("last_message", "no event-log message yet")
    for row in rows:
        msg_id = _text(row_get(row, "MESSAGE_ID")).upper()
        written = _timestamp(row_get(row, "MESSAGE_TIMESTAMP"))
        if group and _text(row_get(row, "GROUP_NAME")).upper() not in {"", group}:
            continue
        if since is not None and (written is None or written < since):
            continue  # an old message of an earlier mark does not end this wait
        text = _text(row_get(row, "MESSAGE_TEXT"))
        last = f"{msg_id}: {text}"
        details = {
            "message_id": msg_id,
            "message_text": text,
            "message_timestamp": written.isoformat() if written else None,
        }
        if msg_id in failure:
            return Verdict(True, False, last, {"last_message": last}, details)
        if msg_id in success:
            return Verdict(True, True, last, {"last_message": last}, details)
    return Verdict(False, False, last, {"last_message": last})


def _status_is(
    condition: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], memory: dict[str, Any]
) -> Verdict:
    wanted = _text(condition.get("status")).upper()
    if not rows:
        return Verdict(False, False, "no status row", memory)
    status = _text(row_get(rows[0], "STATUS")).upper()
    return Verdict(status == wanted, status == wanted, f"STATUS={status or '?'}", memory)


def _latency_resolved(
    condition: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], memory: dict[str, Any]
) -> Verdict:
    """Latency resolved: both latencies under the threshold for N consecutive polls.

    icluster.md §6: high latency with *frozen* entries (nothing applied while a backlog
    waits) is a different problem from a slow apply; after `frozen_polls` polls with the same
    last applied sequence and a backlog, the wait fails instead of running out its timeout.
    """
    threshold = float(condition.get("threshold_seconds", 5))
    needed = int(condition.get("stable_polls", 3))
    frozen_limit = int(condition.get("frozen_polls", 10))
    if not rows:
        return Verdict(False, False, "no latency row", memory)
    row = rows[0]
    source = _number(row_get(row, "SOURCE_LATENCY_SECONDS"))
    apply = _number(row_get(row, "APPLY_LATENCY_SECONDS"))
    backlog = _number(row_get(row, "BACKLOG_ENTRIES"))
    applied = _text(row_get(row, "LAST_APPLIED_SEQUENCE"))
    seen = (
        f"source latency {source} s, apply latency {apply} s, backlog {backlog}, "
        f"last applied {applied or '?'}"
    )
    calm = source is not None and apply is not None and source <= threshold and apply <= threshold
    stable = memory.get("stable", 0) + 1 if calm else 0
    same = applied == memory.get("last_applied") and bool(backlog)
    frozen = memory.get("frozen", 0) + 1 if same else 0
    new_memory = {"stable": stable, "frozen": frozen, "last_applied": applied}
    details = {"source_latency": source, "apply_latency": apply, "backlog": backlog}
    if frozen >= frozen_limit:
        return Verdict(True, False, f"apply frozen for {frozen} polls: {seen}", new_memory, details)
    return Verdict(stable >= needed, stable >= needed, seen, new_memory, details)


_RULES = {
    "subsystem_inactive": _subsystem_inactive,
    "job_ended": _job_ended,
    "event_message": _event_message,
    "status_is": _status_is,
    "latency_resolved": _latency_resolved,
}


def evaluate(
    condition: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    memory: Mapping[str, Any] | None = None,
) -> Verdict:
    """Judge one poll. `condition["kind"]` names the rule; unknown kinds are refused."""
    kind = condition.get("kind")
    rule = _RULES.get(str(kind))
    if rule is None:
        raise ValueError(f"unknown wait condition {kind!r}; known: {sorted(_RULES)}")
    return rule(condition, rows, dict(memory or {}))
