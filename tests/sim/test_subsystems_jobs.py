"""Subsystems end asynchronously; SBMJOB runs batch jobs with a status and a job log."""

from __future__ import annotations

import re

import pytest

from ibmi_sim.testing import SimPair, wait_for

pytestmark = pytest.mark.integration

# The regex IBM's Ansible collection uses on CPC1221 (ibmi.md §7.1).
JOB_RE = re.compile(r"\d{6}/[A-Za-z0-9#_]{1,10}/[A-Za-z0-9#_]{1,10}")


def _status(pair: SimPair, node: str, sbs: str) -> str:
    return str(pair.query(node, "SELECT status FROM subsystems WHERE name = %s", sbs)[0][0])


def test_endsbs_is_asynchronous_then_cpf1054(sim_pair: SimPair) -> None:
    done = sim_pair.system("primary", "ENDSBS SBS(TSTSBS1) OPTION(*IMMED)")
    assert (done.rc, done.stdout, done.stderr) == (
        0,
        "CPF0943: Ending of subsystem TSTSBS1 in progress.\n",
        "",
    )
    assert _status(sim_pair, "primary", "TSTSBS1") == "ENDING"
    wait_for(lambda: _status(sim_pair, "primary", "TSTSBS1") == "INACTIVE", timeout=5)
    again = sim_pair.system("primary", "ENDSBS SBS(TSTSBS1) OPTION(*IMMED)")
    assert (again.rc, again.stdout, again.stderr) == (
        255,
        "",
        "CPF1054: No subsystem TSTSBS1 active.\n",
    )
    started = sim_pair.system("primary", "STRSBS SBSD(QGPL/TSTSBS1)")
    assert (started.rc, started.stdout) == (
        0,
        "CPF0902: Subsystem TSTSBS1 in library QGPL being started.\n",
    )
    assert _status(sim_pair, "primary", "TSTSBS1") == "ACTIVE"
    active = sim_pair.system("primary", "STRSBS SBSD(QGPL/TSTSBS1)")
    assert (active.rc, active.stderr) == (255, "CPF1010: Subsystem name TSTSBS1 active.\n")


def test_strsbs_while_ending_and_unknown_subsystem(sim_pair: SimPair) -> None:
    assert sim_pair.system("backup", "ENDSBS TSTSBS2").rc == 0  # *CNTRLD: the longer end
    assert sim_pair.system("backup", "STRSBS SBSD(QGPL/TSTSBS2)").stderr == (
        "CPF1010: Subsystem name TSTSBS2 active.\n"
    )
    assert sim_pair.system("backup", "ENDSBS NOSUCHSBS").stderr == (
        "CPF1054: No subsystem NOSUCHSBS active.\n"
    )
    assert sim_pair.system("backup", "STRSBS SBSD(NOLIB/X)").stderr == (
        "CPF1080: Library NOLIB not found.\n"
    )


def _job(pair: SimPair, node: str, qualified: str) -> tuple[str, str | None]:
    row = pair.query(
        node, "SELECT status, completion_status FROM jobs WHERE qualified_name = %s", qualified
    )[0]
    return row[0], row[1]


def _job_log(pair: SimPair, node: str, qualified: str) -> list[tuple[str | None, str, str]]:
    return pair.query(
        node,
        "SELECT l.message_id, l.message_type, l.message_text FROM job_log l"
        " JOIN jobs j USING (job_number) WHERE j.qualified_name = %s ORDER BY ordinal_position",
        qualified,
    )


def test_sbmjob_returns_job_name_and_job_finishes_later(sim_pair: SimPair) -> None:
    assert sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/BATCH)").rc == 0
    done = sim_pair.system(
        "primary",
        "SBMJOB CMD(SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/BATCH)) JOB(SAVAPP3)",
    )
    assert done.rc == 0
    match = JOB_RE.search(done.stdout)
    assert match is not None
    job = match.group(0)
    assert job.endswith("/SIMUSER/SAVAPP3")
    assert done.stdout == f"CPC1221: Job {job} submitted to job queue QBATCH in library QGPL.\n"
    wait_for(lambda: _job(sim_pair, "primary", job)[0] == "*OUTQ", timeout=10)
    assert _job(sim_pair, "primary", job) == ("*OUTQ", "*NORMAL")
    log = _job_log(sim_pair, "primary", job)
    assert log[0] == (None, "REQUEST", "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/BATCH)")
    assert log[1] == ("CPC3722", "COMPLETION", "8 objects saved from library APPLIB3.")
    assert log[2][0] == "CPF1241"
    times = sim_pair.query(
        "primary",
        "SELECT submitted_at <= started_at AND started_at <= ended_at FROM jobs"
        " WHERE qualified_name = %s",
        job,
    )
    assert times == [(True,)]


def test_sbmjob_waits_on_an_inactive_job_queue(sim_pair: SimPair) -> None:
    done = sim_pair.system("backup", "SBMJOB CMD(CRTLIB LIB(QUEUED)) JOB(QJOB) JOBQ(QGPL/TSTJOBQ)")
    job = JOB_RE.search(done.stdout)
    assert job is not None
    qualified = job.group(0)
    assert _job(sim_pair, "backup", qualified) == ("*JOBQ", None)
    assert sim_pair.system("backup", "STRSBS SBSD(QGPL/TSTJOBQ)").rc == 0
    wait_for(lambda: _job(sim_pair, "backup", qualified)[0] == "*OUTQ", timeout=10)
    assert [m[0] for m in _job_log(sim_pair, "backup", qualified)] == [None, "CPC2102", "CPF1241"]


def test_failing_batch_job_ends_abnormally_with_its_escape_logged(sim_pair: SimPair) -> None:
    done = sim_pair.system("primary", "SBMJOB CMD(CLRLIB LIB(NOSUCHLIB)) JOB(BADJOB)")
    job = JOB_RE.search(done.stdout)
    assert job is not None
    qualified = job.group(0)
    wait_for(lambda: _job(sim_pair, "primary", qualified)[0] == "*OUTQ", timeout=10)
    assert _job(sim_pair, "primary", qualified) == ("*OUTQ", "*ABNORMAL")
    log = _job_log(sim_pair, "primary", qualified)
    assert log[1] == ("CPF2110", "ESCAPE", "Library NOSUCHLIB not found.")
    assert log[2][0] == "CPF1240"


def test_sbmjob_with_a_bad_inner_command_is_refused_at_submit(sim_pair: SimPair) -> None:
    done = sim_pair.system("primary", "SBMJOB CMD(SAVLIB LIB(X) FOO(1)) JOB(BAD)")
    assert (done.rc, done.stderr) == (
        255,
        "CPD0043: Keyword FOO not valid for this command.\n"
        "CPF0001: Error found on SBMJOB command.\n",
    )
