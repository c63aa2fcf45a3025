"""Executor: program steps run against scripted nodes, guards, attach-on-retry, checks."""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ibmi_resync import executor as executor_module
from ibmi_resync import sql
from ibmi_resync.executor import (
    TRIGGER_STEP_KINDS,
    Executor,
    PendingWait,
    RunState,
    StepFailed,
    checkpoint,
    earlier_answers,
    from_checkpoint,
    learned_answers,
    slice_digest,
    task_result,
    trigger_walks_on,
)
from ibmi_resync.node import IbmiNode
from ibmi_resync.plan import Plan, load_plan
from ibmi_resync.program import Phase, Step, resync_program
from ibmi_resync.tasks import RESYNC_TASKS, TASKS, steps_for_task

ROOT = Path(__file__).resolve().parents[2]
PLAN: Plan = load_plan(ROOT / "config" / "demo-plan.yaml")
PROFILE = PLAN.site_profile
CLOCK = "2026-11-25T01:00:00"

Answer = tuple[int, str, str]


class ScriptedNode:
    """A Shell and a Database whose answers the test scripts, recording what was sent."""

    def __init__(self) -> None:
        self.cl: dict[str, Callable[[str], Answer]] = {}
        self.sql: dict[str, Callable[[Sequence[Any]], list[dict[str, Any]]]] = {}
        self.sent: list[str] = []

    def execute(self, line: str) -> Answer:
        argv = shlex.split(line)
        command = argv[1] if argv[0] == "system" else line
        self.sent.append(command)
        verb = command.split()[0].split("/")[-1]
        return self.cl[verb](command)

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        for key, answer in self.sql.items():
            if key in text:
                return answer(params)
        raise AssertionError(f"unscripted SQL: {text}")


def _nodes() -> tuple[dict[str, IbmiNode], ScriptedNode, ScriptedNode]:
    primary, backup = ScriptedNode(), ScriptedNode()
    for scripted in (primary, backup):
        scripted.sql["CLOCK (NOW)"] = lambda _p: [{"now": CLOCK}]
    nodes = {
        "PRIMARY": IbmiNode(
            name="SIMPRI", role="PRIMARY", shell=primary, database=primary, profile=PROFILE
        ),
        "BACKUP": IbmiNode(
            name="SIMBCK", role="BACKUP", shell=backup, database=backup, profile=PROFILE
        ),
    }
    return nodes, primary, backup


def _phase(phase: Phase, group: str | None = None) -> list[Step]:
    return [
        step
        for step in resync_program(PLAN)
        if step.phase == phase and (group is None or step.group in (group, None))
    ]


def ok(text: str) -> Callable[[str], Answer]:
    return lambda _command: (0, text, "")


def escape(text: str) -> Callable[[str], Answer]:
    return lambda _command: (255, "", text)


def _end_applications(primary: ScriptedNode, status: str) -> None:
    primary.sql["SUBSYSTEM_INFO"] = lambda _p: [{"STATUS": status, "CURRENT_ACTIVE_JOBS": 4}]
    primary.sql["ACTIVE_JOB_INFO"] = lambda _p: []
    primary.sql["OBJECT_LOCK_INFO"] = lambda _p: []
    primary.cl["ENDSBS"] = ok("CPF0943: Ending of subsystem APPSBS in progress.\n")


def test_end_applications_ends_waits_and_proves_no_user_is_left() -> None:
    nodes, primary, _ = _nodes()
    _end_applications(primary, "ACTIVE")
    steps = _phase(Phase.END_APPLICATIONS)
    executor = Executor(nodes)
    pending = executor.run(steps)
    assert isinstance(pending, PendingWait)
    assert primary.sent == ["QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD) DELAY(120)"]
    assert pending.params == ["APPLIB", "APPSBS"]
    assert pending.condition == {"kind": "subsystem_inactive"}
    executor.resume(steps, pending.index, {"status": "done", "seen": "STATUS=INACTIVE"})
    assert executor.run(steps, pending.index + 1) is None
    assert primary.sent == ["QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD) DELAY(120)"]
    results = [(entry["kind"], entry["result"]) for entry in executor.state.log]
    assert ("CL", "skipped") in results  # the *IMMED end was not needed


