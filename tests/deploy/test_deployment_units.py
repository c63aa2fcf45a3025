"""scripts/deployment.py without Airflow running: settings, environment, stopping by recorded
process groups (and only those), the progress line, the demo's run conf."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scripts import demo
from scripts import deployment as d


def test_settings_from_the_environment(tmp_path: Path) -> None:
    settings = d.Settings.from_env(
        {
            "IBMI_RESYNC_STATE_DIR": str(tmp_path),
            "IBMI_RESYNC_API_PORT": "9090",
            "IBMI_RESYNC_METADATA_URL": "postgresql+psycopg2://u:secret@db:5433/meta",
            "IBMI_RESYNC_EXECUTOR": "CeleryExecutor",
        }
    )
    assert settings.state == tmp_path.resolve()
    assert settings.airflow_home == tmp_path / "airflow"
    assert settings.reports == tmp_path / "reports"
    assert settings.pids == tmp_path / "pids"
    assert settings.api_url == "http://127.0.0.1:9090"
    assert settings.components[-1] == d.CELERY_WORKER
    assert d.celery_result_backend(settings.metadata_url) == (
        "db+postgresql+psycopg2://u:secret@db:5433/meta"
    )
    assert "secret" not in d._redacted(settings.metadata_url)
    with pytest.raises(d.DeploymentError, match="LocalExecutor or CeleryExecutor"):
        d.Settings.from_env({"IBMI_RESYNC_EXECUTOR": "KubernetesExecutor"})


def test_the_defaults_are_the_demo(tmp_path: Path) -> None:
    settings = d.Settings.from_env({})
    assert settings.state == d.ROOT / ".state"
    assert settings.api_port == 8080
    assert settings.executor == "LocalExecutor"
    assert settings.components == d.AIRFLOW_COMPONENTS
    assert settings.metadata_url.endswith("@127.0.0.1:5432/icluster_resync_airflow")


def test_the_environment_of_the_components(tmp_path: Path) -> None:
    settings = d.Settings(state=tmp_path, api_port=9191)
    base = {"AIRFLOW_CONN_IBMI_PRIMARY_SSH": "{}", "AIRFLOW__CORE__X": "1", "PATH": "/bin"}
    env = d.env(settings, base=base)
    assert "AIRFLOW_CONN_IBMI_PRIMARY_SSH" not in env  # connections come from the database
    assert env["AIRFLOW__CORE__X"] == "1"  # a user's own Airflow options pass
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["IBMI_RESYNC_REPORTS"] == str(tmp_path / "reports")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:9191/execution/"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64
    # the secrets stay the same across runs (tokens of running components stay valid)
    assert (
        d.env(settings, base={})["AIRFLOW__API_AUTH__JWT_SECRET"]
        == (env["AIRFLOW__API_AUTH__JWT_SECRET"])
    )
    clean = d.env(d.Settings(state=tmp_path, inherit_airflow_env=False), base=base)
    assert "AIRFLOW__CORE__X" not in clean and clean["PATH"] == "/bin"


def _record(settings: d.Settings, name: str, process: subprocess.Popen, **changes) -> None:
    settings.pids.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "pid": process.pid,
        "pgid": process.pid,
        "start_time": d._start_time(process.pid),
        "command": process.args,
        "log": "/dev/null",
        **changes,
    }
    (settings.pids / f"{name}.json").write_text(json.dumps(record))


def test_stop_ends_the_recorded_process_groups_and_nothing_else(tmp_path: Path) -> None:
    settings = d.Settings(state=tmp_path)
    # a "component" whose leader forks a child into its process group
    ours = subprocess.Popen(["bash", "-c", "sleep 300 & wait"], start_new_session=True)
    # a pid whose record does not match (as after a reboot: the pid now names another program)
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        time.sleep(0.3)
        assert len(d.group_members(ours.pid)) == 2
        _record(settings, "scheduler", ours)
        _record(settings, "triggerer", stranger, start_time="1")
        assert d.running(settings) == {"scheduler": ours.pid}
        stopped = d.stop(settings, pair=False, timeout=5)
        assert stopped == ["scheduler"]
        ours.wait(timeout=5)
        assert d.group_members(ours.pid) == []
        assert stranger.poll() is None, "a process the demo did not start was stopped"
        assert d.recorded(settings) == []
    finally:
        for process in (ours, stranger):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_progress_line() -> None:
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    progress = d.Progress(
        state="running",
        running=["move.transfer_group[ORDERS]", "move.transfer_group[SYSTEM]", "transfer_x"],
        groups=["SYSTEM", "ORDERS", "BILLING"],
        stages={"outage": 3, "move": 1},
        tasks_done=12,
        tasks_known=29,
        outage_start=start,
    )
    line = progress.line(75, now=start + timedelta(seconds=42))
    assert line == (
        "[1:15] running: move.transfer_group[ORDERS,SYSTEM], transfer_x | groups done 0/3 "
        "(move 1/3) | tasks 12/29 | outage 0:42 so far"
    )
    progress.outage_end = start + timedelta(seconds=50)
    assert progress.line(80).endswith("outage 0:50 (ended)")
    assert d.Progress().line(0).endswith("outage not started")


def test_the_outage_times_come_from_the_commands_the_tasks_sent() -> None:
    result = {
        "log": [
            {"text": "QSYS/ENDSBS SBS(APPSBS)", "at": "2026-11-30T12:00:01+00:00", "result": "ok"},
            {"text": "QSYS/ENDSBS SBS(X)", "at": "2026-11-30T12:00:05+00:00", "result": "ok"},
            {"text": "QSYS/STRSBS SBSD(A)", "at": "2026-11-30T12:03:00+00:00", "result": "ok"},
        ]
    }
    assert d._command_time(result, "ENDSBS") == datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC)
    assert d._command_time(result, "STRSBS") == datetime(2026, 11, 30, 12, 3, tzinfo=UTC)
    assert d._command_time({"dry_run": True, "steps": 3}, "ENDSBS") is None
    assert d._command_time(None, "ENDSBS") is None


def test_the_demo_conf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_CONF", raising=False)
    assert demo._conf(None) == {"approvals_required": False}
    monkeypatch.setenv("DEMO_CONF", '{"dry_run": true}')
    assert demo._conf(None) == {"approvals_required": False, "dry_run": True}
    assert demo._conf('{"groups": ["ORDERS"]}')["groups"] == ["ORDERS"]
    with pytest.raises(d.DeploymentError, match="not JSON"):
        demo._conf("{dry_run: true}")
    with pytest.raises(d.DeploymentError, match="JSON object"):
        demo._conf("[1]")


def test_the_demo_runs_the_rehearsal_or_the_network_sync_on_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEMO_CONF", raising=False)
    monkeypatch.setattr(d, "DAG_ID", "icluster_rehearsal")
    assert demo._conf(None) == {}  # no approval to switch off in the rehearsal
    monkeypatch.setattr(d, "DAG_ID", "icluster_network_sync")
    assert demo._conf('{"groups": ["BILLING"]}') == {"groups": ["BILLING"]}
    monkeypatch.setattr(d, "DAG_ID", "nosuch")
    with pytest.raises(d.DeploymentError, match="DEMO_DAG='nosuch'"):
        demo._conf(None)
    assert set(d.DAG_IDS) == {p.stem for p in (d.ROOT / "dags").glob("icluster_*.py")}


class _PagedApi:
    """Answers taskInstances as Airflow's REST API does: at most 100 a page, whatever the
    limit asked ([api] maximum_page_limit), with total_entries."""

    def __init__(self, count: int) -> None:
        self.rows = [
            {"task_id": f"t{i}", "map_index": -1, "state": "success"} for i in range(count)
        ]
        self.asked: list[str] = []

    def request(self, method: str, path: str, body: object = None) -> dict:
        self.asked.append(path)
        query = dict(part.split("=") for part in path.split("?", 1)[1].split("&"))
        offset, limit = int(query.get("offset", 0)), min(int(query.get("limit", 50)), 100)
        return {
            "task_instances": self.rows[offset : offset + limit],
            "total_entries": len(self.rows),
        }


@pytest.mark.parametrize("count", [0, 99, 100, 193])
def test_every_task_instance_of_a_run_is_read_page_by_page(count: int) -> None:
    api = _PagedApi(count)
    found = d.RunFollower(api, "manual__1").task_instances()  # type: ignore[arg-type]
    assert [ti["task_id"] for ti in found] == [f"t{i}" for i in range(count)]
    assert len(api.asked) == max(1, -(-count // 100))


def test_healthy_means_the_execution_api_has_answered_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Execution API builds its routes at its first request (about 7 s here): the
    deployment makes that request before it calls itself healthy, not the run's first task."""
    asked: list[str] = []

    class FakeApi:
        def __init__(self, url: str, user: str) -> None:
            self.password: str | None = None

        def health(self) -> dict:
            asked.append("health")
            status = {"status": "healthy"}
            return {k: status for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")}

        def login(self) -> None:
            asked.append("login")

        def request(self, method: str, path: str, *args: object, **kwargs: object) -> dict:
            asked.append(path)
            return {}

    monkeypatch.setattr(d, "Api", FakeApi)
    monkeypatch.setattr(d, "_check_alive", lambda settings: None)
    monkeypatch.setattr(d, "password", lambda settings: "secret")
    d.wait_healthy(d.Settings.from_env(state=tmp_path / "state"), timeout=10)
    assert "/execution/health" in asked
    assert asked.index("/execution/health") < asked.index(f"/api/v2/dags/{d.DAG_ID}")
