"""The real deployment (scripts/deployment.py, what `make demo` runs), end to end.

Starts the simulated pair and the Airflow components as separate processes against PostgreSQL
(api-server, scheduler, dag-processor, triggerer; with CeleryExecutor also one Celery worker on
the machine's Redis), triggers the resync DAG through the REST API with a JWT of the named user,
follows the run to its end, checks the result and stops everything, leaving no process.

Each test has its own state folder, metadata database, pair databases, ports and Redis
database, so it never collides with a running `make demo` or another session.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml

from icluster_resync.triggers import ENDED_HERE
from scripts import deployment as d

# Generous limits: on a 2-core machine busy with other tests a run took over 5 minutes.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
# Redis database of the Celery tests (the demo uses 0); each test has its own queue on it.
CELERY_REDIS_DB = 13


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_OURS = re.compile(r"^(?:icluster_resync_airflow_|ibmi_sim_)d(\d+)[cl](?:_primary|_backup)?$")


def _drop_stale_databases() -> None:
    """Databases of earlier sessions of this module whose pytest process is gone."""
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database")
        for (name,) in cursor.fetchall():
            match = _OURS.match(name)
            if match and not Path(f"/proc/{match.group(1)}").exists():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def _settings(tmp_path: Path, executor: str) -> d.Settings:
    tag = f"d{os.getpid()}{'c' if executor == 'CeleryExecutor' else 'l'}"
    sim_config = yaml.safe_load((ROOT / "config" / "sim-pair.yaml").read_text())
    sim_config["time_scale"] = 0.01
    for key in ("primary", "backup"):
        sim_config["nodes"][key]["database"] = f"ibmi_sim_{tag}_{key}"
    config_file = tmp_path / "sim-pair.yaml"
    config_file.write_text(yaml.safe_dump(sim_config))
    return d.Settings.from_env(
        environ={},
        state=tmp_path / "state",
        metadata_url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/icluster_resync_airflow_{tag}",
        api_port=_free_port(),
        worker_log_port=_free_port(),
        trigger_log_port=_free_port(),
        executor=executor,
        broker_url=f"redis://127.0.0.1:6379/{CELERY_REDIS_DB}",
        celery_queue=f"icluster_resync_{tag}",
        parallelism=4,
        sim_config=config_file,
        inherit_airflow_env=False,
    )


@pytest.fixture(params=["LocalExecutor", "CeleryExecutor"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[d.Settings]:
    _drop_stale_databases()
    settings = _settings(tmp_path, request.param)
    try:
        yield settings
    finally:
        groups = [int(r["pgid"]) for r in d.recorded(settings)]
        d.stop(settings, pair=False)
        d.stop_pair(settings, drop_databases=True)
        d.drop_metadata_database(settings)
        leftovers = {pgid: d.group_members(pgid) for pgid in groups if d.group_members(pgid)}
        assert not leftovers, f"processes left running: {leftovers}"


def test_the_demo_deployment_runs_the_resync_over_the_rest_api(deployment: d.Settings) -> None:
    settings = deployment
    api, healthy_after = d.up(settings, sys.stdout)
    assert set(d.running(settings)) == set(settings.components)
    health = api.health()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health
    # The named user of [core] simple_auth_manager_users logs in with the generated password.
    assert d.password(settings)
    assert api.request("GET", "/api/v2/dags/icluster_resync")["dag_id"] == "icluster_resync"

    # LocalExecutor: the demo's three groups. Celery: a small resync, one group (which is
    # also the one-instance mapped task group case of airflow.md). Both real, not dry runs.
    groups = ["SYSTEM", "ORDERS", "BILLING"] if settings.executor == "LocalExecutor" else ["ORDERS"]
    conf = {"approvals_required": False, "groups": groups}
    run_id = d.trigger(api, conf)
    # progress lines go to the captured output: a failure shows how far the run got
    progress = d.follow_run(api, run_id, sys.stdout, timeout=1200, quiet_seconds=30)
    summary = d.run_summary(api, settings, run_id)

    assert summary["state"] == "success", summary
    assert summary["report_status"] in ("OK", "WARN"), summary
    assert progress.groups == groups
    assert progress.groups_done() == len(groups)
    # One mapped instance per group in each of the 6 tasks of the six mapped task groups.
    assert summary["mapped_instances"] == 6 * len(groups)
    assert summary["report_html"] and Path(summary["report_html"]).is_file()
    assert Path(summary["report_html"]).is_relative_to(settings.reports)
    assert summary["outage"]["seconds"] and summary["outage"]["seconds"] > 0
    # The pair is in sync, object for object, in every library of the run's groups.
    libraries = d.pair_sync_state(settings, groups)
    assert libraries and all(libraries.values()), libraries
    run = api.request("GET", f"/api/v2/dags/icluster_resync/dagRuns/{run_id}")
    assert run["conf"]["groups"] == groups
    assert run["triggering_user_name"] == settings.user
    if settings.executor == "CeleryExecutor":
        tis = d.RunFollower(api, run_id).task_instances()
        executed = [ti for ti in tis if ti.get("state") == "success" and ti.get("hostname")]
        assert executed
        worker_log = (settings.component_logs / "celery-worker.log").read_text()
        assert "execute_workload" in worker_log, worker_log[-2000:]
        # the DAG file's modules were imported before the worker's pool forked
        assert "preloaded for the task processes: " in worker_log, worker_log[-2000:]
        assert "ibmi_resync.plan" in worker_log.split("preloaded for the task processes: ")[1]

    # The triggerer built its Execution API before the run's first wait (triggerer.py).
    triggerer_log = (settings.component_logs / "triggerer.log").read_text()
    assert "Execution API built for the triggers in" in triggerer_log, triggerer_log[-2000:]

    # Deferred tasks ended in the triggerer, without a worker (trigger_walk.py): after each
    # wait the trigger sent the next commands itself (DMMRKPOS, the saves, DMSTRSC) and
    # checked the job logs.
    walked = {
        next(part[len("task_id=") :] for part in path.parts if part.startswith("task_id="))
        for path in settings.logs.glob("dag_id=icluster_resync/**/*.log.trigger.*.log")
        if ENDED_HERE in path.read_text(errors="replace")
    }
    # (A wait its task's first poll already finds over is not deferred: which ones depends
    # on the machine's speed, so the run is asked for several of them, not a fixed list.)
    can_end_there = {
        "end_applications",
        "outage.mark_and_save",
        "save_security_data",
        "restore_profiles",
        "restore.restore_group",
        "restore_authorities",
        "start_cluster",
        "check.sync_check",
        "start_system_group",
        "replicate.replicate_group",
    }
    assert len(walked) >= 3 and walked <= can_end_there, walked
    # A group's mark always waits for its completion message, then the trigger saves.
    assert "outage.mark_and_save" in walked, walked

    memory = d.memory_pss_mb(settings)
    assert set(memory) == set(settings.components)
    print(f"{settings.executor}: healthy after {healthy_after:.1f} s; PSS MB {memory}")

    stopped = d.stop(settings)
    assert set(stopped) == set(settings.components)
    assert d.running(settings) == {}
    assert not (settings.sim_state / "sim.pid").exists()


def test_an_unreachable_metadata_server_is_named(tmp_path: Path) -> None:
    settings = d.Settings.from_env(
        environ={},
        state=tmp_path,
        metadata_url=f"postgresql+psycopg2://postgres@127.0.0.2:{_free_port()}/nothing_here",
    )
    with pytest.raises(d.DeploymentError, match=r"PostgreSQL is not usable at 127\.0\.0\.2:\d+"):
        d.ensure_metadata_database(settings)