def test_a_controlled_end_that_times_out_is_followed_by_an_immediate_end() -> None:
    nodes, primary, _ = _nodes()
    _end_applications(primary, "ACTIVE")
    steps = _phase(Phase.END_APPLICATIONS)
    executor = Executor(nodes)
    pending = executor.run(steps)
    assert pending is not None
    executor.resume(steps, pending.index, {"status": "timeout", "seen": "STATUS=ENDING"})
    executor.run(steps, pending.index + 1)
    assert primary.sent[-1] == "QSYS/ENDSBS SBS(APPSBS) OPTION(*IMMED)"


def test_an_ended_subsystem_is_not_ended_again_and_stray_jobs_stop_the_run() -> None:
    nodes, primary, _ = _nodes()
    _end_applications(primary, "INACTIVE")
    primary.sql["ACTIVE_JOB_INFO"] = lambda _p: [{"JOB_NAME": "123456/CLERK/QPADEV0001"}]
    steps = _phase(Phase.END_APPLICATIONS)
    executor = Executor(nodes)
    # The wait for INACTIVE is over at its first poll: no deferral, the walk goes on.
    with pytest.raises(StepFailed, match=r"1 user job\(s\) still active: 123456/CLERK/QPADEV0001"):
        executor.run(steps)
    assert primary.sent == []
    waits = [e for e in executor.state.log if e["kind"] == "WAIT"]
    assert waits and waits[0]["result"] == "done"


def test_mark_positions_waits_for_a_message_written_after_the_mark_started() -> None:
    nodes, primary, _ = _nodes()
    primary.sql["GROUP_STATUS"] = lambda _p: [
        {"GROUP_NAME": "ORDERS", "STATUS": "*ACTIVE", "CONTINUOUS_SYNC_CHECK": "N"}
    ]
    primary.cl["DMENDGRP"] = ok("")
    primary.cl["DMMRKPOS"] = ok("")
    steps = _phase(Phase.MARK_POSITIONS, "ORDERS")
    executor = Executor(nodes)
    first = executor.run(steps)
    assert first is not None and first.condition["kind"] == "status_is"
    assert primary.sent == ["ICLUSTER/DMENDGRP GROUP(ORDERS) OPTION(*CNTRLD) DELAY(120)"]
    executor.resume(steps, first.index, {"status": "done", "seen": "STATUS=*INACTIVE"})
    second = executor.run(steps, first.index + 1)
    assert primary.sent[-1] == "ICLUSTER/DMMRKPOS GROUP(ORDERS)"
    assert second is not None
    assert second.params == ["ORDERS", CLOCK]
    assert second.condition["since"] == CLOCK
    assert second.condition["success_ids"] == ["SIM1001"]
    details = {"message_id": "SIM1001", "message_text": "receiver R1 sequence 9"}
    executor.resume(steps, second.index, {"status": "done", "seen": "", "details": details})
    assert executor.run(steps, second.index + 1) is None
    assert executor.state.values["event:ORDERS:2"] == details


def test_a_failed_mark_names_node_phase_group_and_message() -> None:
    nodes, _primary, _ = _nodes()
    steps = _phase(Phase.MARK_POSITIONS, "ORDERS")
    wait_index = max(i for i, step in enumerate(steps) if step.kind == "WAIT")
    executor = Executor(nodes, RunState({"started:ORDERS:2": CLOCK}))
    with pytest.raises(StepFailed) as failure:
        executor.resume(steps, wait_index, {"status": "failed", "seen": "SIM1002: object locked"})
    text = str(failure.value)
    assert "SIMPRI" in text and "phase 2" in text and "group ORDERS" in text
    assert "SIM1002: object locked" in text


def _save_node(primary: ScriptedNode, saved: int, count: int = 12) -> list[str]:
    submitted: list[str] = []
    primary.sql["LIBRARY_INFO"] = lambda _p: [{"OBJECT_COUNT": count, "LIBRARY_SIZE": 1}]
    primary.cl["CRTSAVF"] = ok("")
    primary.cl["CLRSAVF"] = ok("")

    def sbmjob(command: str) -> Answer:
        job = command.split("JOB(")[1].split(")")[0]
        submitted.append(job)
        return 0, f"CPC1221: Job 100001/QSECOFR/{job} submitted to job queue QBATCH.\n", ""

    primary.cl["SBMJOB"] = sbmjob
    primary.sql["ACTIVE_JOB_INFO"] = lambda _p: []
    primary.sql["JOBLOG_INFO"] = lambda _p: [
        {
            "ORDINAL_POSITION": 1,
            "MESSAGE_ID": "CPC3722",
            "MESSAGE_TYPE": "COMPLETION",
            "SEVERITY": 0,
            "MESSAGE_TEXT": f"{saved} objects saved from library SECLIB.",
        }
    ]
    return submitted


