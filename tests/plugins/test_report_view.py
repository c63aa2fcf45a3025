"""The run report served to Airflow's UI: the right file for a run id, nothing outside the
reports folder, and a plugin that registers the app and the DAG-run tab."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(tmp_path / "reports"))
    from icluster_resync.report_view import app

    return TestClient(app)


def _write(tmp_path: Path, run_id: str, html: str) -> None:
    from icluster_resync.reporting import run_folder

    folder = run_folder(run_id)
    folder.mkdir(parents=True)
    (folder / "report.html").write_text(html)
    (folder / "report.json").write_text('{"status": "OK"}')


def test_a_run_id_opens_its_own_report(client: TestClient, tmp_path: Path) -> None:
    run_id = "manual__2026-11-30T19:01:46.744157+00:00"
    _write(tmp_path, run_id, "<html>report of the first run</html>")
    _write(tmp_path, "scheduled__2026-12-06T01:00:00+00:00", "<html>another run</html>")
    answer = client.get(f"/runs/{run_id}")
    assert answer.status_code == 200
    assert answer.text == "<html>report of the first run</html>"
    assert client.get(f"/runs/{run_id}/report.json").json() == {"status": "OK"}


def test_a_run_without_a_report_says_so(client: TestClient) -> None:
    answer = client.get("/runs/manual__never")
    assert answer.status_code == 404
    assert "write_report" in answer.text


@pytest.mark.parametrize("run_id", ["..", ".", "..%2F..%2Fetc%2Fpasswd", "%2E%2E"])
def test_nothing_outside_the_reports_folder_is_served(
    client: TestClient, tmp_path: Path, run_id: str
) -> None:
    (tmp_path / "report.html").write_text("outside")
    answer = client.get(f"/runs/{run_id}")
    assert answer.status_code == 404
    assert "outside" not in answer.text


def test_the_plugin_mounts_the_app_and_adds_a_dag_run_tab() -> None:
    from resync_report_plugin import ResyncReportPlugin

    from icluster_resync.report_view import app

    (mounted,) = ResyncReportPlugin.fastapi_apps
    assert mounted["app"] is app and mounted["url_prefix"] == "/resync-reports"
    (view,) = ResyncReportPlugin.external_views
    assert view["destination"] == "dag_run"
    # The UI substitutes {RUN_ID}; the href must resolve to the app's route, relative to base.
    assert view["href"] == "resync-reports/runs/{RUN_ID}"
    assert any(getattr(r, "path", "") == "/runs/{run_id}" for r in app.routes)
