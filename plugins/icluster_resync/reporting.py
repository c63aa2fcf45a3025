"""Collect what every task of a resync run returned and write the run report (JSON + HTML).

Runs as the DAG's last task, whatever happened before it (trigger rule all_done), so a failed
run gets a report too; its status is FAIL and it names the failed tasks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ibmi_resync.plan import Plan
from ibmi_resync.report import build_report, render_html


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


def write_run_report(context: Mapping[str, Any], plan: Plan, task_ids: list[str]) -> dict[str, Any]:
    ti, dag_run = context["ti"], context["dag_run"]
    results = [r for task_id in task_ids for r in _results(ti.xcom_pull(task_ids=task_id))]
    approval = ti.xcom_pull(task_ids="approve_clearing")
    failures = [
        f for task_id in task_ids for f in _results(ti.xcom_pull(task_ids=task_id, key="failure"))
    ]
    report = build_report(
        plan_name=plan.name,
        run_id=dag_run.run_id,
        task_results=results,
        task_states=_states(ti, dag_run.dag_id, dag_run.run_id),
        sync_check_pattern=plan.site_profile.messages.sync_check_differences_pattern,
        difference_threshold=plan.thresholds.sync_check_differences,
        over_threshold=plan.thresholds.sync_check_over_threshold,
        params=context.get("params") or {},
        approvals=[approval] if approval else [],
        failures=failures,
        triggered_by=getattr(dag_run, "triggering_user_name", None),
    )
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
