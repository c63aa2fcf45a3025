"""SSH exec with PASE ``system`` semantics, through paramiko as Airflow's SSHHook uses it."""

from __future__ import annotations

import hashlib
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest

from ibmi_sim.testing import SimPair, wait_for

pytestmark = pytest.mark.integration


def test_password_and_public_key_authentication(sim_pair: SimPair) -> None:
    for use_key in (False, True):
        client = sim_pair.connect("backup", use_key=use_key)
        try:
            _, stdout, _ = client.exec_command("echo ok")
            assert stdout.read() == b"ok\n"
            assert stdout.channel.recv_exit_status() == 0
        finally:
            client.close()


def test_wrong_password_is_refused(sim_pair: SimPair) -> None:
    node = sim_pair.node("primary")
    client = paramiko.SSHClient()
    client.load_host_keys(sim_pair.info["known_hosts_path"])
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(
            node["host"],
            node["ssh_port"],
            username=node["user"],
            password="wrong",
            look_for_keys=False,
            allow_agent=False,
        )
    client.close()


def test_host_key_is_persisted_and_checked(sim_pair: SimPair) -> None:
    """The product keeps host-key checking on: an unknown key must be refused."""
    node = sim_pair.node("primary")
    assert node["known_hosts_line"].endswith(node["host_key"])
    keys = sim_pair.state_dir / "keys"
    assert (keys / "primary_host_key").exists() and (keys / "backup_host_key").exists()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException):
        client.connect(
            node["host"],
            node["ssh_port"],
            username=node["user"],
            password=node["password"],
            look_for_keys=False,
            allow_agent=False,
        )
    client.close()


def test_crtsavf_twice_gives_cpf5813_then_cpf7302(sim_pair: SimPair) -> None:
    first = sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/TWICE)")
    assert (first.rc, first.stdout, first.stderr) == (
        0,
        "CPC7301: File TWICE created in library SAVFLIB.\n",
        "",
    )
    again = sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/TWICE)")
    assert (again.rc, again.stdout, again.stderr) == (
        255,
        "",
        "CPF5813: File TWICE in library SAVFLIB already exists.\n"
        "CPF7302: File TWICE not created in library SAVFLIB.\n",
    )


def test_double_quotes_let_the_shell_expand_dollar(sim_pair: SimPair) -> None:
    """Proof that a real shell sits in front of ``system`` (ibmi.md §2.4 item 5)."""
    assert sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/EXPAND)").rc == 0
    save = "SAVLIB LIB($APP) DEV(*SAVF) SAVF(SAVFLIB/EXPAND) CLEAR(*ALL)"
    expanded = sim_pair.run("primary", f'APP=APPLIB2; system "{save}"')
    assert (expanded.rc, expanded.stdout, expanded.stderr) == (
        0,
        "CPC3722: 12 objects saved from library APPLIB2.\n",
        "",
    )
    literal = sim_pair.run("primary", f"APP=APPLIB2; system '{save}'")
    assert (literal.rc, literal.stdout, literal.stderr) == (
        255,
        "",
        "CPF3781: Library $APP not found.\n",
    )


def test_unset_variable_leaves_an_empty_parameter(sim_pair: SimPair) -> None:
    done = sim_pair.run("primary", 'system "SAVLIB LIB($NO_SUCH_VAR) DEV(*SAVF)"')
    assert (done.rc, done.stdout, done.stderr) == (
        255,
        "",
        "CPD0072: Parameter LIB required.\nCPF0001: Error found on SAVLIB command.\n",
    )


def test_unquoted_parentheses_are_a_shell_syntax_error(sim_pair: SimPair) -> None:
    done = sim_pair.run("primary", "system CRTLIB LIB(X)")
    assert done.rc == 2
    assert done.stdout == ""
    assert "Syntax error" in done.stderr


def test_cl_syntax_error_is_diagnostic_then_cpf0001(sim_pair: SimPair) -> None:
    done = sim_pair.run("primary", 'system "CRTSAVF FILE(SAVFLIB/X) TEXT(\'abc)"')
    assert (done.rc, done.stdout) == (255, "")
    lines = done.stderr.splitlines()
    assert lines[0].startswith("CPD0013: ")
    assert lines[1] == "CPF0001: Error found on CRTSAVF command."


def test_system_without_command_prints_usage(sim_pair: SimPair) -> None:
    done = sim_pair.run("primary", "system")
    assert done.rc == 1
    assert done.stderr.startswith("Usage: system")