def test_save_submits_a_batch_job_attaches_on_retry_and_verifies_the_count() -> None:
    nodes, primary, _ = _nodes()
    submitted = _save_node(primary, saved=12)
    steps = [s for s in _phase(Phase.SAVE, "SYSTEM") if s.subject == "SECLIB"]
    executor = Executor(nodes, RunState({"count:SECLIB": 12}))
    pending = executor.run(steps)
    assert pending is not None
    assert primary.sent[0] == "QSYS/CRTSAVF FILE(RSYNCSAVF/SECLIB) TEXT('iCluster resync')"
    assert not any(cmd.startswith("QSYS/CLRSAVF") for cmd in primary.sent)
    assert pending.params == [f"100001/QSECOFR/{submitted[0]}"]
    # The worker dies here; the retried task starts the slice again with the saved state.
    retry = Executor(nodes, RunState.from_dict(executor.state.to_dict()))
    again = retry.run(steps)
    assert again is not None and len(submitted) == 1
    assert retry.state.log[-1]["result"] == "attached"
    retry.resume(steps, again.index, {"status": "done", "seen": "V_JOB_STATUS=*OUTQ"})
    assert retry.run(steps, again.index + 1) is None
    assert retry.state.values["saved:SECLIB"] == 12


def test_a_save_file_a_running_save_of_this_run_holds_is_not_cleared_again() -> None:
    nodes, primary, _ = _nodes()
    submitted = _save_node(primary, saved=12)
    primary.cl["CRTSAVF"] = escape(
        "CPF5813: File SECLIB in library RSYNCSAVF already exists.\n"
        "CPF7302: File SECLIB not created in library RSYNCSAVF.\n"
    )
    steps = [s for s in _phase(Phase.SAVE, "SYSTEM") if s.subject == "SECLIB"]
    job = next(step.job for step in steps if step.kind == "SBMJOB")
    running = [{"JOB_NAME": f"100001/QSECOFR/{job}"}]
    primary.sql["ACTIVE_JOB_INFO"] = lambda _p: running
    # A retried task (or a trigger started again) with nothing of the first attempt's state
    retry = Executor(nodes, RunState({"count:SECLIB": 12}))
    pending = retry.run(steps)
    assert pending is not None and submitted == []
    assert not any(cmd.startswith("QSYS/CLRSAVF") for cmd in primary.sent)
    clear = next(e for e in retry.state.log if e["text"].startswith("QSYS/CLRSAVF"))
    assert clear["result"] == "skipped" and job in clear["detail"]
    assert retry.state.log[-1]["result"] == "attached"  # the SBMJOB, to the running job
    # once that job has ended, a save file that exists is cleared before it is saved again
    primary.sql["ACTIVE_JOB_INFO"] = lambda _p: []
    again = Executor(nodes, RunState({"count:SECLIB": 12}))
    assert again.run(steps) is not None
    assert [c.split()[0] for c in primary.sent[-3:]] == [
        "QSYS/CRTSAVF",
        "QSYS/CLRSAVF",
        "QSYS/SBMJOB",
    ]
    assert len(submitted) == 1


def test_a_save_that_missed_objects_stops_with_the_counts() -> None:
    nodes, primary, _ = _nodes()
    _save_node(primary, saved=11)
    steps = [s for s in _phase(Phase.SAVE, "SYSTEM") if s.subject == "SECLIB"]
    executor = Executor(nodes, RunState({"count:SECLIB": 12}))
    pending = executor.run(steps)
    assert pending is not None
    executor.resume(steps, pending.index, {"status": "done", "seen": "*OUTQ"})
    with pytest.raises(StepFailed, match="11 objects saved from SECLIB, the library holds 12"):
        executor.run(steps, pending.index + 1)


