"""The start/stop commands, persistence across restarts, and the import boundary."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ibmi_sim.testing import SimPair, fast_test_config, start_pair, stop_pair, unique_tag

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_simulator_imports_neither_product_nor_airflow() -> None:
    """Its own CL parser must catch the product's mistakes, not share them (issue 3 item 1)."""
    for path in (ROOT / "ibmi_sim").rglob("*.py"):
        assert not _imports(path) & {"ibmi_resync", "airflow"}, path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ibmi_sim", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.integration
def test_up_refuses_a_second_instance_and_status_shows_connections(sim_pair: SimPair) -> None:
    state = str(sim_pair.state_dir)
    again = _cli("up", "--state", state)
    assert again.returncode == 1
    assert "already running" in again.stdout
    status = _cli("status", "--state", state)
    assert status.returncode == 0
    info = json.loads(status.stdout)
    assert info["version"] == 1
    assert set(info["nodes"]) == {"primary", "backup"}
    for node in info["nodes"].values():
        assert set(node) >= {
            "system_name",
            "role",
            "host",
            "ssh_port",
            "user",
            "password",
            "private_key_path",
            "host_key",
            "known_hosts_line",
            "database_url",
        }
    assert [info["nodes"][n]["role"] for n in ("primary", "backup")] == ["PRIMARY", "BACKUP"]


@pytest.mark.integration
def test_restart_keeps_host_keys_and_state_unless_reset(tmp_path: Path) -> None:
    config = fast_test_config(unique_tag("r"))
    pair = start_pair(tmp_path, config)
    try:
        host_key = pair.node("primary")["host_key"]
        assert pair.system("primary", "CRTLIB LIB(KEEPME)").rc == 0
        assert pair.system("primary", "ENDSBS TSTSBS2").rc == 0  # still ENDING at the stop
        queued = pair.system("primary", "SBMJOB CMD(CRTLIB LIB(NEVER)) JOB(Q) JOBQ(TSTJOBQ)")
        assert queued.rc == 0
        stop_pair(pair, drop_databases=False)
        config_file = tmp_path / "test-config.yaml"
        assert _cli("up", "--state", str(tmp_path), "--config", str(config_file)).returncode == 0
        pair = SimPair(json.loads((tmp_path / "connections.json").read_text()), tmp_path)
        assert pair.node("primary")["host_key"] == host_key
        assert pair.system("primary", "CRTLIB LIB(KEEPME)").stderr == (
            "CPF2111: Library KEEPME already exists.\n"
        )
        assert pair.query("primary", "SELECT status FROM subsystems WHERE name = 'TSTSBS2'") == [
            ("INACTIVE",)
        ]
        assert pair.query(
            "primary", "SELECT status, completion_status FROM jobs WHERE job_name = 'Q'"
        ) == [("*OUTQ", "*ABNORMAL")]
        pair.close()
        assert _cli("down", "--state", str(tmp_path)).returncode == 0
        pair = start_pair(tmp_path, config)  # --reset
        assert pair.system("primary", "CRTLIB LIB(KEEPME)").rc == 0
    finally:
        stop_pair(pair, drop_databases=True)
    assert not (tmp_path / "sim.pid").exists()
    assert not (tmp_path / "connections.json").exists()


@pytest.mark.integration
def test_bench_script_reports_every_figure(sim_pair: SimPair) -> None:
    from ibmi_sim.bench import run

    report = run(sim_pair.state_dir, sessions=3, calls_each=1, mib=1)
    assert set(report) == {
        "latency",
        "concurrency",
        "sftp_paramiko",
        "sftp_asyncssh",
        "sftp_openssh",
        "simulator_rss_mib",
    }
    assert report["concurrency"]["failures"] == 0
    assert report["sftp_asyncssh"]["put_mb_s"] > 0
    # setup-system.sh installs OpenSSH's client (the transfer benchmark needs it too)
    assert report["sftp_openssh"]["get_mb_s"] > 0
