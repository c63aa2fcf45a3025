"""The Airflow side of the rehearsal (dags/icluster_rehearsal.py): the restart operator and
the report writer. The steps and the report's content are ibmi_resync.rehearsal's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibmi_resync.forecast import forecast_from_folder
from ibmi_resync.plan import Plan, RunOptions
from ibmi_resync.program import Step
from ibmi_resync.rehearsal import rehearsal_report, restart_steps
from ibmi_resync.report import build_report, render_html
from icluster_resync.operators import ResyncTaskOperator
from icluster_resync.reporting import _results, _states, reports_folder, run_folder

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["RehearsalRestartOperator", "write_rehearsal_report"]


class RehearsalRestartOperator(ResyncTaskOperator):
    """A resync task slice, as `ResyncTaskOperator` runs it, narrowed for the rehearsal by
    ibmi_resync.rehearsal.restart_steps: no wait for a SYSTEM group the rehearsal did not
    end; with `keep_guard`, only the steps with that guard.

    :param restarted: the groups the rehearsal ended (an upstream task's XCom).
    :param keep_guard: e.g. ``was_running``: of `final_sync_check`, only STRCNSC.
    """

    template_fields: Sequence[str] = ("group", "restarted")
    ui_color = "#efe6d8"
    # The slice is narrowed by what the rehearsal ended, which a trigger cannot cut again.
    rest_in_trigger = False

    def __init__(
        self,
        *,
        restarted: Any = None,
        keep_guard: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.restarted = restarted
        self.keep_guard = keep_guard

    def _slice(self, context: Context) -> tuple[Plan, RunOptions, list[Step]]:
        plan, options, steps = super()._slice(context)
        restarted = self.restarted if isinstance(self.restarted, list | tuple) else ()
        narrowed = restart_steps(plan, steps, restarted=restarted, keep_guard=self.keep_guard)
        return plan, options, narrowed


def write_rehearsal_report(
    context: Mapping[str, Any],
    plan: Plan,
    *,
    mark_task: str,
    restart_tasks: Sequence[str],
    task_ids: Sequence[str],
) -> dict[str, Any]:
    """Write report.json and report.html of a rehearsal next to the resync reports (one
    folder per run), with the forecast of the next resync that this rehearsal now feeds."""
    ti, dag_run = context["ti"], context["dag_run"]
    params = dict(context.get("params") or {})
    results = [r for task_id in task_ids for r in _results(ti.xcom_pull(task_ids=task_id))]
    failures = [
        f for task_id in task_ids for f in _results(ti.xcom_pull(task_ids=task_id, key="failure"))
    ]
    base = build_report(
        plan_name=plan.name,
        run_id=dag_run.run_id,
        task_results=results,
        task_states=_states(ti, dag_run.dag_id, dag_run.run_id),
        params=params,
        failures=failures,
        triggered_by=getattr(dag_run, "triggering_user_name", None),
    )
    marks = _results(ti.xcom_pull(task_ids=mark_task))
    restarts = [r for task_id in restart_tasks for r in _results(ti.xcom_pull(task_ids=task_id))]
    report = rehearsal_report(
        plan, base, marks=marks, restarts=restarts, dry_run=bool(params.get("dry_run"))
    )
    report["dag_id"] = dag_run.dag_id
    report["run_type"] = str(getattr(dag_run, "run_type", "") or "") or None
    report["report_written"] = datetime.now(UTC).isoformat(timespec="seconds")
    folder = run_folder(dag_run.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    # The forecast with this rehearsal in it (the report just written is read back).
    forecast = forecast_from_folder(plan, reports_folder())
    report["forecast"] = forecast.to_dict()
    (folder / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (folder / "report.html").write_text(render_html(report))
    return {
        "status": report["status"],
        "report": str(folder / "report.html"),
        "reasons": report["reasons"],
        "mark_phase_seconds": report["mark_phase_seconds"],
        "groups": report["rehearsal"]["groups"],
        "forecast_outage_seconds": forecast.outage_seconds,
    }
