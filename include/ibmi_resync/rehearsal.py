"""The rehearsal (runbook step a): DMMRKPOS per group ahead of the outage, timed, and put back.

"Once I have all the groups created with the default journals defined and set, I prefer to go
ahead and run a DMMRKPOS as a dry run in advance of the scheduled activity. This helps
identify if there are any issues with the group definitions and also provides a benchmark
estimate of how long you can expect it to take." (runbook, step a)

The rehearsal runs the resync program's own pre-flight and mark slices (ibmi_resync.tasks:
`preflight`, `mark_positions`): nothing here builds a command. The mark slice ends the group
(and its continuous sync check) before DMMRKPOS, as the real run does, so the rehearsal then
starts every group it ended at the position it just marked (the `start_replication` slice,
and the `was_running` STRCNSC step of `final_sync_check`): replication resumes where it
paused, and nothing is applied twice or lost. It never ends an application, saves, clears or
restores. This module says which of those steps the restart runs, and turns what the tasks
returned into the rehearsal's timings and report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ibmi_resync.forecast import phase_shares
from ibmi_resync.plan import Plan, RunOptions
from ibmi_resync.program import Phase, Step, resync_program
from ibmi_resync.tasks import steps_for_task

__all__ = [
    "CAVEATS",
    "REPORT_KIND",
    "group_timings",
    "groups_ended",
    "rehearsal_report",
    "restart_steps",
]

REPORT_KIND = "rehearsal"
# Runbook step a, said where the operator reads the figures.
CAVEATS = (
    "DMMRKPOS starts journaling: after this rehearsal every object of the marked groups is "
    "journaled, so plan journal receiver management until the real resync, more so if it is "
    "far off (runbook step a).",
    "Locks slow the mark down: this rehearsal ran with the applications up, and DMMRKPOS takes "
    "longer when it meets exclusive locks than with the applications quiesced; read these "
    "times as an upper bound for the resync's mark step (runbook step a).",
    "The last marked position is the one a start uses (runbook step a): the rehearsal started "
    "each group it ended at the position it had just marked; the real resync marks again.",
)


def _slice(plan: Plan, task: str, group: str) -> list[Step]:
    return steps_for_task(resync_program(plan, RunOptions(groups=(group,))), task, group)


def restart_steps(
    plan: Plan, steps: Sequence[Step], *, restarted: Iterable[str], keep_guard: str | None = None
) -> list[Step]:
    """The steps of a restart task: `steps` (a `start_replication` or `final_sync_check`
    slice) without the wait for a SYSTEM group this rehearsal did not end (it is not started
    here, so waiting for it would only time out), and, with `keep_guard`, only the steps
    guarded so (`was_running`: STRCNSC, not the sync check before it)."""
    ours = set(restarted)
    kept = [
        step
        for step in steps
        if not (
            step.kind == "WAIT"
            and step.subject in plan.group_names
            and step.subject != step.group
            and step.subject not in ours
        )
    ]
    if keep_guard is not None:
        kept = [step for step in kept if step.guard == keep_guard]
    return kept


def _entries(result: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    log = (result or {}).get("log") or []
    return [entry for entry in log if isinstance(entry, Mapping)]


def _at(entry: Mapping[str, Any] | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry["at"])) if entry and entry.get("at") else None
    except ValueError:
        return None


def _by_text(entries: Sequence[Mapping[str, Any]], step: Step | None) -> Mapping[str, Any] | None:
    if step is None:
        return None
    # Text and kind: a status query and the wait on the same query share their SQL text.
    return next(
        (e for e in entries if e.get("text") == step.text and e.get("kind") == step.kind), None
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def group_timings(plan: Plan, result: Mapping[str, Any]) -> dict[str, Any]:
    """What one group's mark task did and how long each part took.

    `end_seconds`: from the task's first step to the group reported inactive (ENDHASC,
    DMENDGRP and the wait); `mark_seconds`: from there to the DMMRKPOS completion message;
    `total_seconds`: the whole task. Entry times are when each step ended, on the worker's
    clock, deferral resumes included (as in the resync, whose mark phase they forecast).
    """
    group = str(result.get("group") or "")
    steps = _slice(plan, "mark_positions", group)
    entries = _entries(result)
    end_sync = next((s for s in steps if s.guard == "continuous_sync_check"), None)
    end_group = next((s for s in steps if s.guard == "group_active"), None)
    waits = [s for s in steps if s.kind == "WAIT"]
    inactive = next((s for s in waits if (s.wait or {}).get("kind") == "status_is"), None)
    marked = next((s for s in waits if (s.wait or {}).get("kind") == "event_message"), None)
    times = [t for t in (_at(entry) for entry in entries) if t is not None]
    first, last = (min(times), max(times)) if times else (None, None)
    ended_entry, sync_entry = _by_text(entries, end_group), _by_text(entries, end_sync)
    inactive_at, marked_at = _at(_by_text(entries, inactive)), _at(_by_text(entries, marked))
    event = result.get(f"event:{group}:2") or {}
    return {
        "group": group,
        "ended_group": bool(ended_entry) and ended_entry.get("result") != "skipped",
        "ended_continuous_sync_check": bool(sync_entry) and sync_entry.get("result") != "skipped",
        "marked": marked_at is not None and bool(event),
        "marked_position": event.get("message_text") if isinstance(event, Mapping) else None,
        "end_seconds": _seconds(first, inactive_at),
        "mark_seconds": _seconds(inactive_at or first, marked_at),
        "total_seconds": _seconds(first, last),
        "started": first.isoformat() if first else None,
        "ended": last.isoformat() if last else None,
    }


def groups_ended(plan: Plan, results: Iterable[Mapping[str, Any]]) -> list[str]:
    """The groups the rehearsal's marks ended and marked (to start again at the mark), SYSTEM
    first (runbook step 10), then in plan order."""
    ended = {
        timing["group"]
        for result in results
        if result.get("group") and result.get("log")
        for timing in [group_timings(plan, result)]
        if timing["ended_group"] and timing["marked"]
    }
    ordered = sorted(plan.groups, key=lambda group: not group.system)
    return [group.name for group in ordered if group.name in ended]


def _restart_outcome(
    plan: Plan, group: str, results: Iterable[Mapping[str, Any]]
) -> tuple[bool, bool]:
    """(started at the mark, continuous sync check started again) from the restart tasks."""
    start = next(
        (s for s in _slice(plan, "start_replication", group) if s.guard == "mark_recorded"), None
    )
    again = next(
        (s for s in _slice(plan, "final_sync_check", group) if s.guard == "was_running"), None
    )
    started = sync_started = False
    for result in results:
        if result.get("group") != group:
            continue
        entries = _entries(result)
        entry = _by_text(entries, start)
        started = started or bool(entry and entry.get("result") not in ("skipped",))
        entry = _by_text(entries, again)
        sync_started = sync_started or bool(entry and entry.get("result") not in ("skipped",))
    return started, sync_started


def rehearsal_report(
    plan: Plan,
    base: Mapping[str, Any],
    *,
    marks: Iterable[Mapping[str, Any]],
    restarts: Iterable[Mapping[str, Any]],
    dry_run: bool = False,
) -> dict[str, Any]:
    """The rehearsal's report: the run report `base` (ibmi_resync.report.build_report: status,
    failures, steps, timeline, object counts) with the rehearsal's own part: `kind`, the
    caveats (also as notes, so the page shows them), per-group timings, whether each group
    it ended was started again at its mark, and `mark_phase_seconds` for the forecast: the
    end of the last mark minus the end of the pre-flight, measured as the resync's mark
    phase is (so it holds whether the executor runs the groups' marks at once or in turn)."""
    restarts = list(restarts)
    groups = []
    for result in marks:
        if not result.get("group") or not result.get("log"):
            continue
        timing = group_timings(plan, result)
        started, sync_started = _restart_outcome(plan, timing["group"], restarts)
        timing["restarted_at_mark"] = started
        timing["restarted_continuous_sync_check"] = sync_started
        groups.append(timing)
    groups.sort(key=lambda record: plan.group_names.index(record["group"]))
    report = dict(base)
    reasons = list(report.get("reasons") or [])
    status = str(report.get("status") or "OK")
    for record in groups:
        if record["ended_group"] and not record["restarted_at_mark"]:
            status = "FAIL"
            reasons.append(
                f"group {record['group']} was ended by the rehearsal and is not started again: "
                "start it at its marked position (DMSTRGRP ... USEMARKED(*YES))"
            )
        if record["ended_continuous_sync_check"] and not record["restarted_continuous_sync_check"]:
            status = "WARN" if status == "OK" else status
            reasons.append(f"group {record['group']}: its continuous sync check is not running")
    marked = [r for r in groups if r["marked"]]
    restarted = [r["group"] for r in groups if r["restarted_at_mark"]]
    summary = (
        f"replication of {', '.join(restarted)} paused from the group's end to its start at "
        "the marked position"
        if restarted
        else "no group was ended, none was started"
    )
    report.update(
        kind=REPORT_KIND,
        status=status,
        reasons=reasons,
        caveats=list(CAVEATS),
        notes=[*CAVEATS, summary, *(report.get("notes") or [])],
        rehearsal={"groups": groups, "dry_run": dry_run, "summary": summary},
        mark_phase_seconds=(
            phase_shares(base).get(Phase.MARK_POSITIONS.value) if marked and not dry_run else None
        ),
    )
    return report