def test_a_partial_save_names_the_locked_objects_and_their_jobs() -> None:
    nodes, primary, _ = _nodes()
    _save_node(primary, saved=10)
    primary.sql["JOBLOG_INFO"] = lambda _p: [
        {
            "ORDINAL_POSITION": 1,
            "MESSAGE_ID": "CPF3771",
            "MESSAGE_TYPE": "ESCAPE",
            "SEVERITY": 40,
            "MESSAGE_TEXT": "10 objects saved from SECLIB. 2 not saved.",
        }
    ]
    primary.sql["OBJECT_LOCK_INFO"] = lambda p: [
        {"SYSTEM_OBJECT_NAME": "SEC001", "OBJECT_TYPE": "*FILE", "JOB_NAME": "1/APPUSER/A"},
        {"SYSTEM_OBJECT_NAME": "SEC001", "OBJECT_TYPE": "*FILE", "JOB_NAME": "2/APPUSER/B"},
        {"SYSTEM_OBJECT_NAME": "SEC007", "OBJECT_TYPE": "*FILE", "JOB_NAME": "1/APPUSER/A"},
    ]
    steps = [s for s in _phase(Phase.SAVE, "SYSTEM") if s.subject == "SECLIB"]
    executor = Executor(nodes, RunState({"count:SECLIB": 12}))
    pending = executor.run(steps)
    assert pending is not None
    executor.resume(steps, pending.index, {"status": "done", "seen": "*OUTQ"})
    with pytest.raises(StepFailed) as failed:
        executor.run(steps, pending.index + 1)
    assert "10 saved, 2 not saved" in str(failed.value)
    assert "locked now: SEC001 *FILE (1/APPUSER/A, 2/APPUSER/B), SEC007 *FILE (1/APPUSER/A)" in (
        str(failed.value)
    )


def test_an_existing_save_file_is_cleared_before_it_is_reused() -> None:
    nodes, primary, _ = _nodes()
    _save_node(primary, saved=12)
    primary.cl["CRTSAVF"] = escape(
        "CPF5813: File SECLIB in library RSYNCSAVF already exists.\n"
        "CPF7302: File SECLIB not created in library RSYNCSAVF.\n"
    )
    steps = [s for s in _phase(Phase.SAVE, "SYSTEM") if s.subject == "SECLIB"]
    Executor(nodes, RunState({"count:SECLIB": 12})).run(steps)
    assert primary.sent[1] == "QSYS/CLRSAVF FILE(RSYNCSAVF/SECLIB)"


def test_nothing_is_cleared_when_the_backup_answers_with_another_role() -> None:
    nodes, _, backup = _nodes()
    backup.sql["LOCAL_NODE"] = lambda _p: [{"NODE": "SIMPRI", "ROLE": "PRIMARY"}]
    backup.cl["CLRLIB"] = ok("")
    steps = [s for s in _phase(Phase.CLEAR) if s.kind != "APPROVAL"]
    with pytest.raises(StepFailed, match="answered NODE=SIMPRI ROLE=PRIMARY"):
        Executor(nodes).run(steps)
    assert backup.sent == []


def test_clear_skips_libraries_the_backup_does_not_have() -> None:
    nodes, _, backup = _nodes()
    backup.sql["LOCAL_NODE"] = lambda _p: [{"NODE": "SIMBCK", "ROLE": "BACKUP"}]
    backup.sql["OBJECT_STATISTICS"] = lambda p: [] if p[0] == "ORDHIST" else [{"OBJNAME": p[0]}]
    backup.cl["CLRLIB"] = ok("")
    steps = [s for s in _phase(Phase.CLEAR) if s.kind != "APPROVAL"]
    assert Executor(nodes).run(steps) is None
    assert backup.sent == [
        "QSYS/CLRLIB LIB(SECLIB)",
        "QSYS/CLRLIB LIB(ORDLIB)",
        "QSYS/CLRLIB LIB(BILLIB)",
    ]


def test_a_partial_restore_names_the_objects_not_restored() -> None:
    nodes, _, backup = _nodes()
    backup.cl["SBMJOB"] = ok("CPC1221: Job 100002/QSECOFR/RLXXXXXXXX submitted.\n")
    backup.sql["ACTIVE_JOB_INFO"] = lambda _p: []
    backup.sql["JOBLOG_INFO"] = lambda _p: [
        {
            "ORDINAL_POSITION": 1,
            "MESSAGE_ID": "CPF3756",
            "MESSAGE_TYPE": "DIAGNOSTIC",
            "SEVERITY": 40,
            "MESSAGE_TEXT": "File ORD001 not restored to ORDLIB.",
        },
        {
            "ORDINAL_POSITION": 2,
            "MESSAGE_ID": "CPF3773",
            "MESSAGE_TYPE": "ESCAPE",
            "SEVERITY": 40,
            "MESSAGE_TEXT": "11 objects restored. 1 not restored to ORDLIB.",
        },
    ]
    steps = [s for s in _phase(Phase.RESTORE, "ORDERS") if s.subject == "ORDLIB"]
    executor = Executor(nodes)
    pending = executor.run(steps)
    assert pending is not None
    executor.resume(steps, pending.index, {"status": "done", "seen": "*OUTQ"})
    with pytest.raises(StepFailed, match="restore of ORDLIB ended PARTIAL: ORD001"):
        executor.run(steps, pending.index + 1)


