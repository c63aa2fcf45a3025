"""Tests for ibmi_resync.program: the runbook as an ordered list of steps.

Counting steps proves little; these tests check the ORDER the runbook demands
(runbook-icluster-sync-all-groups.txt, steps 1-10) and the safety rules around it:
applications end before the marks, every mark precedes the saves of its group, the
applications restart only after every save, destructive steps run on BACKUP only after the
node proved it is BACKUP, profiles are restored first and authorities last, and the SYSTEM
group starts replication first.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from plan_fixtures import (
    build_plan,
    command_of,
    demo_data,
    demo_plan,
    parameter,
    profile_data,
    set_at,
)

from ibmi_resync import sql
from ibmi_resync.names import Name, QualifiedName, is_system_library
from ibmi_resync.plan import Plan, PlanError, RunOptions
from ibmi_resync.program import (
    MARK_START,
    SUBMITTED_JOB,
    SYNC_CHECK_START,
    Phase,
    Step,
    batch_job_name,
    changing_steps,
    resync_program,
    save_file_for_dlo,
    save_file_for_ifs,
    save_file_for_library,
    save_file_for_security_data,
)
from ibmi_resync.quoting import shell_line

SAVES = {"SAVLIB", "SAVSECDTA", "SAV", "SAVDLO"}
RESTORES = {"RSTUSRPRF", "RSTLIB", "RST", "RSTDLO", "RSTAUT"}
ACTION_OF = {
    "SAVSECDTA": "SS",
    "SAVLIB": "SV",
    "SAV": "SI",
    "SAVDLO": "SD",
    "RSTUSRPRF": "RP",
    "RSTLIB": "RL",
    "RST": "RI",
    "RSTDLO": "RD",
    "RSTAUT": "RA",
}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return demo_plan()


@pytest.fixture(scope="module")
def steps(plan: Plan) -> list[Step]:
    return resync_program(plan)


def where(steps: list[Step], predicate: Callable[[Step], bool]) -> list[int]:
    return [index for index, step in enumerate(steps) if predicate(step)]


def runs(*commands: str, group: str | None = None) -> Callable[[Step], bool]:
    wanted = set(commands)

    def predicate(step: Step) -> bool:
        return command_of(step) in wanted and (group is None or step.group == group)

    return predicate


def is_statement(statement: sql.SqlStatement, kind: str | None = None) -> Callable[[Step], bool]:
    def predicate(step: Step) -> bool:
        return step.text == statement.text and (kind is None or step.kind == kind)

    return predicate


def _all_text(step: Step) -> str:
    parts: list[Any] = [
        step.text,
        step.group,
        step.subject,
        step.condition,
        step.until,
        step.job,
        step.shell,
        *step.notes,
        *step.params,
    ]
    return "\n".join(str(part) for part in parts if part is not None)


# ---- order -----------------------------------------------------------------------------------


def test_phases_never_go_backwards_and_all_appear(steps: list[Step]) -> None:
    phases = [step.phase for step in steps]
    assert phases == sorted(phases)
    assert set(phases) == set(Phase)
    assert [p.value for p in Phase] == list(range(12))


def test_applications_end_before_any_group_is_ended_or_marked(steps: list[Step]) -> None:
    ends = where(steps, runs("ENDSBS"))
    marks = where(steps, runs("DMENDGRP", "DMMRKPOS"))
    assert ends and marks
    assert max(ends) < min(marks)
    cntrld, immed = (steps[i].text for i in ends)
    assert cntrld == "QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD) DELAY(120)"
    assert immed == "QSYS/ENDSBS SBS(APPSBS) OPTION(*IMMED)"
    wait = where(steps, lambda s: s.kind == "WAIT" and s.text == sql.SUBSYSTEM_STATUS.text)
    assert ends[0] < wait[0] < ends[1]
    assert steps[wait[0]].params == ("APPLIB", "APPSBS")


def test_each_group_is_ended_then_marked_before_its_libraries_are_saved(
    plan: Plan, steps: list[Step]
) -> None:
    mark_complete = plan.site_profile.messages.mark_complete
    for group in plan.groups:
        (end,) = where(steps, runs("DMENDGRP", group=group.name))
        (mark,) = where(steps, runs("DMMRKPOS", group=group.name))
        assert steps[mark].text == f"ICLUSTER/DMMRKPOS GROUP({group.name})"
        (done,) = where(
            steps,
            lambda s, g=group.name: s.kind == "WAIT" and s.phase == Phase.MARK_POSITIONS
            and s.params == (g, MARK_START),
        )  # fmt: skip
        assert end < mark < done
        assert steps[done].until.startswith(f"{mark_complete} for {group.name} ")
        saves = where(steps, runs(*SAVES, group=group.name))
        assert {parameter(steps[i], "LIB") for i in saves if command_of(steps[i]) == "SAVLIB"} == (
            set(group.libraries)
        )
        assert saves and done < min(saves)


def test_every_save_is_verified_before_the_applications_restart(steps: list[Step]) -> None:
    saves = where(steps, runs(*SAVES))
    restarts = where(steps, runs("STRSBS"))
    assert len(saves) == 7 and len(restarts) == 1
    assert steps[restarts[0]].text == "QSYS/STRSBS SBSD(APPLIB/APPSBS)"
    assert steps[restarts[0]].node == "PRIMARY"
    # every save job's wait and job-log check come first too
    save_jobs = {steps[i].job for i in saves}
    checks = [i for i, s in enumerate(steps) if s.text == sql.JOB_LOG.text and s.job in save_jobs]
    assert len(checks) == 7 and max(checks) < min(restarts)
    # and nothing is cleared on BACKUP before the applications are back
    assert min(restarts) < min(where(steps, runs("CLRLIB")))


def test_restores_run_profiles_first_libraries_then_ifs_dlo_and_authorities_last(
    steps: list[Step],
) -> None:
    profiles = where(steps, runs("RSTUSRPRF"))
    libraries = where(steps, runs("RSTLIB"))
    ifs = where(steps, runs("RST"))
    dlo = where(steps, runs("RSTDLO"))
    authorities = where(steps, runs("RSTAUT"))
    assert (len(profiles), len(libraries), len(ifs), len(dlo), len(authorities)) == (1, 4, 1, 1, 1)
    assert max(profiles) < min(libraries)
    assert max(libraries) < min(ifs + dlo)
    assert max(where(steps, runs(*RESTORES))) == authorities[0]
    assert max(ifs + dlo) < authorities[0]
    assert steps[authorities[0]].text == (
        "QSYS/SBMJOB CMD(QSYS/RSTAUT USRPRF(APPOWNER APPUSER)) "
        f"JOB({batch_job_name('RA', 'dry-run', 'RSTAUT')}) LOG(4 00 *SECLVL) LOGCLPGM(*YES)"
    )


def test_clears_and_restores_follow_every_save_and_transfer(steps: list[Step]) -> None:
    destructive = where(steps, runs("CLRLIB", *RESTORES))
    transfers = where(steps, lambda s: s.kind == "SFTP")
    assert max(where(steps, runs(*SAVES))) < min(transfers)
    assert max(transfers) < min(destructive)


def test_every_clear_and_restore_is_on_backup_after_it_proved_it_is_backup(
    plan: Plan, steps: list[Step]
) -> None:
    local_node = plan.site_profile.statement("local_node").text
    destructive = where(steps, runs("CLRLIB", *RESTORES))
    assert len(destructive) == 4 + 8
    for index in destructive:
        step = steps[index]
        assert step.node == "BACKUP", step.text
        proof = [
            j
            for j in range(index)
            if steps[j].phase == step.phase
            and steps[j].node == "BACKUP"
            and steps[j].kind == "SQL"
            and steps[j].text == local_node
        ]
        assert proof, f"no local_node check before {step.text} in phase {step.phase}"
        assert f"ROLE=BACKUP NODE={plan.backup.name}" in steps[proof[-1]].notes[0]


def test_nothing_on_primary_is_cleared_or_restored(steps: list[Step]) -> None:
    on_primary = {command_of(step) for step in steps if step.node == "PRIMARY"}
    assert on_primary.isdisjoint({"CLRLIB", *RESTORES})
    assert not [s for s in steps if s.node == "PRIMARY" and re.search(r"\bRST[A-Z]*\(", s.text)]


def test_the_libraries_cleared_are_exactly_the_plans_and_never_ibm_ones(
    plan: Plan, steps: list[Step]
) -> None:
    cleared = [parameter(steps[i], "LIB") for i in where(steps, runs("CLRLIB"))]
    assert cleared == ["SECLIB", "ORDLIB", "ORDHIST", "BILLIB"]
    assert not any(is_system_library(library) for library in cleared)
    assert plan.save_file_library not in cleared
    for index in where(steps, runs("CLRLIB")):
        check = steps[index - 1]
        assert check.text == sql.LIBRARY_EXISTS.text
        assert check.params == (steps[index].subject,)


def test_the_system_group_starts_replication_first(steps: list[Step]) -> None:
    starts = [steps[i] for i in where(steps, runs("DMSTRGRP"))]
    assert [s.text for s in starts] == [
        f"ICLUSTER/DMSTRGRP GROUP({name}) STRAPY(*YES) USEMARKED(*YES)"
        for name in ("SYSTEM", "ORDERS", "BILLING")
    ]
    assert all(s.phase == Phase.START_REPLICATION for s in starts)


def test_the_system_group_starts_first_even_when_listed_last() -> None:
    data = demo_data()
    data["groups"] = [data["groups"][1], data["groups"][2], data["groups"][0]]
    plan = build_plan(data)
    assert plan.group_names == ("ORDERS", "BILLING", "SYSTEM")
    steps = resync_program(plan)
    starts = [steps[i].group for i in where(steps, runs("DMSTRGRP"))]
    assert starts == ["SYSTEM", "ORDERS", "BILLING"]
    marks = [steps[i].group for i in where(steps, runs("DMMRKPOS"))]
    assert marks[0] == "SYSTEM"
    assert max(where(steps, runs("RSTUSRPRF"))) < min(where(steps, runs("RSTLIB")))


def test_sync_checks_follow_the_restore_and_the_cluster_start(
    plan: Plan, steps: list[Step]
) -> None:
    checks = where(steps, runs("DMSTRSC"))
    first = [i for i in checks if steps[i].phase == Phase.SYNC_CHECK]
    final = [i for i in checks if steps[i].phase == Phase.FINAL_SYNC_CHECK]
    assert [steps[i].group for i in first] == ["SYSTEM", "ORDERS", "BILLING"]
    assert [steps[i].group for i in final] == ["SYSTEM", "ORDERS", "BILLING"]
    assert max(where(steps, runs(*RESTORES))) < min(where(steps, runs("DMSTRCST")))
    assert max(where(steps, runs("DMSTRNODE"))) < min(first)
    assert max(first) < min(where(steps, runs("DMSTRGRP")))
    latency = where(steps, lambda s: s.phase == Phase.LATENCY)
    assert max(where(steps, runs("DMSTRGRP"))) < min(latency) and max(latency) < min(final)
    for index in checks:
        wait = steps[index + 1]
        assert wait.kind == "WAIT" and wait.params == (steps[index].group, SYNC_CHECK_START)
        complete = plan.site_profile.messages.sync_check_complete
        assert wait.until == (
            f"{complete} for {steps[index].group} written after the command started "
            f"({plan.site_profile.messages.sync_check_failed} fails)"
        )


def test_nodes_are_started_for_both_nodes(plan: Plan, steps: list[Step]) -> None:
    texts = [steps[i].text for i in where(steps, runs("DMSTRCST", "DMSTRNODE"))]
    assert texts == [
        "ICLUSTER/DMSTRCST",
        "ICLUSTER/DMSTRNODE NODE(SIMPRI)",
        "ICLUSTER/DMSTRNODE NODE(SIMBCK)",
    ]


# ---- approvals and subsets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan_says", "trigger", "expected"),
    [(True, None, True), (False, None, False), (False, True, True), (True, False, False)],
)
def test_an_approval_precedes_the_first_clear_only_when_required(
    plan_says: bool, trigger: bool | None, expected: bool
) -> None:
    data = demo_data()
    data["approvals_required"] = plan_says
    data["timeouts"]["approval"] = 1234
    plan = build_plan(data)
    steps = resync_program(plan, RunOptions(approvals_required=trigger))
    approvals = where(steps, lambda s: s.kind == "APPROVAL")
    if not expected:
        assert approvals == []
        return
    assert len(approvals) == 1
    approval = steps[approvals[0]]
    assert approval.phase == Phase.CLEAR and approval.node == "BACKUP"
    assert approval.timeout_seconds == 1234
    assert approval.changes_node is False
    assert approvals[0] < min(where(steps, runs("CLRLIB")))
    assert max(where(steps, lambda s: s.phase < Phase.CLEAR)) < approvals[0]


def test_a_subset_run_touches_only_its_groups(plan: Plan) -> None:
    steps = resync_program(plan, RunOptions(groups=("orders",)))
    everything = "\n".join(_all_text(step) for step in steps)
    for foreign in ("BILLIB", "SECLIB", "BILLING", "INVOICES", "#SECDTA"):
        assert foreign not in everything
    assert {step.group for step in steps} == {None, "ORDERS"}
    commands = {command_of(step) for step in steps}
    assert commands.isdisjoint({"SAVSECDTA", "RSTUSRPRF", "RSTAUT"})
    assert [parameter(steps[i], "LIB") for i in where(steps, runs("CLRLIB"))] == [
        "ORDLIB",
        "ORDHIST",
    ]
    assert [steps[i].text for i in where(steps, runs("DMSTRGRP"))] == [
        "ICLUSTER/DMSTRGRP GROUP(ORDERS) STRAPY(*YES) USEMARKED(*YES)"
    ]


def test_security_data_travels_with_the_system_group(plan: Plan) -> None:
    steps = resync_program(plan, RunOptions(groups=("SYSTEM",)))
    commands = [command_of(step) for step in steps if step.kind == "SBMJOB"]
    assert commands == ["SAVSECDTA", "SAVLIB", "RSTUSRPRF", "RSTLIB", "RSTAUT"]
    everything = "\n".join(_all_text(step) for step in steps)
    assert "ORDLIB" not in everything and "BILLIB" not in everything


def test_without_user_profiles_no_security_data_is_saved() -> None:
    data = demo_data()
    data["user_profiles"] = []
    steps = resync_program(build_plan(data))
    commands = {command_of(step) for step in steps}
    assert commands.isdisjoint({"SAVSECDTA", "RSTUSRPRF", "RSTAUT"})
    assert "#SECDTA" not in "\n".join(_all_text(step) for step in steps)


def test_a_one_group_plan_works() -> None:
    data = demo_data()
    data["groups"] = [{"name": "ONLY", "system": True, "libraries": ["APPDTA"]}]
    plan = build_plan(data)
    steps = resync_program(plan)
    assert [p.value for p in sorted({s.phase for s in steps})] == list(range(12))
    sbmjobs = [(command_of(s), s.subject) for s in steps if s.kind == "SBMJOB"]
    assert sbmjobs == [
        ("SAVSECDTA", "#SECDTA"),
        ("SAVLIB", "APPDTA"),
        ("RSTUSRPRF", "#SECDTA"),
        ("RSTLIB", "APPDTA"),
        ("RSTAUT", "RSTAUT"),
    ]
    assert [steps[i].text for i in where(steps, runs("DMSTRGRP"))] == [
        "ICLUSTER/DMSTRGRP GROUP(ONLY) STRAPY(*YES) USEMARKED(*YES)"
    ]
    assert [parameter(steps[i], "LIB") for i in where(steps, runs("CLRLIB"))] == ["APPDTA"]


def test_an_unknown_group_in_the_options_is_refused(plan: Plan) -> None:
    with pytest.raises(PlanError) as excinfo:
        resync_program(plan, RunOptions(groups=("ORDERS", "nope")))
    assert (excinfo.value.field, excinfo.value.value) == ("groups[1]", "nope")


def test_continuous_sync_check_is_ended_before_the_mark_and_restarted_at_the_end() -> None:
    """Whether a continuous check runs is seen at run time, so every group has both steps,
    guarded: ENDHASC before the group is ended, STRCNSC after the final check's wait."""
    steps = resync_program(demo_plan())
    for group in ("SYSTEM", "ORDERS", "BILLING"):
        (end,) = where(steps, runs("ENDHASC", group=group))
        (restart,) = where(steps, runs("STRCNSC", group=group))
        assert steps[end].text == f"ICLUSTER/ENDHASC GROUP({group})"
        assert steps[end].guard == "continuous_sync_check"
        assert steps[restart].text == f"ICLUSTER/STRCNSC GROUP({group})"
        assert steps[restart].guard == "was_running"
        assert end < where(steps, runs("DMENDGRP", group=group))[0]
        final = where(steps, runs("DMSTRSC", group=group))
        assert steps[restart].phase == Phase.FINAL_SYNC_CHECK
        assert final[-1] + 1 < restart  # after the final check and its wait


