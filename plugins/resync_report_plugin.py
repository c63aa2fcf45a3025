"""Airflow plugin: the resync run report, one click from the DAG run's page.

Mounts :mod:`icluster_resync.report_view` on the api-server under ``/resync-reports`` and
adds a "Resync report" tab on DAG run pages (Airflow 3.1+ external view; the UI replaces
``{RUN_ID}`` in the href).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from icluster_resync.report_view import app


class ResyncReportPlugin(AirflowPlugin):
    name = "icluster_resync_reports"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": app, "url_prefix": "/resync-reports", "name": "iCluster resync reports"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Resync report",
            "href": "resync-reports/runs/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "resync-report",
        }
    ]
