"""The pair through Airflow's own SSHHook and SFTPHook, built from connections.json.

Why: the product runs its IBM i steps through these hooks; this checks that what the simulator
publishes (host key line, key file, password) works there with host-key checking on. The
simulator itself never imports Airflow; only this test does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibmi_sim.testing import SimPair

pytestmark = pytest.mark.integration

ssh_hooks = pytest.importorskip("airflow.providers.ssh.hooks.ssh")
sftp_hooks = pytest.importorskip("airflow.providers.sftp.hooks.sftp")


def _airflow_connection(node: dict[str, object], *, use_key: bool) -> str:
    extra: dict[str, object] = {"host_key": node["host_key"], "no_host_key_check": False}
    conn: dict[str, object] = {
        "conn_type": "ssh",
        "host": node["host"],
        "login": node["user"],
        "port": node["ssh_port"],
        "extra": extra,
    }
    if use_key:
        extra["key_file"] = node["private_key_path"]
    else:
        conn["password"] = node["password"]
    return json.dumps(conn)


@pytest.mark.parametrize("use_key", [False, True])
def test_sshhook_runs_cl_with_host_key_checking(
    sim_pair: SimPair, monkeypatch: pytest.MonkeyPatch, use_key: bool
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SIM_BACKUP", _airflow_connection(sim_pair.node("backup"), use_key=use_key)
    )
    hook = ssh_hooks.SSHHook(ssh_conn_id="sim_backup", cmd_timeout=30)
    savf = f"AFKEY{int(use_key)}"
    with hook.get_conn() as client:
        created = hook.exec_ssh_client_command(
            client, f"system 'CRTSAVF FILE(SAVFLIB/{savf})'", get_pty=False, environment=None
        )
        again = hook.exec_ssh_client_command(
            client, f"system 'CRTSAVF FILE(SAVFLIB/{savf})'", get_pty=False, environment=None
        )
    assert created == (0, f"CPC7301: File {savf} created in library SAVFLIB.\n".encode(), b"")
    assert again == (
        255,
        b"",
        f"CPF5813: File {savf} in library SAVFLIB already exists.\n"
        f"CPF7302: File {savf} not created in library SAVFLIB.\n".encode(),
    )


def test_sftphook_moves_a_save_file(
    sim_pair: SimPair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("primary", "backup"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_SIM_{key.upper()}",
            _airflow_connection(sim_pair.node(key), use_key=False),
        )
        assert sim_pair.system(key, "CRTSAVF FILE(SAVFLIB/AFMOVE)").rc == 0
    assert sim_pair.system("primary", "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/AFMOVE)").rc == 0
    local = tmp_path / "AFMOVE.FILE"
    path = "/QSYS.LIB/SAVFLIB.LIB/AFMOVE.FILE"
    sftp_hooks.SFTPHook(ssh_conn_id="sim_primary").retrieve_file(path, str(local))
    sftp_hooks.SFTPHook(ssh_conn_id="sim_backup").store_file(path, str(local))
    sums = [sim_pair.run(n, f"sha256sum {path}").stdout for n in ("primary", "backup")]
    assert sums[0] == sums[1] != ""