# ---- what each step carries ----------------------------------------------------------------


def test_the_submitted_jobs_of_the_demo(steps: list[Step], plan: Plan) -> None:
    ifs = str(save_file_for_ifs(plan, "ORDERS").name)
    dlo = str(save_file_for_dlo(plan, "BILLING").name)
    assert [(command_of(s), s.subject, s.node) for s in steps if s.kind == "SBMJOB"] == [
        ("SAVSECDTA", "#SECDTA", "PRIMARY"),
        ("SAVLIB", "SECLIB", "PRIMARY"),
        ("SAVLIB", "ORDLIB", "PRIMARY"),
        ("SAVLIB", "ORDHIST", "PRIMARY"),
        ("SAV", ifs, "PRIMARY"),
        ("SAVLIB", "BILLIB", "PRIMARY"),
        ("SAVDLO", dlo, "PRIMARY"),
        ("RSTUSRPRF", "#SECDTA", "BACKUP"),
        ("RSTLIB", "SECLIB", "BACKUP"),
        ("RSTLIB", "ORDLIB", "BACKUP"),
        ("RSTLIB", "ORDHIST", "BACKUP"),
        ("RSTLIB", "BILLIB", "BACKUP"),
        ("RST", ifs, "BACKUP"),
        ("RSTDLO", dlo, "BACKUP"),
        ("RSTAUT", "RSTAUT", "BACKUP"),
    ]


