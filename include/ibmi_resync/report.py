"""The run report: what a resync did, when, with which result, as JSON and as one HTML page.

The report is assembled from what every task returned (its executor log and the values it
learned) plus the task states Airflow knows. It answers the questions an IBM i HA engineer
asks after an outage: how long were the applications down, which group was marked at which
position, did every save and restore verify, how many objects did the sync checks find out
of sync, who approved the clear, and what failed with which message.

The page (issue 8: the report as a picture) adds a timeline: an inline SVG Gantt chart with
one row per runbook phase and one row per replication group, the outage window shaded, and a
per-group table (libraries, marked position, sync-check differences, latency). The page is
one self-contained file: no scripts, no style sheets or fonts from elsewhere.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from ibmi_resync.notices import duration_text
from ibmi_resync.program import Phase
from ibmi_resync.tasks import TASKS

__all__ = ["Status", "build_report", "render_html"]

Status = Literal["OK", "WARN", "FAIL"]
_ORDER = {"OK": 0, "WARN": 1, "FAIL": 2}


def _parse(at: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(at) if at else None
    except ValueError:
        return None


def _first(entries: Iterable[Mapping[str, Any]], **match: Any) -> Mapping[str, Any] | None:
    for entry in entries:
        if all(entry.get(key) == value for key, value in match.items()):
            return entry
    return None


def _outage(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Applications down: the first ENDSBS sent, up: the last STRSBS that ran (runbook 1-3)."""
    down = next(
        (
            e
            for e in entries
            if e["text"].split(" ")[0].endswith("/ENDSBS") and e["result"] not in ("skipped",)
        ),
        None,
    )
    ups = [e for e in entries if e["text"].split(" ")[0].endswith("/STRSBS")]
    up = ups[-1] if ups else None
    start, end = _parse(down["at"]) if down else None, _parse(up["at"]) if up else None
    return {
        "applications_down": start.isoformat() if start else None,
        "applications_up": end.isoformat() if end else None,
        "seconds": round((end - start).total_seconds(), 3) if start and end else None,
    }


def _sync_differences(details: Mapping[str, Any] | None, pattern: str | None) -> int | None:
    if not details or not pattern:
        return None
    match = re.search(pattern, str(details.get("message_text", "")))
    return int(match.group("differences")) if match else None


# What the latency wait last saw (ibmi_resync.waits: "source latency 4.0 s, apply latency
# 1.5 s, backlog 12, last applied ...").
_LATENCY_SEEN = re.compile(
    r"source latency (?P<source>[-0-9.]+|None) s, apply latency (?P<apply>[-0-9.]+|None) s"
    r"(?:, backlog (?P<backlog>[-0-9.]+|None))?"
)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "None") else None
    except ValueError:
        return None


