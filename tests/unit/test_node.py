"""IbmiNode: how a CL command travels and how its answer is read, against scripted nodes."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ibmi_resync import sql
from ibmi_resync.cl import (
    build_crtsavf_command,
    build_endsbs_command,
    build_rstlib_command,
    build_savlib_command,
)
from ibmi_resync.messages import Outcome
from ibmi_resync.names import QualifiedName
from ibmi_resync.node import (
    ChannelLost,
    CommandFailed,
    DryRunRefusal,
    IbmiNode,
    RoleMismatch,
)
from ibmi_resync.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]
PROFILE = load_plan(ROOT / "config" / "demo-plan.yaml").site_profile
SAVF = QualifiedName("RSYNCSAVF", "ORDLIB")


class ScriptedShell:
    """Answers CL commands from a table keyed by command name, as PASE `system` would."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.answers = answers
        self.lines: list[str] = []

    def execute(self, line: str) -> tuple[int, str, str]:
        self.lines.append(line)
        argv = shlex.split(line)
        if argv[0] == "system":
            assert len(argv) == 2, f"the CL command must be one argument: {argv}"
            verb = argv[1].split()[0].split("/")[-1]
        else:
            verb = argv[0]
        return self.answers[verb]


class ScriptedDatabase:
    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        self.calls.append((text, tuple(params)))
        for marker, rows in self.rows.items():
            if marker in text:
                return rows
        return []


def _node(shell=None, database=None, *, dry_run: bool = False) -> IbmiNode:
    return IbmiNode(
        name="simbck",
        role="BACKUP",
        shell=shell or ScriptedShell({}),
        database=database or ScriptedDatabase({}),
        profile=PROFILE,
        dry_run=dry_run,
    )


def test_a_cl_command_travels_as_one_single_quoted_argument_and_is_journaled() -> None:
    shell = ScriptedShell({"SAVLIB": (0, "CPC3722: 12 objects saved from library ORDLIB.\n", "")})
    node = _node(shell)
    result, outcome = node.run(build_savlib_command("ORDLIB", SAVF))
    assert outcome is Outcome.OK
    assert result.messages[0].counts.saved == 12
    assert shell.lines == [
        "system 'QSYS/SAVLIB LIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/ORDLIB) TGTRLS(*CURRENT) "
        "UPDHST(*YES) SAVACT(*NO) DTACPR(*NO)'"
    ]
    assert [(s.node, s.channel, s.changes_node) for s in node.journal] == [("SIMBCK", "ssh", True)]


def test_an_escape_message_raises_with_node_command_and_message_id() -> None:
    stderr = (
        "CPF3756: File ORD001 not restored to ORDLIB.\n"
        "CPF3773: 11 objects restored. 1 not restored to ORDLIB.\n"
    )
    node = _node(ScriptedShell({"RSTLIB": (255, "", stderr)}))
    with pytest.raises(CommandFailed) as failure:
        node.run(build_rstlib_command("ORDLIB", SAVF))
    assert failure.value.outcome is Outcome.PARTIAL
    assert "SIMBCK" in str(failure.value)
    assert "CPF3773" in str(failure.value)
    assert "RSTLIB" in str(failure.value)


def test_a_channel_closed_without_exit_status_is_a_lost_connection_not_a_failure() -> None:
    """paramiko gives -1 when the channel closes before the exit status: retryable, and
    never classified as an IBM i answer."""
    node = _node(ScriptedShell({"RSTLIB": (-1, "", "")}))
    with pytest.raises(ChannelLost, match="SIMBCK: the SSH channel closed before") as lost:
        node.run(build_rstlib_command("ORDLIB", SAVF))
    assert not isinstance(lost.value, CommandFailed)
    assert "RSTLIB" in str(lost.value)


def test_a_full_restore_with_the_72_authority_escape_is_a_success() -> None:
    stderr = (
        "CPF3848: Object authority changed.\n"
        "CPF3773: 12 objects restored. 0 not restored to ORDLIB.\n"
    )
    node = _node(ScriptedShell({"RSTLIB": (255, "", stderr)}))
    _, outcome = node.run(build_rstlib_command("ORDLIB", SAVF))
    assert outcome.is_success


