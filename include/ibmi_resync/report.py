"""The run report: what a resync did, when, with which result, as JSON and as one HTML page.

The report is assembled from what every task returned (its executor log and the values it
learned) plus the task states Airflow knows. It answers the questions an IBM i HA engineer
asks after an outage: how long were the applications down, which group was marked at which
position, did every save and restore verify, how many objects did the sync checks find out
of sync, who approved the clear, and what failed with which message.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

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
) -> dict[str, Any]:
    """One JSON-ready report; `status` is OK, WARN or FAIL (see the module docstring)."""
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
    libraries = groups.pop("_libraries", {})
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
    for record in groups.values():
        for check in record.get("sync_checks", []):
            count = check["differences"]
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
        "outage": _outage(entries),
        "started": entries[0]["at"] if entries else None,
        "ended": entries[-1]["at"] if entries else None,
        "task_states": dict(sorted(task_states.items())),
        "approvals": list(approvals),
        "groups": sorted(groups.values(), key=lambda record: record["group"]),
        "libraries": dict(sorted(libraries.items())),
        "steps": entries,
    }


def render_html(report: Mapping[str, Any]) -> str:
    """A self-contained page (no scripts, no external files) for the run's record."""
    e = html.escape
    colour = {"OK": "#1a7f37", "WARN": "#9a6700", "FAIL": "#cf222e"}[report["status"]]
    outage = report["outage"]
    rows = "".join(
        f"<tr><td>{e(str(step.get('at', '')))}</td><td>{e(str(step.get('node', '')))}</td>"
        f"<td>{e(str(step.get('group') or ''))}</td><td>{e(str(step.get('kind', '')))}</td>"
        f"<td>{e(str(step.get('result', '')))}</td><td><code>{e(str(step.get('text', '')))}"
        f"</code></td><td>{e(str(step.get('detail', '')))}</td></tr>"
        for step in report["steps"]
    )
    groups = "".join(
        f"<tr><td>{e(record['group'])}</td><td>{e(str(record.get('marked_position') or ''))}"
        f"</td><td>{e(', '.join(str(c['differences']) for c in record.get('sync_checks', [])))}"
        "</td></tr>"
        for record in report["groups"]
    )
    libraries = "".join(
        f"<tr><td>{e(name)}</td><td>{e(str(counts.get('count', '')))}</td>"
        f"<td>{e(str(counts.get('saved', '')))}</td>"
        f"<td>{e(str(counts.get('restored', '')))}</td></tr>"
        for name, counts in report["libraries"].items()
    )
    reasons = "".join(f"<li>{e(reason)}</li>" for reason in report["reasons"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Resync {e(report["plan"])} {e(report["run_id"])}: {report["status"]}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}}
.status{{color:#fff;background:{colour};padding:2px 8px;border-radius:4px}}</style></head>
<body><h1>Resync {e(report["plan"])} <span class="status">{report["status"]}</span></h1>
<p>Run {e(report["run_id"])}, triggered by {e(str(report.get("triggered_by") or "schedule"))}.
Applications down {e(str(outage["applications_down"]))}, up {e(str(outage["applications_up"]))}
(outage {e(str(outage["seconds"]))} s).</p><ul>{reasons}</ul>
<h2>Groups</h2><table><tr><th>group</th><th>marked position</th>
<th>sync-check differences</th></tr>{groups}</table>
<h2>Libraries</h2><table><tr><th>library</th><th>objects on PRIMARY</th><th>saved</th>
<th>restored</th></tr>{libraries}</table>
<h2>Steps</h2><table><tr><th>at</th><th>node</th><th>group</th><th>kind</th><th>result</th>
<th>command</th><th>detail</th></tr>{rows}</table>
</body></html>
"""