def _joblog(*rows: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        {
            "ORDINAL_POSITION": n,
            "MESSAGE_ID": mid,
            "MESSAGE_TYPE": kind,
            "SEVERITY": 40,
            "MESSAGE_TEXT": text,
        }
        for n, (mid, kind, text) in enumerate(rows, start=1)
    ]


def test_a_partial_restore_does_not_stop_the_groups_other_restores() -> None:
    """ORDLIB restores in part: ORDHIST (cleared in step 5 too) and the group's IFS still get
    their restore; the task fails at the end naming ORDLIB's object, and only ORDLIB."""
    nodes, _, backup = _nodes()
    backup.cl["SBMJOB"] = lambda command: (
        0,
        f"CPC1221: Job 100002/QSECOFR/{command.split('JOB(')[1].split(')')[0]} submitted.\n",
        "",
    )
    backup.sql["ACTIVE_JOB_INFO"] = lambda _p: []
    backup.sql["LOCAL_NODE"] = lambda _p: [{"NODE": "SIMBCK", "ROLE": "BACKUP"}]
    backup.sql["LIBRARY_INFO"] = lambda _p: [{"OBJECT_COUNT": 12, "LIBRARY_SIZE": 1}]
    ordlib = _joblog(
        ("CPF3756", "DIAGNOSTIC", "File ORD001 not restored to ORDLIB."),
        ("CPF3773", "ESCAPE", "11 objects restored. 1 not restored to ORDLIB."),
    )
    clean = _joblog(("CPC3703", "COMPLETION", "12 objects restored from ORDHIST to ORDHIST."))
    ifs = _joblog(("CPC370C", "COMPLETION", "4 objects restored."))
    steps = steps_for_task(resync_program(PLAN), "restore_group", "ORDERS")
    jobs = {s.subject: s.job for s in steps if s.kind == "SBMJOB"}
    logs = {jobs["ORDLIB"]: ordlib, jobs["ORDHIST"]: clean}
    backup.sql["JOBLOG_INFO"] = lambda p: next(
        (log for job, log in logs.items() if job in str(p[0])), ifs
    )
    executor = Executor(nodes, RunState({"saved:ORDLIB": 12, "saved:ORDHIST": 12}))
    index = 0
    with pytest.raises(StepFailed) as failed:
        while (pending := executor.run(steps, index)) is not None:
            executor.resume(steps, pending.index, {"status": "done", "seen": "*OUTQ"})
            index = pending.index + 1
    submitted = [c for c in backup.sent if c.startswith("QSYS/SBMJOB")]
    assert len(submitted) == 3  # ORDLIB, ORDHIST and the IFS paths: every restore attempted
    message = str(failed.value)
    assert "group ORDERS" in message and "ORD001" in message and "1 restore(s)" in message
    assert "ORDHIST" not in message.split(":", 1)[1]
    results = {(e["subject"], e["result"]) for e in executor.state.log if e["kind"] == "SQL"}
    assert ("ORDLIB", "failed") in results and ("ORDLIB", "skipped") in results
    assert ("ORDHIST", "checked") in results


def _restore_after_lost_worker(
    status: str, joblog: list[dict[str, Any]]
) -> tuple[Executor, ScriptedNode, list[Step]]:
    """BILLIB's restore slice, retried after a worker was lost: JOB_INFO shows the earlier
    attempt's job in `status`, with `joblog` as its log."""
    nodes, _, backup = _nodes()
    nodes["BACKUP"].job_user = "SIMUSER"
    steps = steps_for_task(resync_program(PLAN), "restore_group", "BILLING")
    job = next(s.job for s in steps if s.kind == "SBMJOB")
    backup.cl["SBMJOB"] = ok(f"CPC1221: Job 100009/SIMUSER/{job} submitted.\n")
    backup.sql["LOCAL_NODE"] = lambda _p: [{"NODE": "SIMBCK", "ROLE": "BACKUP"}]
    backup.sql["ACTIVE_JOB_INFO"] = lambda _p: []
    backup.sql["QSYS2.JOB_INFO"] = lambda p: [
        {"JOB_NAME": f"100003/SIMUSER/{job}", "JOB_STATUS": status, "JOB_TYPE": "BCH"}
    ]
    backup.sql["JOBLOG_INFO"] = lambda _p: joblog
    return Executor(nodes), backup, steps