def test_exact_save_and_restore_commands(steps: list[Step]) -> None:
    job = batch_job_name("SV", "dry-run", "ORDLIB")
    (savlib,) = [s for s in steps if command_of(s) == "SAVLIB" and s.subject == "ORDLIB"]
    assert savlib.text == (
        "QSYS/SBMJOB CMD(QSYS/SAVLIB LIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/ORDLIB) "
        "TGTRLS(*CURRENT) UPDHST(*YES) SAVACT(*NO) DTACPR(*NO)) "
        f"JOB({job}) LOG(4 00 *SECLVL) LOGCLPGM(*YES)"
    )
    assert savlib.job == job
    assert savlib.condition == f"unless job {job} of this run already exists (then attach to it)"
    job = batch_job_name("RL", "dry-run", "ORDLIB")
    (rstlib,) = [s for s in steps if command_of(s) == "RSTLIB" and s.subject == "ORDLIB"]
    assert rstlib.text == (
        "QSYS/SBMJOB CMD(QSYS/RSTLIB SAVLIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/ORDLIB) "
        "OPTION(*ALL) MBROPT(*ALL) ALWOBJDIF(*ALL) RSTLIB(*SAVLIB)) "
        f"JOB({job}) LOG(4 00 *SECLVL) LOGCLPGM(*YES)"
    )
    (profiles,) = [s for s in steps if command_of(s) == "RSTUSRPRF"]
    assert "CMD(QSYS/RSTUSRPRF DEV(*SAVF) SAVF(RSYNCSAVF/#SECDTA) USRPRF(APPOWNER APPUSER))" in (
        profiles.text
    )