def test_options_n_and_q(sim_pair: SimPair) -> None:
    n = sim_pair.run("backup", 'system -n "CRTLIB LIB(OPTN)"')
    assert (n.rc, n.stdout) == (0, "Library OPTN created.\n")
    q = sim_pair.run("backup", 'system -q "CRTLIB LIB(OPTN)"')
    assert (q.rc, q.stdout, q.stderr) == (255, "", "")


def test_each_call_is_its_own_job(sim_pair: SimPair) -> None:
    for _ in range(2):
        assert sim_pair.system("backup", "CRTLIB LIB(JOBCHK)").rc in (0, 255)
    rows = sim_pair.query(
        "backup",
        "SELECT j.job_number, j.job_name, j.user_name, j.job_type, j.status, c.exit_status"
        " FROM command_log c JOIN jobs j ON j.qualified_name = c.job"
        " WHERE c.command = 'CRTLIB LIB(JOBCHK)' ORDER BY c.id",
    )
    assert len(rows) == 2
    assert rows[0][0] != rows[1][0]
    assert [r[1:5] for r in rows] == [("QP0ZSPWP", "SIMUSER", "BCI", "*OUTQ")] * 2
    assert [r[5] for r in rows] == [0, 255]


def test_sha256sum_of_a_qsys_path(sim_pair: SimPair) -> None:
    assert sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/SUMME)").rc == 0
    assert sim_pair.system("primary", "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/SUMME)").rc == 0
    with sim_pair.sftp("primary") as sftp, sftp.open("/QSYS.LIB/SAVFLIB.LIB/SUMME.FILE") as f:
        data = f.read()
    done = sim_pair.run("primary", "sha256sum /QSYS.LIB/SAVFLIB.LIB/SUMME.FILE")
    assert (done.rc, done.stderr) == (0, "")
    assert done.stdout == f"{hashlib.sha256(data).hexdigest()}  /QSYS.LIB/SAVFLIB.LIB/SUMME.FILE\n"
    missing = sim_pair.run("primary", "sha256sum /QSYS.LIB/SAVFLIB.LIB/NONE.FILE")
    assert missing.rc == 1


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_dropped_connection_hangs_up_the_shell(sim_pair: SimPair) -> None:
    client = sim_pair.connect("primary")
    _, stdout, _ = client.exec_command("echo $$; sleep 30")
    pid = int(stdout.readline())
    assert not _gone(pid)
    client.close()
    wait_for(lambda: _gone(pid), timeout=10)


def test_concurrent_sessions_each_get_their_own_job(sim_pair: SimPair) -> None:
    """Many SSH sessions at once (the product fans out per group): no lost or shared jobs."""
    sessions = 16

    def one(index: int) -> tuple[int, str]:
        client = sim_pair.connect("backup")
        try:
            _, stdout, _ = client.exec_command(f'system "CRTLIB LIB(PAR{index:03d})"')
            return stdout.channel.recv_exit_status(), stdout.read().decode()
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=sessions) as pool:
        results = list(pool.map(one, range(sessions)))
    assert results == [(0, f"CPC2102: Library PAR{i:03d} created.\n") for i in range(sessions)]
    jobs = sim_pair.query(
        "backup", "SELECT count(DISTINCT job) FROM command_log WHERE command LIKE 'CRTLIB LIB(PAR%'"
    )
    assert jobs == [(sessions,)]


def test_apostrophes_survive_shell_and_cl_quoting(sim_pair: SimPair) -> None:
    """Single-quoted for the shell (shlex.quote), apostrophes doubled for CL (ibmi.md §2.4)."""
    cl = "CRTSAVF FILE(SAVFLIB/QUOTED) TEXT('O''Brien''s $HOME (save)')"
    done = sim_pair.run("primary", f"system {shlex.quote(cl)}")
    assert (done.rc, done.stderr) == (0, "")
    text = sim_pair.query(
        "primary",
        "SELECT text_description FROM objects WHERE library = 'SAVFLIB' AND name = 'QUOTED'",
    )
    assert text == [("O'Brien's $HOME (save)",)]


def test_qsh_system_variant_writes_every_message_to_stderr(sim_pair: SimPair) -> None:
    """Qshell ``system``: ``ID:  text`` (two spaces) on stderr, even on success (ibmi.md §2.3)."""
    ok = sim_pair.run("backup", """qsh -c 'system "CRTLIB LIB(QSHLIB)"'""")
    assert (ok.rc, ok.stdout, ok.stderr) == (0, "", "CPC2102:  Library QSHLIB created.\n")
    failed = sim_pair.run("backup", """qsh -c 'system "CRTLIB LIB(QSHLIB)"'""")
    assert (failed.rc, failed.stdout, failed.stderr) == (
        1,
        "",
        "CPF2111:  Library QSHLIB already exists.\n",
    )
    assert sim_pair.run("backup", "qsh").rc == 2