def test_a_retry_attaches_to_a_restore_that_ended_clean_instead_of_restoring_again() -> None:
    clean = _joblog(("CPC3703", "COMPLETION", "12 objects restored from BILLIB to BILLIB."))
    executor, backup, steps = _restore_after_lost_worker("*OUTQ", clean)
    pending = executor.run(steps)
    assert pending is not None and pending.params == [f"100003/SIMUSER/{steps[1].job}"]
    assert not [c for c in backup.sent if c.startswith("QSYS/SBMJOB")]
    attached = [e for e in executor.state.log if e["result"] == "attached"]
    assert "ended OK" in attached[0]["detail"]


def test_a_retry_runs_again_a_restore_that_ended_partial() -> None:
    partial = _joblog(("CPF3773", "ESCAPE", "11 objects restored. 1 not restored to BILLIB."))
    executor, backup, steps = _restore_after_lost_worker("*OUTQ", partial)
    pending = executor.run(steps)
    assert pending is not None and pending.params == [f"100009/SIMUSER/{steps[1].job}"]
    assert len([c for c in backup.sent if c.startswith("QSYS/SBMJOB")]) == 1


def test_a_retry_never_submits_a_second_job_while_the_first_waits_on_its_job_queue() -> None:
    executor, backup, steps = _restore_after_lost_worker("*JOBQ", [])
    pending = executor.run(steps)
    assert pending is not None and pending.params == [f"100003/SIMUSER/{steps[1].job}"]
    assert not [c for c in backup.sent if c.startswith("QSYS/SBMJOB")]


def test_the_node_clock_statement_is_in_the_catalog() -> None:
    assert sql.CATALOG["node_clock"].columns == ("NOW",)


def _transfer_steps() -> list[Step]:
    return [s for s in _phase(Phase.TRANSFER, "ORDERS") if s.subject == "ORDLIB"]


def test_transfer_moves_then_compares_both_checksums() -> None:
    nodes, primary, backup = _nodes()
    backup.cl["CRTSAVF"] = ok("")
    moves: list[tuple[str, str, str]] = []

    def mover(source: str, target: str, path: str) -> int:
        moves.append((source, target, path))
        return 4096

    digest = "ab" * 32
    primary.cl["sha256sum"] = ok(f"{digest}  /QSYS.LIB/RSYNCSAVF.LIB/ORDLIB.FILE\n")
    backup.cl["sha256sum"] = ok(f"{digest}  /QSYS.LIB/RSYNCSAVF.LIB/ORDLIB.FILE\n")
    executor = Executor(nodes, mover=mover)
    assert executor.run(_transfer_steps()) is None
    assert moves == [("PRIMARY", "BACKUP", "/QSYS.LIB/RSYNCSAVF.LIB/ORDLIB.FILE")]
    assert backup.sent[0] == "QSYS/CRTSAVF FILE(RSYNCSAVF/ORDLIB) TEXT('iCluster resync')"
    assert primary.sent == ["sha256sum /QSYS.LIB/RSYNCSAVF.LIB/ORDLIB.FILE"]


def test_a_checksum_mismatch_fails_naming_both_digests() -> None:
    nodes, primary, backup = _nodes()
    backup.cl["CRTSAVF"] = ok("")
    primary.cl["sha256sum"] = ok("aa" * 32 + "  x\n")
    backup.cl["sha256sum"] = ok("bb" * 32 + "  x\n")
    executor = Executor(nodes, mover=lambda source, target, path: 1)
    with pytest.raises(StepFailed, match=r"checksum of \S+ORDLIB.FILE differs") as failure:
        executor.run(_transfer_steps())
    assert "aa" * 32 in str(failure.value) and "bb" * 32 in str(failure.value)