def test_every_submitted_job_is_waited_for_and_its_job_log_read(steps: list[Step]) -> None:
    """Its wait and job-log check follow the SBMJOB (after the group's other jobs when its
    libraries are saved or restored in parallel), in the same phase, node, group."""
    for index in where(steps, lambda s: s.kind == "SBMJOB"):
        submit = steps[index]
        at = next(i for i in range(index + 1, len(steps)) if steps[i].job == submit.job)
        wait, log = steps[at : at + 2]
        assert submit.changes_node is True
        assert (wait.kind, wait.text, wait.params) == (
            "WAIT",
            sql.JOB_STATUS.text,
            (SUBMITTED_JOB,),
        )
        assert (log.kind, log.text, log.params, log.job) == (
            "SQL",
            sql.JOB_LOG.text,
            (SUBMITTED_JOB,),
            submit.job,
        )
        for follower in (wait, log):
            assert (follower.phase, follower.node, follower.group, follower.subject) == (
                submit.phase,
                submit.node,
                submit.group,
                submit.subject,
            )
        assert log.notes[0].startswith("verify: ")
        # between them only the same group's other jobs of the phase
        assert all(s.phase == submit.phase and s.group == submit.group for s in steps[index:at])


@pytest.mark.parametrize("verb", ["SAVLIB", "RSTLIB"])
def test_a_groups_libraries_are_saved_and_restored_by_parallel_jobs(
    steps: list[Step], verb: str
) -> None:
    """All of ORDERS' library jobs are submitted before the task waits for the first: the
    node runs them side by side and the task defers once, not once per library."""
    submits = [i for i in where(steps, runs(verb)) if steps[i].group == "ORDERS"]
    jobs = {steps[i].job for i in submits}
    waits = [i for i, s in enumerate(steps) if s.kind == "WAIT" and s.job in jobs]
    assert len(submits) == len(waits) == 2
    assert max(submits) < min(waits)