def test_already_done_is_accepted_only_when_the_caller_says_so() -> None:
    stderr = (
        "CPF5813: File ORDLIB in library RSYNCSAVF already exists.\n"
        "CPF7302: File ORDLIB not created in library RSYNCSAVF.\n"
    )
    node = _node(ScriptedShell({"CRTSAVF": (255, "", stderr)}))
    with pytest.raises(CommandFailed):
        node.run(build_crtsavf_command(SAVF))
    _, outcome = node.run(build_crtsavf_command(SAVF), accept={Outcome.OK, Outcome.ALREADY_DONE})
    assert outcome is Outcome.ALREADY_DONE


def test_a_dry_run_refuses_changing_commands_before_sending_them() -> None:
    shell = ScriptedShell({"ENDSBS": (0, "CPF0943: Ending of subsystem APPSBS in progress.\n", "")})
    node = _node(shell, dry_run=True)
    with pytest.raises(DryRunRefusal, match="ENDSBS"):
        node.run(build_endsbs_command("APPSBS"))
    assert shell.lines == []
    assert node.journal == []


def test_submit_returns_the_qualified_job_name_from_cpc1221() -> None:
    answer = (
        0,
        "CPC1221: Job 123456/QSECOFR/SVABCDEFGH submitted to job queue QBATCH in library QGPL.\n",
        "",
    )
    shell = ScriptedShell({"SBMJOB": answer})
    node = _node(shell)
    job = node.submit(build_savlib_command("ORDLIB", SAVF), job="SVABCDEFGH")
    assert job == "123456/QSECOFR/SVABCDEFGH"
    assert shlex.split(shell.lines[0])[1].startswith("QSYS/SBMJOB CMD(QSYS/SAVLIB LIB(ORDLIB)")


def test_queries_bind_parameters_in_marker_order_and_upper_case_columns() -> None:
    database = ScriptedDatabase({"LIBRARY_INFO": [{"object_count": 42, "Library_Size": 9}]})
    node = _node(database=database)
    assert node.library_object_count("ordlib") == 42
    assert database.calls == [(sql.LIBRARY_SUMMARY.text, ("ORDLIB",))]
    assert node.journal[-1].channel == "odbc"


def test_confirm_role_accepts_the_planned_answer_and_refuses_any_other() -> None:
    good = _node(database=ScriptedDatabase({"LOCAL_NODE": [{"NODE": "SIMBCK", "ROLE": "BACKUP"}]}))
    good.confirm_role("SIMBCK", "BACKUP")
    wrong = _node(
        database=ScriptedDatabase({"LOCAL_NODE": [{"NODE": "SIMPRI", "ROLE": "PRIMARY"}]})
    )
    with pytest.raises(RoleMismatch, match="reached node SIMPRI with role PRIMARY"):
        wrong.confirm_role("SIMBCK", "BACKUP")
    empty = _node(database=ScriptedDatabase({}))
    with pytest.raises(RoleMismatch, match="0 rows"):
        empty.confirm_role("SIMBCK", "BACKUP")


def test_checksum_reads_a_64_hex_digest_and_fails_loudly_otherwise() -> None:
    digest = "a" * 64
    path = SAVF.save_file_path()
    node = _node(ScriptedShell({"sha256sum": (0, f"{digest}  {path}\n", "")}))
    assert node.checksum(SAVF) == digest
    broken = _node(ScriptedShell({"sha256sum": (1, "", "sha256sum: not found\n")}))
    with pytest.raises(RuntimeError, match="not found"):
        broken.checksum(SAVF)


def test_site_profile_ids_classify_event_log_messages() -> None:
    catalog = PROFILE.message_catalog()
    assert catalog["SIM1001"].outcome is Outcome.OK
    assert catalog["SIM1002"].outcome is Outcome.FAILED