def test_a_checksum_mismatch_moves_the_file_again_and_recovers() -> None:
    nodes, primary, backup = _nodes()
    backup.cl["CRTSAVF"] = ok("")
    good = "aa" * 32
    answers = iter(["cc" * 32, good])  # the first copy arrived damaged, the second is right
    primary.cl["sha256sum"] = ok(f"{good}  x\n")
    backup.cl["sha256sum"] = lambda _command: (0, f"{next(answers)}  x\n", "")
    moves: list[str] = []
    executor = Executor(nodes, mover=lambda source, target, path: moves.append(path) or 1)
    assert executor.run(_transfer_steps()) is None
    assert len(moves) == 2  # the transfer, then one new transfer after the mismatch
    assert executor.state.log[-1]["result"] == "checked"


def test_a_failed_wait_names_its_node_without_an_open_connection() -> None:
    steps = [s for s in _phase(Phase.MARK_POSITIONS, "ORDERS") if s.kind == "WAIT"]
    executor = Executor({}, names={"PRIMARY": "SIMPRI", "BACKUP": "SIMBCK"})
    with pytest.raises(StepFailed, match=r"^SIMPRI, .*failed: SIM1002 for ORDERS"):
        executor.resume(steps, len(steps) - 1, {"status": "failed", "seen": "SIM1002 for ORDERS"})


# ---- which earlier answers a task reads ---------------------------------------------------


def test_earlier_answers_names_what_each_task_reads_from_the_tasks_before_it() -> None:
    program = resync_program(PLAN)
    read = {
        (task, group): earlier_answers(steps_for_task(program, task, group))
        for task in RESYNC_TASKS
        for group in (PLAN.group_names if TASKS[task].per_group else [None])
    }
    assert read[("mark_and_save", "ORDERS")] == {"count:ORDLIB", "count:ORDHIST"}
    assert read[("restore_group", "ORDERS")] == {"saved:ORDLIB", "saved:ORDHIST"}
    assert read[("replicate_group", "BILLING")] == {"event:BILLING:2", "continuous:BILLING"}
    assert read[("save_security_data", None)] == set()  # SAVSECDTA has no library count
    needing = {task for (task, _group), keys in read.items() if keys}
    assert needing == {"mark_and_save", "restore_group", "replicate_group"}
    # the one-phase slices the rehearsal and the network sync run
    assert earlier_answers(steps_for_task(program, "start_replication", "BILLING")) == {
        "event:BILLING:2"
    }
    assert earlier_answers(steps_for_task(program, "final_sync_check", "BILLING")) == {
        "continuous:BILLING"
    }


# The prefixes of values a task both writes and reads itself (an earlier step of its own
# slice, or the same step on a retry): never an earlier task's answer.
TASK_LOCAL = {"outcome", "timed_out", "found", "job", "started", "checksum"}


def test_every_value_the_executor_reads_is_local_or_listed_in_earlier_answers() -> None:
    """A new check or guard that reads another task's answer must be added to
    earlier_answers, or tasks would run it without that answer (the checks skip a comparison
    whose value is missing)."""
    source = Path(executor_module.__file__).read_text()
    read = set(re.findall(r"values\.get\(f[\"']([a-z_]+):", source))
    for line in source.splitlines():
        if re.match(r"\s*[\w.]*values\[.*\]\s*=\s", line):
            continue  # an assignment: a write, not a read
        read.update(re.findall(r"values\[f[\"']([a-z_]+):", line))
    listed = set(re.findall(r'keys\.add\(f"([a-z_]+):', inspect.getsource(earlier_answers)))
    assert listed == {"continuous", "event", "count", "saved"}
    assert read - TASK_LOCAL == listed


def test_every_earlier_answer_the_executor_writes_is_listed_in_learned_answers() -> None:
    """A task reads only the upstream tasks whose steps learn what it needs: a new place that
    writes one of those answers must be added to learned_answers, or no task would read it."""
    source = Path(executor_module.__file__).read_text()
    written = {
        prefix
        for line in source.splitlines()
        if re.match(r"\s*[\w.]*values\[.*\]\s*=\s", line)
        for prefix in re.findall(r"values\[f[\"']([a-z_]+):", line)
    }
    learned = set(re.findall(r'keys\.add\(f"([a-z_]+):', inspect.getsource(learned_answers)))
    # restored and backup_count only the run report reads (ibmi_resync.report), no task
    assert written - TASK_LOCAL - {"restored", "backup_count"} == learned
    assert learned == {"continuous", "event", "count", "saved"}
    # and each is learned by the steps that write it, in the demo plan's program
    program = resync_program(PLAN)
    assert {k.split(":")[0] for k in learned_answers(program)} == learned
    assert learned_answers(steps_for_task(program, "mark_and_save", "ORDERS")) == {
        "event:ORDERS:2",
        "continuous:ORDERS",
        "saved:ORDLIB",
        "saved:ORDHIST",
        "event:ORDERS:3",  # its waits for the save jobs: an event no task reads
    }
    assert learned_answers(steps_for_task(program, "mark_positions", "BILLING")) == {
        "event:BILLING:2",
        "continuous:BILLING",
    }