def test_every_save_file_is_fresh_before_it_is_written(steps: list[Step]) -> None:
    creates = where(steps, runs("CRTSAVF"))
    assert len(creates) == 2 * 7  # once on PRIMARY before the save, once on BACKUP
    for index in creates:
        create, clear = steps[index], steps[index + 1]
        assert command_of(clear) == "CLRSAVF"
        assert parameter(create, "FILE") == parameter(clear, "FILE")
        assert create.node == clear.node
        assert create.text.endswith(" TEXT('iCluster resync')")


def _save_file_path(step: Step) -> str:
    """The save file a save/restore step uses, as the IFS path a transfer names."""
    if command_of(step) in ("SAV", "RST"):
        return parameter(step, "DEV").strip("'")
    library, name = parameter(step, "SAVF").split("/")
    return QualifiedName(library, name).save_file_path()


def test_what_is_saved_is_transferred_checked_and_restored(steps: list[Step]) -> None:
    saved = [_save_file_path(steps[i]) for i in where(steps, runs(*SAVES))]
    restored = [_save_file_path(steps[i]) for i in where(steps, runs(*RESTORES - {"RSTAUT"}))]
    transfers = where(steps, lambda s: s.kind == "SFTP")
    moved = []
    for index in transfers:
        source, target = steps[index].text.split(" -> ")
        assert source.startswith("PRIMARY:") and target.startswith("BACKUP:")
        path = source.removeprefix("PRIMARY:")
        assert target == f"BACKUP:{path}"
        moved.append(path)
        checks = steps[index + 1 : index + 3]
        assert [c.node for c in checks] == ["PRIMARY", "BACKUP"]
        assert all(shlex.split(c.shell) == ["sha256sum", path] for c in checks)
        assert all(c.subject == steps[index].subject for c in checks)
        # the BACKUP save file is created fresh before the transfer writes it
        assert command_of(steps[index - 1]) == "CLRSAVF" and steps[index - 1].node == "BACKUP"
    assert sorted(saved) == sorted(moved) == sorted(restored)
    assert len(set(saved)) == len(saved) == 7