def _latency(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """A group's latency readings (phase 10 waits), last one first-class; None if none."""
    readings = []
    for entry in entries:
        match = _LATENCY_SEEN.search(str(entry.get("detail") or ""))
        if match and entry.get("phase") == Phase.LATENCY.value:
            readings.append(
                {
                    "at": entry.get("at"),
                    "source_seconds": _number(match.group("source")),
                    "apply_seconds": _number(match.group("apply")),
                    "backlog": _number(match.group("backlog")),
                    "result": entry.get("result"),
                }
            )
    if not readings:
        return None
    last = readings[-1]
    return {
        "source_seconds": last["source_seconds"],
        "apply_seconds": last["apply_seconds"],
        "backlog": last["backlog"],
        "result": last["result"],
        "readings": readings,
    }


def _phase_spans(result: Mapping[str, Any], log: list[Mapping[str, Any]]) -> list[list[Any]]:
    """[phase, first entry time, last entry time] for each phase of the task's log, in order;
    one [phase of the task, None, None] when its log names no phase."""
    spans: list[list[Any]] = []
    for entry in log:
        phase, at = entry.get("phase"), _parse(entry.get("at"))
        if not isinstance(phase, int):
            continue
        if spans and spans[-1][0] == phase:
            spans[-1][2] = at or spans[-1][2]
        else:
            spans.append([phase, at, at])
    if not spans:
        part = TASKS.get(str(result.get("task") or ""))
        spans.append([part.phase.value if part is not None else None, None, None])
    return spans


def _timeline(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One bar per task (per group for mapped tasks) and phase: from its first to its last
    step. A task that runs several phases (a group's mark and save) gets a bar per phase,
    each ending with the phase's last step, the next one starting there.

    A task's result may carry `started` / `ended` (ISO times); otherwise its executor log
    gives the span (each entry is stamped when its step ended, so the first step's own
    duration is not in the bar).
    """
    bars = []
    for result in results:
        log = [entry for entry in result.get("log") or [] if isinstance(entry, Mapping)]
        times = [t for t in (_parse(entry.get("at")) for entry in log) if t is not None]
        start = _parse(result.get("started")) or (min(times) if times else None)
        end = _parse(result.get("ended")) or (max(times) if times else None)
        if start is None or end is None or not result.get("task"):
            continue
        spans = _phase_spans(result, log)
        for index, (phase, _, last) in enumerate(spans):
            until = end if index == len(spans) - 1 or last is None else min(last, end)
            bars.append(
                {
                    "task": str(result["task"]),
                    "group": result.get("group"),
                    "phase": phase,
                    "start": start.isoformat(),
                    "end": max(start, until).isoformat(),
                    "steps": sum(1 for entry in log if entry.get("phase") == phase)
                    if len(spans) > 1
                    else len(log),
                }
            )
            start = max(start, until)
    return sorted(bars, key=lambda bar: (bar["start"], bar["phase"] or 0, bar["group"] or ""))


def build_report(
    *,
    plan_name: str,
    run_id: str,
    task_results: Iterable[Mapping[str, Any]],
    task_states: Mapping[str, str],
    sync_check_pattern: str | None = None,
    difference_threshold: int = 0,
    over_threshold: Literal["warn", "fail"] = "warn",
    params: Mapping[str, Any] | None = None,
    approvals: Iterable[Mapping[str, Any]] = (),
    triggered_by: str | None = None,
    failures: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One JSON-ready report; `status` is OK, WARN or FAIL (see the module docstring).

    `failures` are the messages failed tasks left (task, group, message): the report says why
    a run failed, not only where.
    """
    results = [dict(result) for result in task_results if result]
    entries = sorted(
        (entry for result in results for entry in result.get("log", [])),
        key=lambda entry: entry.get("at") or "",
    )
    groups: dict[str, dict[str, Any]] = {}
    for result in results:
        for key, value in result.items():
            if key.startswith("event:"):
                _, group, phase = key.split(":")
                record = groups.setdefault(group, {"group": group})
                if phase == "2":
                    record["marked_position"] = value.get("message_text")
                elif phase == str(Phase.START_REPLICATION.value):
                    # Only the network sync waits for a message there: its refresh's end.
                    record["refresh"] = value.get("message_text")
                else:
                    record.setdefault("sync_checks", []).append(
                        {
                            "phase": int(phase),
                            "message": value.get("message_text"),
                            "differences": _sync_differences(value, sync_check_pattern),
                        }
                    )
            elif key.startswith(("saved:", "restored:", "backup_count:", "count:")):
                kind, library = key.split(":", 1)
                results_by_library = groups.setdefault("_libraries", {})
                results_by_library.setdefault(library, {})[kind] = value
                if result.get("group"):
                    group_libraries = groups.setdefault("_group_libraries", {})
                    group_libraries.setdefault(str(result["group"]), set()).add(library)
    libraries = groups.pop("_libraries", {})
    group_libraries = groups.pop("_group_libraries", {})
    # Every group the run worked on has a record, with what the report knows of it.
    seen = {str(r["group"]) for r in results if r.get("group")} | {
        str(e["group"]) for e in entries if e.get("group")
    }
    for name in seen:
        groups.setdefault(name, {"group": name})
    for name, record in groups.items():
        if name in group_libraries:
            record["libraries"] = sorted(group_libraries[name])
        latency = _latency(e for e in entries if e.get("group") == name)
        if latency is not None:
            record["latency"] = latency
    status: Status = "OK"
    reasons: list[str] = []
    failed = sorted(task for task, state in task_states.items() if state == "failed")
    not_run = sorted(t for t, state in task_states.items() if state == "upstream_failed")
    if failed:
        status = "FAIL"
        reasons.append(f"tasks failed: {', '.join(failed)}")
    if not_run:
        status = "FAIL"
        reasons.append(f"{len(not_run)} tasks not run because an earlier one failed")
    failures = [dict(failure) for failure in failures if failure]
    for failure in failures:
        where = failure.get("task") or "?"
        where += f"[{failure['group']}]" if failure.get("group") else ""
        reasons.append(f"{where}: {failure.get('message')}")
    notes: list[str] = []
    # Re-runs (a retry, or failed instances cleared and run again): what the earlier attempts
    # finished was kept, so the report says which task ran again and which steps it found done.
    attempts = [
        {"task": r["task"], "group": r.get("group"), "attempt": int(r["attempt"])}
        for r in results
        if r.get("task") and r.get("attempt")
    ]
    for run in attempts:
        if run["attempt"] > 1:
            where = run["task"] + (f"[{run['group']}]" if run["group"] else "")
            notes.append(f"{where} ran again (attempt {run['attempt']})")
    not_redone = [
        {k: e.get(k) for k in ("phase", "group", "subject", "result", "detail", "text")}
        for e in entries
        if e.get("result") in ("skipped", "attached")
    ]
    for record in groups.values():
        for check in record.get("sync_checks", []):
            count = check["differences"]
            if check["phase"] != Phase.FINAL_SYNC_CHECK.value:
                # Step 8 runs before the groups restart: objects the applications changed
                # after the mark differ until the apply catches up (runbook step 10), so
                # they are noted; the final sync check, after latency resolved, judges.
                if count:
                    notes.append(
                        f"group {record['group']}: {count} objects differed at step 8, "
                        "before replication restarted"
                    )
                continue
            if count is not None and count > difference_threshold:
                level: Status = "FAIL" if over_threshold == "fail" else "WARN"
                status = level if _ORDER[level] > _ORDER[status] else status
                reasons.append(
                    f"group {record['group']}: {count} objects out of sync "
                    f"(threshold {difference_threshold})"
                )
    return {
        "plan": plan_name,
        "run_id": run_id,
        "triggered_by": triggered_by,
        "params": dict(params or {}),
        "status": status,
        "reasons": reasons,
        "notes": notes,
        "failures": failures,
        "outage": _outage(entries),
        "started": entries[0]["at"] if entries else None,
        "ended": entries[-1]["at"] if entries else None,
        "task_states": dict(sorted(task_states.items())),
        "attempts": attempts,
        "not_redone": not_redone,
        "approvals": list(approvals),
        "groups": sorted(groups.values(), key=lambda record: record["group"]),
        "libraries": dict(sorted(libraries.items())),
        "steps": entries,
        "timeline": _timeline(results),
    }


# ---- the page ----------------------------------------------------------------------------

# One colour per runbook phase (Phase 0-11), readable on white and told apart side by side.
_PHASE_COLOURS = (
    "#6e7781",
    "#cf222e",
    "#8250df",
    "#bf3989",
    "#0969da",
    "#bc4c00",
    "#1a7f37",
    "#116329",
    "#9a6700",
    "#0550ae",
    "#57606a",
    "#4d2d00",
)
_LABEL_WIDTH = 210
_CHART_WIDTH = 900
_ROW_HEIGHT = 22
_AXIS_HEIGHT = 34


def _colour(phase: int | None) -> str:
    return _PHASE_COLOURS[phase % len(_PHASE_COLOURS)] if phase is not None else "#6e7781"


def _phase_name(phase: int | None) -> str:
    if phase is None:
        return "other"
    try:
        return Phase(phase).title
    except ValueError:
        return f"phase {phase}"


def _short_phase(phase: int | None) -> str:
    """`3 Save, verify, restart the applications` (no runbook reference) for the legend."""
    return f"{phase} {_phase_name(phase).split(' (')[0]}" if phase is not None else "other"


_ROW_LABELS = {
    Phase.PREFLIGHT: "pre-flight",
    Phase.END_APPLICATIONS: "end applications",
    Phase.MARK_POSITIONS: "mark positions",
    Phase.SAVE: "save, restart apps",
    Phase.TRANSFER: "move save files",
    Phase.CLEAR: "clear on BACKUP",
    Phase.RESTORE: "restore",
    Phase.START_CLUSTER: "start iCluster",
    Phase.SYNC_CHECK: "sync check",
    Phase.START_REPLICATION: "start replication",
    Phase.LATENCY: "latency",
    Phase.FINAL_SYNC_CHECK: "final sync check",
}


def _row_label(phase: int) -> str:
    """`3 save, restart apps`: a phase row's label, short enough for the label column."""
    try:
        return f"{phase} {_ROW_LABELS[Phase(phase)]}"
    except (ValueError, KeyError):
        return f"phase {phase}"


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


def _tick_step(span: float) -> float:
    """A round tick interval giving 4-10 ticks over `span` seconds."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400):
        if span / step <= 10:
            return float(step)
    return 28800.0


def _group_names(report: Mapping[str, Any]) -> list[str]:
    names = [str(record["group"]) for record in report.get("groups") or []]
    for bar in report.get("timeline") or []:
        if bar.get("group") and str(bar["group"]) not in names:
            names.append(str(bar["group"]))
    return names


def _timeline_svg(report: Mapping[str, Any]) -> str:
    """The Gantt chart: a row per phase (the whole run's work in it), a row per group (its
    own tasks), bars coloured by phase, the outage window shaded across all rows."""
    e = html.escape
    bars = [
        (bar, start, end)
        for bar in report.get("timeline") or []
        if (start := _parse(bar.get("start"))) and (end := _parse(bar.get("end")))
    ]
    outage = report.get("outage") or {}
    down, up = _parse(outage.get("applications_down")), _parse(outage.get("applications_up"))
    moments = [t for _, start, end in bars for t in (start, end)] + [
        t for t in (down, up) if t is not None
    ]
    phases = sorted({bar["phase"] for bar, _, _ in bars if bar.get("phase") is not None})
    groups = _group_names(report)
    rows: list[tuple[str, str, str, list[tuple[Mapping[str, Any], datetime, datetime]]]] = []
    for phase in phases:
        in_phase = [item for item in bars if item[0].get("phase") == phase]
        rows.append(("phase", str(phase), _row_label(phase), in_phase))
    for group in groups:
        rows.append(
            ("group", group, group, [item for item in bars if item[0].get("group") == group])
        )
    height = _AXIS_HEIGHT + _ROW_HEIGHT * max(len(rows), 1) + 8
    width = _LABEL_WIDTH + _CHART_WIDTH + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" class="timeline" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Timeline of the run: phases and groups, outage window shaded">'
    ]
    if not moments:
        parts.append(
            f'<text x="{_LABEL_WIDTH}" y="20" class="empty">No timed steps were recorded '
            "(a dry run, or the run stopped before any task reported).</text>"
        )
    first = min(moments) if moments else None
    last = max(moments) if moments else None
    span = max(_seconds(first, last), 1.0) if first and last else 1.0

    def x(moment: datetime) -> float:
        assert first is not None
        return _LABEL_WIDTH + _seconds(first, moment) / span * _CHART_WIDTH

    chart_bottom = _AXIS_HEIGHT + _ROW_HEIGHT * len(rows)
    if first is not None:
        step = _tick_step(span)
        tick = 0.0
        while tick <= span + 1e-9:
            left = _LABEL_WIDTH + tick / span * _CHART_WIDTH
            label = (first + timedelta(seconds=tick)).strftime("%H:%M:%S")
            parts.append(
                f'<line class="tick" x1="{left:.1f}" y1="{_AXIS_HEIGHT - 4}" x2="{left:.1f}" '
                f'y2="{chart_bottom}" stroke="#d0d7de" stroke-width="1"/>'
                f'<text class="tick-label" x="{left:.1f}" y="{_AXIS_HEIGHT - 8}" '
                f'text-anchor="middle" font-size="11" fill="#57606a">{label}</text>'
            )
            tick += step
    if down is not None and up is not None and first is not None:
        left, right = x(down), x(up)
        outage = duration_text(_seconds(down, up), tenths=True)
        parts.append(
            f'<g class="outage"><rect x="{left:.1f}" y="{_AXIS_HEIGHT}" '
            f'width="{max(right - left, 1.0):.1f}" height="{chart_bottom - _AXIS_HEIGHT}" '
            f'fill="#cf222e" fill-opacity="0.12" stroke="#cf222e" stroke-dasharray="4 3">'
            f"<title>Outage: applications down {e(str(down.isoformat()))}, up "
            f"{e(str(up.isoformat()))} ({outage})</title></rect>"
            f'<text x="{left + 3:.1f}" y="{_AXIS_HEIGHT + 12}" font-size="11" fill="#a40e26">'
            f"outage {outage}</text></g>"
        )
    for index, (kind, key, label, items) in enumerate(rows):
        top = _AXIS_HEIGHT + index * _ROW_HEIGHT
        attribute = "data-phase" if kind == "phase" else "data-group"
        parts.append(f'<g class="row {kind}-row" {attribute}="{e(key)}">')
        if index and kind == "group" and rows[index - 1][0] == "phase":
            parts.append(
                f'<line x1="0" y1="{top}" x2="{width}" y2="{top}" stroke="#8c959f" '
                'stroke-width="1"/>'
            )
        shade = "#f6f8fa" if index % 2 else "#ffffff"
        parts.append(
            f'<rect class="band" x="0" y="{top}" width="{width}" height="{_ROW_HEIGHT}" '
            f'fill="{shade}" fill-opacity="0.6"/>'
            f'<text class="row-label" x="{_LABEL_WIDTH - 8}" y="{top + 15}" '
            f'text-anchor="end" font-size="12" fill="#1f2328">{e(label[:32])}</text>'
        )
        for bar, start, end in items:
            left = x(start)
            bar_width = max(x(end) - left, 2.0)
            group = f" {bar['group']}" if bar.get("group") else ""
            took = duration_text(_seconds(start, end), tenths=True)
            parts.append(
                f'<rect class="bar" data-task="{e(str(bar["task"]))}" x="{left:.1f}" '
                f'y="{top + 4}" width="{bar_width:.1f}" height="{_ROW_HEIGHT - 8}" rx="2" '
                f'fill="{_colour(bar.get("phase"))}"><title>{e(str(bar["task"]))}{e(group)}: '
                f"{e(start.strftime('%H:%M:%S'))}-{e(end.strftime('%H:%M:%S'))} "
                f"({took}, {bar.get('steps', 0)} steps) - "
                f"{e(_phase_name(bar.get('phase')))}</title></rect>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _legend(report: Mapping[str, Any]) -> str:
    phases = sorted(
        {bar["phase"] for bar in report.get("timeline") or [] if bar.get("phase") is not None}
    )
    items = "".join(
        f'<span class="key"><span class="swatch" style="background:{_colour(phase)}"></span>'
        f"{html.escape(_short_phase(phase))}</span>"
        for phase in phases
    )
    outage = (
        '<span class="key"><span class="swatch" style="background:#cf222e;opacity:.25">'
        "</span>outage (applications down)</span>"
    )
    return f'<p class="legend">{items}{outage}</p>'


def _sparkline(readings: list[Mapping[str, Any]]) -> str:
    """A small inline SVG of source and apply latency over the wait's readings."""
    values = [
        (r.get("source_seconds"), r.get("apply_seconds"))
        for r in readings
        if r.get("source_seconds") is not None or r.get("apply_seconds") is not None
    ]
    if len(values) < 2:
        return ""
    top = max(v for pair in values for v in pair if v is not None) or 1.0
    width, height = 120, 24

    def points(column: int) -> str:
        step = width / (len(values) - 1)
        return " ".join(
            f"{i * step:.1f},{height - 2 - (pair[column] or 0) / top * (height - 4):.1f}"
            for i, pair in enumerate(values)
        )

    return (
        f'<svg class="latency-curve" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>latency (source solid, apply dashed), max '
        f'{top:g} s</title><polyline fill="none" stroke="#0969da" stroke-width="1.5" '
        f'points="{points(0)}"/><polyline fill="none" stroke="#bc4c00" stroke-width="1.5" '
        f'stroke-dasharray="3 2" points="{points(1)}"/></svg>'
    )


def _latency_cell(record: Mapping[str, Any]) -> str:
    latency = record.get("latency")
    if not latency:
        return ""

    def show(value: Any) -> str:
        return "?" if value is None else f"{value:g}"

    text = (
        f"source {show(latency.get('source_seconds'))} s, apply "
        f"{show(latency.get('apply_seconds'))} s"
    )
    if latency.get("backlog") is not None:
        text += f", backlog {show(latency['backlog'])}"
    if latency.get("result") not in (None, "done"):
        text += f" ({latency['result']})"
    return html.escape(text) + _sparkline(latency.get("readings") or [])


def _differences(record: Mapping[str, Any], phase: int) -> str:
    found = [
        "?" if check.get("differences") is None else str(check["differences"])
        for check in record.get("sync_checks", [])
        if check.get("phase") == phase
    ]
    return ", ".join(found)


def _group_table(report: Mapping[str, Any]) -> str:
    e = html.escape
    records = {str(record["group"]): record for record in report.get("groups") or []}
    rows = []
    for name in _group_names(report):
        record = records.get(name, {"group": name})
        checks = record.get("sync_checks", [])
        other = [c for c in checks if c.get("phase") not in (8, 11)]
        rows.append(
            f'<tr data-group="{e(name)}"><td>{e(name)}</td>'
            f"<td>{e(', '.join(record.get('libraries', [])))}</td>"
            f"<td>{e(str(record.get('marked_position') or ''))}</td>"
            f"<td>{e(_differences(record, Phase.SYNC_CHECK.value))}</td>"
            f"<td>{e(_differences(record, Phase.FINAL_SYNC_CHECK.value))}"
            f"{e(' '.join(str(c.get('differences')) for c in other))}</td>"
            f"<td>{_latency_cell(record)}</td></tr>"
        )
    return (
        '<table class="groups"><tr><th>group</th><th>libraries</th><th>marked position</th>'
        "<th>sync-check differences (step 8)</th><th>final sync-check differences</th>"
        f"<th>latency (last reading)</th></tr>{''.join(rows)}</table>"
    )


def _who(user: Any) -> str:
    """An approver as Airflow records them ({"id": ..., "name": ...}), or as given."""
    if isinstance(user, Mapping):
        return str(user.get("name") or user.get("id") or "?")
    return str(user or "?")


def compare_with_history(
    report: Mapping[str, Any],
    past: Iterable[Mapping[str, Any]],
    forecast: Mapping[str, Any] | None,
    *,
    runs: int = 5,
) -> dict[str, Any]:
    """This run next to the forecast made from the runs before it and next to those runs
    (issue 8 item 4): outage and whole-run seconds, so the next window is negotiated from
    figures, and a forecast that was far off shows."""

    def figures(r: Mapping[str, Any]) -> dict[str, Any]:
        started, ended = _parse(r.get("started")), _parse(r.get("ended"))
        return {
            "run_id": r.get("run_id"),
            "started": r.get("started"),
            "status": r.get("status"),
            "outage_seconds": (r.get("outage") or {}).get("seconds"),
            "total_seconds": _seconds(started, ended) if started and ended else None,
        }

    this = figures(report)
    earlier = [figures(r) for r in past if r.get("run_id") != report.get("run_id")][:runs]
    result: dict[str, Any] = {"this_run": this, "past_runs": earlier, "forecast": None}
    if forecast:
        result["forecast"] = {
            key: forecast.get(key)
            for key in ("outage_seconds", "outage_source", "total_seconds", "total_source")
        }
    return result


def _comparison_table(report: Mapping[str, Any]) -> str:
    comparison = report.get("comparison") or {}
    if not comparison.get("this_run"):
        return ""
    e = html.escape

    def seconds(value: Any) -> str:
        return "?" if value is None else duration_text(float(value), tenths=True)

    rows = [("this run", comparison["this_run"])]
    forecast = comparison.get("forecast") or {}
    if forecast:
        rows.append((f"forecast ({forecast.get('outage_source') or '?'})", forecast))
    rows += [(str(r.get("run_id")), r) for r in comparison.get("past_runs") or []]
    body = "".join(
        f"<tr><td>{e(label)}</td><td>{e(str(r.get('status') or ''))}</td>"
        f"<td>{e(seconds(r.get('outage_seconds')))}</td>"
        f"<td>{e(seconds(r.get('total_seconds')))}</td></tr>"
        for label, r in rows
    )
    return (
        "<h2>Against the forecast and past runs</h2><table><tr><th>run</th><th>status</th>"
        f"<th>outage</th><th>whole run</th></tr>{body}</table>"
    )


def _what_ran(report: Mapping[str, Any]) -> str:
    """The page's first word: the three DAGs write the same report shape."""
    if report.get("rehearsal"):
        return "Rehearsal"
    if report.get("dag_id") == "icluster_network_sync":
        return "Network sync"
    return "Resync"


def render_html(report: Mapping[str, Any]) -> str:
    """A self-contained page (no scripts, no external files) for the run's record: the
    timeline, the per-group table, libraries and every step."""
    e = html.escape
    what = _what_ran(report)
    colour = {"OK": "#1a7f37", "WARN": "#9a6700", "FAIL": "#cf222e"}[report["status"]]
    outage = report["outage"]
    rows = "".join(
        f"<tr><td>{e(str(step.get('at', '')))}</td><td>{e(str(step.get('node', '')))}</td>"
        f"<td>{e(str(step.get('group') or ''))}</td><td>{e(str(step.get('kind', '')))}</td>"
        f"<td>{e(str(step.get('result', '')))}</td><td><code>{e(str(step.get('text', '')))}"
        f"</code></td><td>{e(str(step.get('detail', '')))}</td></tr>"
        for step in report["steps"]
    )
    libraries = "".join(
        f"<tr><td>{e(name)}</td><td>{e(str(counts.get('count', '')))}</td>"
        f"<td>{e(str(counts.get('saved', '')))}</td>"
        f"<td>{e(str(counts.get('restored', '')))}</td></tr>"
        for name, counts in report["libraries"].items()
    )
    reasons = "".join(f"<li>{e(reason)}</li>" for reason in report["reasons"])
    reasons += "".join(f"<li>note: {e(note)}</li>" for note in report.get("notes", []))
    approvals = "".join(
        f"<li>{e(', '.join(str(o) for o in a.get('chosen_options') or []))} by "
        f"{e(_who(a.get('responded_by_user')))} at {e(str(a.get('responded_at') or '?'))}</li>"
        for a in report.get("approvals") or []
        if isinstance(a, Mapping)
    )
    started, ended = _parse(report.get("started")), _parse(report.get("ended"))
    elapsed = ""
    if started and ended:
        elapsed = f" ({duration_text(_seconds(started, ended), tenths=True)})"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{what} {e(report["plan"])} {e(report["run_id"])}: {report["status"]}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#1f2328}}
table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}}
.status{{color:#fff;background:{colour};padding:2px 8px;border-radius:4px}}
.timeline{{border:1px solid #d0d7de;background:#fff;max-width:100%;height:auto}}
.legend .key{{margin-right:1em;white-space:nowrap}}
.swatch{{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}}
.latency-curve{{vertical-align:middle;margin-left:.5em}}</style></head>
<body><h1>{what} {e(report["plan"])} <span class="status">{report["status"]}</span></h1>
<p>Run {e(report["run_id"])}, triggered by {e(str(report.get("triggered_by") or "schedule"))}.
Applications down {e(str(outage["applications_down"]))}, up {e(str(outage["applications_up"]))}
(outage {e(str(outage["seconds"]))} s).
Run from {e(str(report.get("started")))} to {e(str(report.get("ended")))}{e(elapsed)}.</p>
<ul>{reasons}</ul>{f"<p>Approvals:</p><ul>{approvals}</ul>" if approvals else ""}
<h2>Timeline</h2>
<p>Times in UTC. One row per runbook phase (all of the run's work in it), then one row per
replication group (its own tasks); the shaded band is the outage.</p>
{_timeline_svg(report)}
{_legend(report)}
<h2>Groups</h2>{_group_table(report)}
{_comparison_table(report)}
<h2>Libraries</h2><table><tr><th>library</th><th>objects on PRIMARY</th><th>saved</th>
<th>restored</th></tr>{libraries}</table>
<h2>Steps</h2><table><tr><th>at</th><th>node</th><th>group</th><th>kind</th><th>result</th>
<th>command</th><th>detail</th></tr>{rows}</table>
</body></html>
"""