def test_a_trigger_walks_on_after_every_wait_of_the_resync() -> None:
    program = resync_program(PLAN)
    for task, spec in TASKS.items():
        steps = steps_for_task(program, task, "ORDERS" if spec.per_group else None)
        waits = [index for index, step in enumerate(steps) if step.kind == "WAIT"]
        # DMMRKPOS after the group's end, the saves after the mark, DMSTRNODE after the
        # first node, DMSTRSC after the latency: commands the trigger sends itself
        assert all(trigger_walks_on(steps, index) for index in waits), task
    ending = steps_for_task(program, "end_applications")
    (wait,) = [index for index, step in enumerate(ending) if step.kind == "WAIT"]
    assert trigger_walks_on(ending, len(ending) - 1)  # the slice's end
    assert {step.kind for step in ending[wait + 1 :]} == {"CL", "SQL"}


def test_a_save_file_to_move_after_a_wait_needs_a_worker() -> None:
    program = resync_program(PLAN)
    ending = steps_for_task(program, "end_applications")
    wait = next(step for step in ending if step.kind == "WAIT")
    moving = steps_for_task(program, "transfer_group", "ORDERS")
    assert [step.kind for step in moving[:3]] == ["CL", "CL", "SFTP"]
    steps = [wait, *moving]
    assert not trigger_walks_on(steps, 0)  # CRTSAVF and CLRSAVF, then the SFTP copy
    checksums = [step for step in moving if step.kind == "CHECKSUM"]
    assert not trigger_walks_on([wait, *checksums], 0)
    assert {"CL", "SBMJOB", "SQL"} == TRIGGER_STEP_KINDS


def test_a_checkpoint_keeps_the_learned_apart_and_comes_back_whole() -> None:
    state = RunState({"saved:ORDLIB": 12, "count:ORDLIB": 12}, [{"index": 0}])
    inherited = {"count:ORDLIB": 12}
    resume = checkpoint(state, inherited, 5)
    assert resume == {
        "state": {"values": {"saved:ORDLIB": 12}, "log": [{"index": 0}]},
        "inherited": inherited,
        "index": 5,
    }
    again, earlier, index = from_checkpoint(resume)
    assert (again.values, again.log, earlier, index) == (state.values, state.log, inherited, 5)
    again.values["x"] = 1
    again.log.append({"index": 6})
    assert from_checkpoint(resume)[0].values == state.values  # a fresh copy each time
    assert from_checkpoint(resume)[0].log == [{"index": 0}]
    with pytest.raises(ValueError, match="state or index"):
        from_checkpoint({"inherited": {}})
    assert task_result("t", "ORDERS", state, inherited) == {
        "task": "t",
        "group": "ORDERS",
        "saved:ORDLIB": 12,
        "log": [{"index": 0}],
    }


def test_the_slice_digest_tells_two_cuts_apart() -> None:
    orders = steps_for_task(resync_program(PLAN), "restore_group", "ORDERS")
    billing = steps_for_task(resync_program(PLAN), "restore_group", "BILLING")
    assert slice_digest(orders) == slice_digest(list(orders))
    assert slice_digest(orders) != slice_digest(billing)
    assert slice_digest(orders) != slice_digest(orders[:-1])


def test_strcnsc_after_the_final_sync_check_runs_only_for_a_group_that_had_one() -> None:
    steps = steps_for_task(resync_program(PLAN), "replicate_group", "ORDERS")
    last = max(index for index, step in enumerate(steps) if step.kind == "WAIT")
    (strcnsc,) = steps[last + 1 :]
    assert strcnsc.guard == "was_running"
    nodes, _, _ = _nodes()
    for values, skipped in (({}, True), ({"continuous:ORDERS": True}, False)):
        executor = Executor(nodes, RunState(dict(values)))
        reason = executor._guard_says_skip(last + 1, strcnsc, nodes["PRIMARY"])
        assert (reason is not None) is skipped
