"""The run report in Airflow's UI: a small FastAPI app that the api-server mounts.

Why: the report is written by the run's last task to the reports folder
(:func:`icluster_resync.reporting.run_folder`); an administrator auditing a run should open it
from the run's page, not hunt for a file on the worker. The plugin module
(``plugins/resync_report_plugin.py``) mounts this app under ``/resync-reports`` and adds a
"Resync report" tab to every DAG run page (an Airflow 3.1+ external view whose href carries
the run id). The report holds no secrets (no passwords, keys or connection extras), only what
was sent and what came back.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from icluster_resync.reporting import reports_folder, run_folder

app = FastAPI(title="iCluster resync reports")


def _not_found(run_id: str) -> HTMLResponse:
    body = (
        "<!doctype html><meta charset='utf-8'><title>No resync report</title>"
        f"<p>No resync report for run <code>{escape(run_id)}</code> (yet): the report is "
        "written by the run's last task, <code>write_report</code>.</p>"
    )
    return HTMLResponse(body, status_code=404)


def _report_file(run_id: str, name: str) -> Response:
    try:
        folder = run_folder(run_id)
    except ValueError:
        return _not_found(run_id)
    path = (folder / name).resolve()
    if reports_folder().resolve() not in path.parents or not path.is_file():
        return _not_found(run_id)
    return FileResponse(path)


@app.get("/runs/{run_id}")
def report_html(run_id: str) -> Response:
    """The self-contained HTML report of one run."""
    return _report_file(run_id, "report.html")


@app.get("/runs/{run_id}/report.json")
def report_json(run_id: str) -> Response:
    """The same report as JSON, for scripts that audit runs."""
    return _report_file(run_id, "report.json")