def test_shell_lines(plan: Plan, steps: list[Step]) -> None:
    for step in steps:
        if step.kind in ("SBMJOB", "CL"):
            assert step.shell == shell_line(step.text), step.text
        elif step.kind == "CHECKSUM":  # a PASE program, not a CL command
            assert shlex.split(step.shell)[0] == plan.site_profile.checksum_program
        else:
            assert step.shell is None


def test_a_site_system_program_is_used_in_every_cl_shell_line() -> None:
    data = demo_data()
    profile = profile_data()
    profile["system_program"] = "/QOpenSys/usr/bin/system"
    data["site_profile"] = profile
    steps = resync_program(build_plan(data))
    cl = [s for s in steps if s.kind == "SBMJOB" or command_of(s) not in (None, "sha256sum")]
    assert len(cl) > 50
    for step in cl:
        assert step.shell == shell_line(step.text, system_program="/QOpenSys/usr/bin/system")
        assert shlex.split(step.shell) == ["/QOpenSys/usr/bin/system", step.text]


def test_dollar_names_survive_the_remote_shell() -> None:
    """A `$` library or save-file library must reach IBM i as written, not as a variable."""
    data = demo_data()
    data["save_file_library"] = "$SAVF"
    set_at(data, "groups[1].libraries", ["$ORD", "ORDHIST"])
    steps = resync_program(build_plan(data))
    lines = [s for s in steps if s.shell is not None]
    assert any("$ORD" in s.shell for s in lines)
    for step in lines:
        words = shlex.split(step.shell)
        # what a POSIX shell passes to the program, word for word (no expansion happens)
        echoed = subprocess.run(
            ["sh", "-c", "printf '%s\\n' " + step.shell.split(" ", 1)[1]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert echoed == words[1:], step.shell
        if (step.kind == "CL" and command_of(step) != "sha256sum") or step.kind == "SBMJOB":
            assert words[1:] == [step.text]


def test_changes_node_is_true_exactly_for_what_changes_a_node(steps: list[Step]) -> None:
    for step in steps:
        command = command_of(step)
        if step.kind in ("SQL", "WAIT", "APPROVAL") or command in ("CHKOBJ", "sha256sum"):
            assert step.changes_node is False, step.text
        elif step.kind in ("SBMJOB", "SFTP") or command in (
            "CLRLIB",
            "ENDSBS",
            "STRSBS",
            "CRTSAVF",
            "CLRSAVF",
            "DMENDGRP",
            "DMMRKPOS",
            "DMSTRGRP",
        ):
            assert step.changes_node is True, step.text
    assert changing_steps(steps) == [s for s in steps if s.changes_node]
    assert not [s for s in steps if s.kind in ("SQL", "WAIT") and s.changes_node]


def test_preflight_checks_both_nodes_without_changing_them(plan: Plan, steps: list[Step]) -> None:
    preflight = [s for s in steps if s.phase == Phase.PREFLIGHT]
    assert not [s for s in preflight if s.changes_node]
    probes = [s for s in preflight if command_of(s) == "CHKOBJ"]
    assert [(s.node, s.text) for s in probes] == [
        ("PRIMARY", "QSYS/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)"),
        ("BACKUP", "QSYS/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)"),
    ]
    local = plan.site_profile.statement("local_node").text
    notes = [(s.node, s.notes) for s in preflight if s.text == local]
    assert notes == [
        ("PRIMARY", ("the node must answer NODE=SIMPRI ROLE=PRIMARY",)),
        ("BACKUP", ("the node must answer NODE=SIMBCK ROLE=BACKUP",)),
    ]


def _timing_plan() -> Plan:
    data = demo_data()
    data["timeouts"] = {
        "subsystem_end": 11,
        "mark_positions": 22,
        "batch_job": 33,
        "sync_check": 44,
        "latency": 55,
        "approval": 66,
    }
    data["poll_intervals"] = {"subsystem": 1.5, "batch_job": 2.5, "event_log": 3.5, "latency": 4.5}
    return build_plan(data)


def test_every_wait_has_its_timeout_and_poll_interval_from_the_plan() -> None:
    plan = _timing_plan()
    profile = plan.site_profile
    event_log = profile.statement("event_log").text
    group_status = profile.statement("group_status").text
    node_status = profile.statement("node_status").text
    latency = profile.statement("latency").text
    expected = {
        # the controlled end's DELAY, then the plan's subsystem_end timeout
        (Phase.END_APPLICATIONS, sql.SUBSYSTEM_STATUS.text): (
            plan.applications.controlled_end_seconds + 11,
            1.5,
        ),
        (Phase.MARK_POSITIONS, group_status): (22, 3.5),
        (Phase.MARK_POSITIONS, event_log): (22, 3.5),
        (Phase.START_CLUSTER, node_status): (11, 1.5),
        (Phase.SYNC_CHECK, event_log): (44, 3.5),
        (Phase.START_REPLICATION, group_status): (55, 4.5),
        (Phase.LATENCY, latency): (55, 4.5),
        (Phase.FINAL_SYNC_CHECK, event_log): (44, 3.5),
    }
    waits = [s for s in resync_program(plan) if s.kind == "WAIT"]
    # (+2: the non-SYSTEM groups wait for the SYSTEM group before they start)
    assert len(waits) == 1 + 2 * 3 + 2 + 3 + 3 + 3 + 3 + 15 + 2
    seen = set()
    for wait in waits:
        assert wait.until
        if wait.text == sql.JOB_STATUS.text:
            assert (wait.timeout_seconds, wait.poll_seconds) == (33, 2.5)
            continue
        key = (wait.phase, wait.text)
        assert (wait.timeout_seconds, wait.poll_seconds) == expected[key], key
        seen.add(key)
    assert seen == set(expected)


# ---- names -----------------------------------------------------------------------------------


def test_batch_job_names_are_deterministic_per_run(plan: Plan) -> None:
    def jobs(run_key: str) -> list[str]:
        return [s.job for s in resync_program(plan, run_key=run_key) if s.kind == "SBMJOB"]

    first, again, other = jobs("run-1"), jobs("run-1"), jobs("run-2")
    assert first == again
    assert len(set(first)) == len(first) == 15
    assert set(first).isdisjoint(other)
    for job in first + other:
        assert len(job) == 10
        assert Name(job) == job
        assert re.fullmatch(r"[A-Z]{2}[A-Z2-7]{8}", job)


def test_batch_job_names_start_with_the_action_and_match_the_helper(
    steps: list[Step],
) -> None:
    for step in steps:
        if step.kind != "SBMJOB":
            continue
        action = ACTION_OF[command_of(step)]
        assert step.job == batch_job_name(action, "dry-run", step.subject)
        assert step.job.startswith(action)
        assert f" JOB({step.job}) " in step.text


def test_batch_job_name_helper() -> None:
    name = batch_job_name("SV", "run", "ORDLIB")
    assert name == batch_job_name("SV", "run", "ORDLIB")
    assert len(name) == 10 and name.startswith("SV")
    assert name != batch_job_name("SV", "run", "ORDHIST")
    assert name != batch_job_name("SV", "run2", "ORDLIB")
    assert name[2:] != batch_job_name("RL", "run", "ORDLIB")[2:]
    # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert batch_job_name("SV", "a", "bc") != batch_job_name("SV", "ab", "c")
    for action in ("sv", "S", "SVX", "S1", "", "S "):
        with pytest.raises(ValueError):
            batch_job_name(action, "run", "ORDLIB")


def test_batch_job_name_refuses_non_ascii_actions() -> None:
    try:
        name = batch_job_name("ÄB", "run", "ORDLIB")
    except ValueError:
        return
    raise AssertionError(f"accepted {name!r}")


def test_save_file_names(plan: Plan) -> None:
    assert save_file_for_library(plan, "ORDLIB") == QualifiedName("RSYNCSAVF", "ORDLIB")
    assert str(save_file_for_security_data(plan)) == "RSYNCSAVF/#SECDTA"
    ifs, dlo = save_file_for_ifs(plan, "ORDERS"), save_file_for_dlo(plan, "ORDERS")
    assert ifs.library == dlo.library == "RSYNCSAVF"
    assert re.fullmatch(r"#I[A-Z2-7]{8}", ifs.name) and re.fullmatch(r"#D[A-Z2-7]{8}", dlo.name)
    assert save_file_for_ifs(plan, "ORDERS") == ifs  # deterministic
    assert save_file_for_ifs(plan, "BILLING") != ifs
    assert ifs.save_file_path() == f"/QSYS.LIB/RSYNCSAVF.LIB/{ifs.name}.FILE"
    # '#' names cannot be a resynchronised library, so no save file collides with one
    assert is_system_library(ifs.name) and is_system_library("#SECDTA")


def test_the_program_is_deterministic(plan: Plan) -> None:
    assert resync_program(plan) == resync_program(plan)
    assert resync_program(plan, RunOptions()) == resync_program(plan, RunOptions(dry_run=True))
