"""Collect what every task of a resync run returned and write the run report (JSON + HTML).

Runs as the DAG's last task, whatever happened before it (trigger rule all_done), so a failed
run gets a report too; its status is FAIL and it names the failed tasks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ibmi_resync.forecast import forecast, load_reports
from ibmi_resync.plan import Plan
from ibmi_resync.report import build_report, compare_with_history, render_html


def reports_folder() -> Path:
    default = Path(os.environ.get("AIRFLOW_HOME", ".")) / "resync-reports"
    return Path(os.environ.get("IBMI_RESYNC_REPORTS", str(default)))


def run_folder(run_id: str) -> Path:
    """The folder of one run's report: the run id made safe as a single path component."""
    safe = run_id.replace("/", "_").replace(":", "_").replace("\\", "_")
    if safe in ("", ".", ".."):
        raise ValueError(f"run id {run_id!r} cannot name a report folder")
    return reports_folder() / safe


def _results(value: Any) -> list[Mapping[str, Any]]:
    """A task's XCom: a dict for a plain task, a sequence of dicts for a mapped one."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return [item for item in value if isinstance(item, Mapping)]


def _states(ti: Any, dag_id: str, run_id: str) -> dict[str, str]:
    try:
        answer = ti.get_task_states(dag_id=dag_id, run_ids=[run_id])
    except Exception:
        return {}
    states = answer.get(run_id, answer) if isinstance(answer, Mapping) else {}
    return {str(task): str(state) for task, state in states.items()}


def _approvals(context: Mapping[str, Any], states: Mapping[str, str]) -> list[dict[str, Any]]:
    """Who approved what, when (the audit, issue 8 item 6): each approval task's answer as the
    HITL operator returned it (chosen_options, responded_by_user, responded_at), with the task
    and its question. A rejection fails the task before it returns anything, so a failed
    approval task is recorded as rejected; who rejected is in Airflow's HITL details."""
    ti, dag = context["ti"], context.get("dag")
    tasks = [
        t for t in getattr(dag, "tasks", []) if hasattr(t, "subject") and hasattr(t, "options")
    ]
    found = []
    for task in tasks:
        answer = ti.xcom_pull(task_ids=task.task_id)
        record = {"task": task.task_id, "subject": task.subject}
        if isinstance(answer, Mapping):
            found.append({**record, **answer})
        elif states.get(task.task_id) == "failed":
            found.append({**record, "chosen_options": ["Reject"], "responded_by_user": None})
    return found


def _comparison(plan: Plan, report: Mapping[str, Any]) -> dict[str, Any]:
    """This run against the forecast the earlier reports give and against those runs; an
    unreadable history is said, never a reason for the report not to be written."""
    try:
        resyncs, rehearsals = load_reports(reports_folder())
        earlier = [r for r in resyncs if r.get("run_id") != report["run_id"]]
        history = [r for r in earlier if r.get("plan") == plan.name]
        predicted = asdict(forecast(plan, history, rehearsals))
        return compare_with_history(report, history, predicted)
    except Exception as error:  # the report matters more than the comparison
        return {"error": f"{type(error).__name__}: {error}"}


def write_run_report(context: Mapping[str, Any], plan: Plan, task_ids: list[str]) -> dict[str, Any]:
    ti, dag_run = context["ti"], context["dag_run"]
    results = [r for task_id in task_ids for r in _results(ti.xcom_pull(task_ids=task_id))]
    states = _states(ti, dag_run.dag_id, dag_run.run_id)
    failures = [
        f for task_id in task_ids for f in _results(ti.xcom_pull(task_ids=task_id, key="failure"))
    ]
    report = build_report(
        plan_name=plan.name,
        run_id=dag_run.run_id,
        task_results=results,
        task_states=states,
        sync_check_pattern=plan.site_profile.messages.sync_check_differences_pattern,
        difference_threshold=plan.thresholds.sync_check_differences,
        over_threshold=plan.thresholds.sync_check_over_threshold,
        params=context.get("params") or {},
        approvals=_approvals(context, states),
        failures=failures,
        triggered_by=getattr(dag_run, "triggering_user_name", None),
    )
    # For the audit (ibmi_resync.audit): which DAG, how the run was started, when.
    report["dag_id"] = dag_run.dag_id
    run_type = getattr(dag_run, "run_type", None)  # an enum in a run: keep its value
    report["run_type"] = str(getattr(run_type, "value", run_type) or "") or None
    run_start = getattr(dag_run, "start_date", None)
    report["run_started"] = run_start.isoformat() if run_start else None
    report["report_written"] = datetime.now(UTC).isoformat(timespec="seconds")
    if dag_run.dag_id == "icluster_resync":
        report["comparison"] = _comparison(plan, report)
    folder = run_folder(dag_run.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (folder / "report.html").write_text(render_html(report))
    return {
        "status": report["status"],
        "report": str(folder / "report.html"),
        "outage_seconds": report["outage"]["seconds"],
        "reasons": report["reasons"],
    }
