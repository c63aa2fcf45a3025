"""The resync program: the ordered CL, SQL, transfers and waits of one run, phase by phase.

The runbook (runbook-icluster-sync-all-groups.txt) is turned into `Step`s here, once. The
dry-run prints these steps; the DAG's tasks execute the steps of their phase and group. So
what `python -m ibmi_resync plan` shows is what a real run sends, not a description of it.

A step that only makes sense in some states carries a `condition` ("if the group is
active"): the executor checks it with the step's preceding query, which is what makes every
task safe to re-run (it finds the work done and says so).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Concatenate, Literal, ParamSpec

from ibmi_resync import cl, sql
from ibmi_resync.cl import ClCommand
from ibmi_resync.names import QualifiedName
from ibmi_resync.plan import Group, Plan, PlanError, RunOptions
from ibmi_resync.quoting import shell_command, shell_line
from ibmi_resync.sql import SqlStatement

__all__ = [
    "Check",
    "Guard",
    "Later",
    "Phase",
    "Scope",
    "Step",
    "batch_job_name",
    "changing_steps",
    "network_sync_program",
    "resync_program",
    "save_file_for_dlo",
    "save_file_for_ifs",
    "save_file_for_library",
    "save_file_for_security_data",
    "save_files",
]

Role = Literal["PRIMARY", "BACKUP"]
StepKind = Literal["CL", "SBMJOB", "SQL", "WAIT", "SFTP", "CHECKSUM", "APPROVAL"]
# Preconditions the executor checks before a CL step (the `condition` text says them in words).
Guard = Literal[
    "subsystem_active",  # ENDSBS *CNTRLD: only an active subsystem is ended
    "wait_timed_out",  # ENDSBS *IMMED: only when the controlled end did not finish in time
    "group_active",  # DMENDGRP: only an active group is ended
    "continuous_sync_check",  # ENDHASC: only when one runs (icluster.md §4.1)
    "already_existed",  # CLRSAVF: only when CRTSAVF answered CPF5813
    "found",  # CLRLIB: only when the preceding query found the library
    "not_active",  # DMSTRCST / DMSTRNODE: only when not active yet
    "mark_recorded",  # SYSTEM group start: only at the position recorded in phase 2
    "was_running",  # STRCNSC: only for groups whose continuous sync check was ended
]
# What an SQL step's rows must show (the executor raises, naming node, step and rows).
Check = Literal[
    "answers",  # any answer: the channel works
    "local_node",  # NODE and ROLE as the plan says
    "subsystem_active",
    "found",  # a row exists
    "storage",
    "node_active",
    "group_known",
    "object_count",  # record the library's object count
    "no_user_jobs",
    "no_foreign_locks",
    "job_log",  # classify the job log against `expect`
    "restored_count",  # the library's count after restore equals the saved count
]

SECURITY_DATA_SAVE_FILE = "#SECDTA"  # '#' names cannot collide with a resynced library


class Phase(IntEnum):
    """Runbook phases, numbered as the DAG and the report number them."""

    PREFLIGHT = 0
    END_APPLICATIONS = 1
    MARK_POSITIONS = 2
    SAVE = 3
    TRANSFER = 4
    CLEAR = 5
    RESTORE = 6
    START_CLUSTER = 7
    SYNC_CHECK = 8
    START_REPLICATION = 9
    LATENCY = 10
    FINAL_SYNC_CHECK = 11

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    Phase.PREFLIGHT: "Pre-flight checks",
    Phase.END_APPLICATIONS: "End the applications (runbook step 1)",
    Phase.MARK_POSITIONS: "Mark positions per replication group (runbook step 2)",
    Phase.SAVE: "Save, verify, restart the applications (runbook step 3)",
    Phase.TRANSFER: "Move the save files to BACKUP (runbook step 4)",
    Phase.CLEAR: "Clear the target libraries on BACKUP (runbook step 5)",
    Phase.RESTORE: "Restore profiles, libraries, IFS, DLO, authorities (runbook steps 6-7)",
    Phase.START_CLUSTER: "Start iCluster and its nodes (runbook steps 7, 9)",
    Phase.SYNC_CHECK: "Sync check per group (runbook step 8)",
    Phase.START_REPLICATION: "Start replication at the marked position (runbook step 10)",
    Phase.LATENCY: "Wait until latency resolves (runbook, after step 10)",
    Phase.FINAL_SYNC_CHECK: "Final sync checks per group (runbook, last step)",
}


@dataclass(frozen=True)
class Step:
    """One thing a run sends or waits for, on one node.

    For people: `text` is the CL command (CL, SBMJOB), the SQL (SQL, WAIT), the transfer
    (`from -> to`) or the command line (CHECKSUM); `shell` is the exact SSH exec line;
    `condition` says when the step runs. For the executor: `command`/`statement` are the
    typed objects behind `text`, `guard` names the precondition it checks before acting,
    `accept` the outcomes that count as success, `check` what an SQL answer must show, and
    `wait` the condition that ends a WAIT (ibmi_resync.waits).
    """

    phase: Phase
    node: Role
    kind: StepKind
    text: str
    params: tuple[Any, ...] = ()
    group: str | None = None
    subject: str | None = None
    changes_node: bool = False
    condition: str | None = None
    until: str | None = None
    timeout_seconds: int | None = None
    poll_seconds: float | None = None
    job: str | None = None
    shell: str | None = None
    notes: tuple[str, ...] = field(default=())
    guard: Guard | None = None
    accept: tuple[str, ...] = ("OK", "INFO")
    check: Check | None = None
    expect: dict[str, Any] | None = None
    wait: dict[str, Any] | None = None
    command: ClCommand | None = field(default=None, compare=False, repr=False)
    statement: SqlStatement | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Scope:
    """The part of the program one task runs: its phases, and its replication group for the
    tasks mapped over groups.

    Why: every task start builds its steps afresh (the task process is new after each
    deferral). Building the whole program to keep one task's slice cost 0.5 s of CPU per task
    start at 20 groups and 5 s at 200 (40,000 steps, each rendered and validated), over
    thousands of task starts (docs/benchmarks.md). A program built for a scope holds the same
    steps for that task as the whole program (tests/unit/test_tasks.py checks every task).
    A once-a-run phase built for a group holds only that group's part of it: what
    `tasks.answering_tasks` looks for (which task learns a group's answers).
    """

    phases: tuple[Phase, ...]
    group: str | None = None


@dataclass(frozen=True)
class Later:
    """A parameter known only while the run executes (a job name, the mark's start time)."""

    what: str

    def __repr__(self) -> str:
        return f"<{self.what}>"


SUBMITTED_JOB = Later("qualified job name from CPC1221")
MARK_START = Later("time the mark started")
SYNC_CHECK_START = Later("time the sync check started")
REFRESH_START = Later("time the refresh was submitted")
# Start times the executor records on the node's clock just before the command they follow.
START_TIMES = (MARK_START, SYNC_CHECK_START, REFRESH_START)


# ---- names derived from the plan ---------------------------------------------------------


def _digest(*parts: str) -> str:
    raw = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return base64.b32encode(raw).decode()


def batch_job_name(action: str, run_key: str, subject: str) -> str:
    """A deterministic 10-character IBM i job name: 2-letter action + 8 from a hash.

    The same run, action and subject always give the same name, so a retried task can find
    the batch job an earlier attempt submitted instead of submitting a second one.
    """
    if not re.fullmatch(r"[A-Z]{2}", action):
        raise ValueError(f"action must be two upper-case letters, got {action!r}")
    return action + _digest(run_key, action, subject)[:8]


def save_file_for_library(plan: Plan, library: str) -> QualifiedName:
    """One save file per library, named after it: what an administrator would look for."""
    return plan.save_file(library)


def save_file_for_security_data(plan: Plan) -> QualifiedName:
    return plan.save_file(SECURITY_DATA_SAVE_FILE)


def save_file_for_ifs(plan: Plan, group: str) -> QualifiedName:
    return plan.save_file("#I" + _digest("ifs", group)[:8])


def save_file_for_dlo(plan: Plan, group: str) -> QualifiedName:
    return plan.save_file("#D" + _digest("dlo", group)[:8])


# ---- step helpers ------------------------------------------------------------------------


class _Builder:
    """Collects steps with the plan's site profile and run key at hand."""

    def __init__(self, plan: Plan, run_key: str, scope: Scope | None = None) -> None:
        self.plan = plan
        self.profile = plan.site_profile
        self.run_key = run_key
        self.scope = scope
        self.steps: list[Step] = []

    def each(self, groups: tuple[Group, ...]) -> tuple[Group, ...]:
        """`groups`, or only the scope's group when the scope names one."""
        if self.scope is None or self.scope.group is None:
            return groups
        return tuple(group for group in groups if group.name == self.scope.group)

    def cl(self, phase: Phase, node: Role, command: ClCommand, **kw: Any) -> None:
        text = command.render()
        shell = shell_line(text, system_program=self.profile.system_program)
        self.steps.append(
            Step(
                phase,
                node,
                "CL",
                text,
                changes_node=command.changes_node,
                shell=shell,
                command=command,
                **kw,
            )
        )

    def batch(
        self,
        phase: Phase,
        node: Role,
        command: ClCommand,
        *,
        action: str,
        subject: str,
        expect: dict[str, Any],
        group: str | None = None,
    ) -> None:
        """SBMJOB, wait for the job's end, read and classify its job log (ibmi.md §7.1)."""
        job = self.submit(phase, node, command, action=action, subject=subject, group=group)
        self.job_ended(phase, node, job, subject=subject, expect=expect, group=group)

    def submit(
        self,
        phase: Phase,
        node: Role,
        command: ClCommand,
        *,
        action: str,
        subject: str,
        group: str | None = None,
    ) -> str:
        """SBMJOB of `command` under a name derived from the run (attach-on-retry); the job."""
        job = batch_job_name(action, self.run_key, subject)
        text = cl.build_sbmjob_command(command, job=job).render()
        shell = shell_line(text, system_program=self.profile.system_program)
        self.steps.append(
            Step(
                phase,
                node,
                "SBMJOB",
                text,
                group=group,
                subject=subject,
                changes_node=True,
                job=job,
                shell=shell,
                command=command,
                accept=("OK", "INFO", "IN_PROGRESS"),
                condition=f"unless job {job} of this run already exists (then attach to it)",
            )
        )
        return job

    def job_ended(
        self,
        phase: Phase,
        node: Role,
        job: str,
        *,
        subject: str,
        expect: dict[str, Any],
        group: str | None = None,
    ) -> None:
        """Wait for a submitted job's end, then read and classify its job log."""
        self.wait(
            phase,
            node,
            sql.JOB_STATUS,
            (SUBMITTED_JOB,),
            {"kind": "job_ended"},
            until="job ended (V_JOB_STATUS *OUTQ or no longer found)",
            timeout=self.plan.timeouts.batch_job,
            poll=self.plan.poll_intervals.batch_job,
            group=group,
            subject=subject,
            job=job,
        )
        self.query(
            phase,
            node,
            sql.JOB_LOG,
            (SUBMITTED_JOB,),
            check="job_log",
            expect=expect,
            group=group,
            subject=subject,
            job=job,
            notes=(f"verify: {expect['describe']}",),
        )

    def query(
        self,
        phase: Phase,
        node: Role,
        statement: SqlStatement,
        params: tuple[Any, ...] = (),
        *,
        check: Check,
        **kw: Any,
    ) -> None:
        self.steps.append(
            Step(
                phase,
                node,
                "SQL",
                statement.text,
                params=params,
                check=check,
                statement=statement,
                **kw,
            )
        )

    def wait(
        self,
        phase: Phase,
        node: Role,
        statement: SqlStatement,
        params: tuple[Any, ...],
        condition: dict[str, Any],
        *,
        until: str,
        timeout: int,
        poll: float,
        **kw: Any,
    ) -> None:
        self.steps.append(
            Step(
                phase,
                node,
                "WAIT",
                statement.text,
                params=params,
                until=until,
                timeout_seconds=timeout,
                poll_seconds=poll,
                wait=condition,
                statement=statement,
                **kw,
            )
        )

    def wait_status(
        self,
        phase: Phase,
        view: str,
        name: str,
        status: str,
        *,
        timeout: float,
        poll: float,
        until: str | None = None,
        **kw: Any,
    ) -> None:
        """Until the site profile's status `view` (group_status, node_status) reads `status`
        for `name`, on PRIMARY, where iCluster keeps both nodes' and all groups' status."""
        self.wait(
            phase,
            "PRIMARY",
            self.site(view),
            (name,),
            {"kind": "status_is", "status": status},
            until=until or f"STATUS = {status}",
            timeout=timeout,
            poll=poll,
            **kw,
        )

    def event_message(
        self,
        phase: Phase,
        group: str,
        started: Later,
        success: str,
        failure: str,
        *,
        timeout: int,
        notes: tuple[str, ...],
    ) -> None:
        """Wait for `success` (or `failure`) in the event log, written after `started`."""
        self.wait(
            phase,
            "PRIMARY",
            self.site("event_log"),
            (group, started),
            {
                "kind": "event_message",
                "group": group,
                "success_ids": [success],
                "failure_ids": [failure],
                "since": started,
            },
            until=f"{success} for {group} written after the command started ({failure} fails)",
            timeout=timeout,
            poll=self.plan.poll_intervals.event_log,
            group=group,
            notes=notes,
        )

    def site(self, name: str) -> SqlStatement:
        return self.profile.statement(name)

    def fresh_save_file(
        self, phase: Phase, node: Role, savf: QualifiedName, group: str | None
    ) -> None:
        """CRTSAVF, or CLRSAVF when it exists: a save never appends (ibmi.md §10.3)."""
        subject = str(savf.name)
        self.cl(
            phase,
            node,
            cl.build_crtsavf_command(savf, text="iCluster resync"),
            group=group,
            subject=subject,
            accept=("OK", "INFO", "ALREADY_DONE"),
            condition="CPF5813 (exists) is followed by CLRSAVF",
        )
        self.cl(
            phase,
            node,
            cl.build_clrsavf_command(savf),
            group=group,
            subject=subject,
            guard="already_existed",
            condition="only if CRTSAVF answered CPF5813 and no job of this run saves into it",
        )


# ---- phases ------------------------------------------------------------------------------

_P = ParamSpec("_P")
_PhaseBuilder = Callable[Concatenate[_Builder, _P], None]


def _builds(phase: Phase) -> Callable[[_PhaseBuilder[_P]], _PhaseBuilder[_P]]:
    """Mark a function that adds the steps of `phase`: it adds nothing for a builder whose
    scope is another phase."""

    def mark(build: _PhaseBuilder[_P]) -> _PhaseBuilder[_P]:
        @functools.wraps(build)
        def scoped(b: _Builder, *args: _P.args, **kwargs: _P.kwargs) -> None:
            if b.scope is None or phase in b.scope.phases:
                build(b, *args, **kwargs)

        return scoped

    return mark


@_builds(Phase.PREFLIGHT)
def _preflight(b: _Builder, groups: tuple[Group, ...], *, save_files: bool = True) -> None:
    plan, phase, profile = b.plan, Phase.PREFLIGHT, b.profile
    for role, node in (("PRIMARY", plan.primary), ("BACKUP", plan.backup)):
        b.cl(
            phase,
            role,
            cl.build_chkobj_command("QSYS", profile.product_library, object_type="*LIB"),
            notes=("SSH reaches the node and the iCluster product library exists",),
        )
        b.query(phase, role, sql.OS_RELEASE, check="answers", notes=("ODBC reaches the node",))
        b.query(
            phase,
            role,
            b.site("local_node"),
            check="local_node",
            expect={"node": node.name, "role": role},
            notes=(f"the node must answer NODE={node.name} ROLE={role}",),
        )
        b.query(
            phase,
            role,
            sql.SUBSYSTEM_STATUS,
            (profile.product_library, profile.product_subsystem),
            check="subsystem_active",
            notes=(f"{profile.product_subsystem} must be ACTIVE",),
        )
        if save_files:
            b.query(
                phase,
                role,
                sql.LIBRARY_EXISTS,
                (plan.save_file_library,),
                check="found",
                subject=plan.save_file_library,
                notes=("the save-file library exists",),
            )
        b.query(
            phase,
            role,
            sql.SYSTEM_STORAGE,
            check="storage",
            expect={"min_free_percent": plan.thresholds.min_free_storage_percent},
            notes=(
                f"free storage above {plan.thresholds.min_free_storage_percent}% "
                "after the save files",
            ),
        )
    for node in (plan.primary, plan.backup):
        b.query(
            phase,
            "PRIMARY",
            b.site("node_status"),
            (node.name,),
            check="node_active",
            subject=node.name,
            notes=(f"node {node.name} must be active",),
        )
    for group in b.each(groups):
        b.query(
            phase,
            "PRIMARY",
            b.site("group_status"),
            (group.name,),
            check="group_known",
            group=group.name,
            notes=("the group exists; a running continuous sync check is noted",),
        )
        for library in group.libraries:
            b.query(
                phase,
                "PRIMARY",
                sql.LIBRARY_SUMMARY,
                (library,),
                check="object_count",
                group=group.name,
                subject=library,
                notes=("object count and size for the save estimate",),
            )


@_builds(Phase.END_APPLICATIONS)
def _end_applications(b: _Builder, groups: tuple[Group, ...]) -> None:
    plan, phase = b.plan, Phase.END_APPLICATIONS
    apps = plan.applications
    for subsystem in apps.subsystems:
        b.cl(
            phase,
            "PRIMARY",
            cl.build_endsbs_command(
                subsystem.name, option="*CNTRLD", delay_seconds=apps.controlled_end_seconds
            ),
            subject=subsystem.name,
            guard="subsystem_active",
            expect={"library": subsystem.library},
            accept=("OK", "INFO", "IN_PROGRESS", "ALREADY_DONE"),
            condition="if the subsystem is ACTIVE (CPF1054: already ended)",
        )
        b.wait(
            phase,
            "PRIMARY",
            sql.SUBSYSTEM_STATUS,
            (subsystem.library, subsystem.name),
            {"kind": "subsystem_inactive"},
            until="STATUS = INACTIVE",
            timeout=apps.controlled_end_seconds + plan.timeouts.subsystem_end,
            poll=plan.poll_intervals.subsystem,
            subject=subsystem.name,
        )
        b.cl(
            phase,
            "PRIMARY",
            cl.build_endsbs_command(subsystem.name, option="*IMMED"),
            subject=subsystem.name,
            guard="wait_timed_out",
            accept=("OK", "INFO", "IN_PROGRESS", "ALREADY_DONE"),
            condition="only if the controlled end did not finish in time",
        )
    names = [subsystem.name for subsystem in apps.subsystems]
    b.query(
        phase,
        "PRIMARY",
        sql.SUBSYSTEM_USER_JOBS,
        (sql.subsystem_list_filter(names),),
        check="no_user_jobs",
        expect={"policy": apps.remaining_jobs},
        notes=(f"remaining user jobs: policy '{apps.remaining_jobs}'; none may remain",),
    )
    for group in b.each(groups):
        for library in group.libraries:
            b.query(
                phase,
                "PRIMARY",
                sql.LIBRARY_OBJECT_LOCKS,
                (library,),
                check="no_foreign_locks",
                group=group.name,
                subject=library,
                notes=("no lock may remain but this connection's job",),
            )


def _end_group(b: _Builder, phase: Phase, group: Group, *, why: str, timeout: float) -> None:
    """Know the group, end its continuous sync check and the group itself if they run, and
    wait until it is *INACTIVE: what both a mark and a refresh need first (icluster.md §4.1)."""
    plan, profile = b.plan, b.profile
    status = b.site("group_status")
    b.query(phase, "PRIMARY", status, (group.name,), check="group_known", group=group.name)
    b.cl(
        phase,
        "PRIMARY",
        profile.command("end_sync_check", group=group.name),
        group=group.name,
        guard="continuous_sync_check",
        condition="if a continuous sync check runs (icluster.md §4.1)",
    )
    b.cl(
        phase,
        "PRIMARY",
        profile.command(
            "end_group", group=group.name, delay=plan.applications.controlled_end_seconds
        ),
        group=group.name,
        guard="group_active",
        condition=f"if the group is active{why}",
    )
    b.wait_status(
        phase,
        "group_status",
        group.name,
        profile.status.inactive,
        timeout=timeout,
        poll=plan.poll_intervals.event_log,
        group=group.name,
    )


def _wait_group_active(b: _Builder, phase: Phase, group: Group) -> None:
    """Until the group reads *ACTIVE: after a start at the mark, and after a refresh."""
    b.wait_status(
        phase,
        "group_status",
        group.name,
        b.profile.status.active,
        timeout=b.plan.timeouts.latency,
        poll=b.plan.poll_intervals.latency,
        group=group.name,
    )


@_builds(Phase.MARK_POSITIONS)
def _mark_group(b: _Builder, group: Group) -> None:
    plan, phase, profile = b.plan, Phase.MARK_POSITIONS, b.profile
    _end_group(b, phase, group, why="", timeout=plan.timeouts.mark_positions)
    b.cl(
        phase,
        "PRIMARY",
        profile.command("mark_positions", group=group.name),
        group=group.name,
        notes=("the time just before this command is the mark's start",),
    )
    b.event_message(
        phase,
        group.name,
        MARK_START,
        profile.messages.mark_complete,
        profile.messages.mark_failed,
        timeout=plan.timeouts.mark_positions,
        notes=("records the marked position",),
    )


@_builds(Phase.SAVE)
def _save_group(b: _Builder, group: Group) -> None:
    plan, phase = b.plan, Phase.SAVE
    # The group's libraries save in parallel batch jobs, all submitted before the first wait:
    # the node shares its throughput among them (ibmi_sim/capacity.py models it), the outage
    # does not wait for one library after another, and the task defers once for the group
    # rather than once per library. Each job log is then checked in turn.
    jobs = []
    for library in group.libraries:
        savf = save_file_for_library(plan, library)
        b.fresh_save_file(phase, "PRIMARY", savf, group.name)
        command = cl.build_savlib_command(library, savf, target_release=plan.target_release)
        job = b.submit(phase, "PRIMARY", command, action="SV", subject=library, group=group.name)
        jobs.append((library, job))
    for library, job in jobs:
        b.job_ended(
            phase,
            "PRIMARY",
            job,
            subject=library,
            group=group.name,
            expect={
                "kind": "saved",
                "library": library,
                "describe": f"CPC3722 with the object count of {library}",
            },
        )
    if group.ifs_paths:
        savf = save_file_for_ifs(plan, group.name)
        b.fresh_save_file(phase, "PRIMARY", savf, group.name)
        b.batch(
            phase,
            "PRIMARY",
            cl.build_sav_command(savf, group.ifs_paths),
            action="SI",
            subject=str(savf.name),
            group=group.name,
            expect={"kind": "clean", "describe": "no escape, nothing not saved"},
        )
    if group.dlo_folders:
        savf = save_file_for_dlo(plan, group.name)
        b.fresh_save_file(phase, "PRIMARY", savf, group.name)
        b.batch(
            phase,
            "PRIMARY",
            cl.build_savdlo_command(savf, group.dlo_folders),
            action="SD",
            subject=str(savf.name),
            group=group.name,
            expect={"kind": "clean", "describe": "CPC9063, no escape"},
        )


@_builds(Phase.SAVE)
def _save_security_data(b: _Builder) -> None:
    savf = save_file_for_security_data(b.plan)
    b.fresh_save_file(Phase.SAVE, "PRIMARY", savf, None)
    b.batch(
        Phase.SAVE,
        "PRIMARY",
        cl.build_savsecdta_command(savf),
        action="SS",
        subject=str(savf.name),
        expect={"kind": "clean", "describe": "no escape"},
    )


@_builds(Phase.SAVE)
def _restart_applications(b: _Builder) -> None:
    for subsystem in b.plan.applications.subsystems:
        b.cl(
            Phase.SAVE,
            "PRIMARY",
            cl.build_strsbs_command(subsystem.name, library=subsystem.library),
            subject=subsystem.name,
            accept=("OK", "INFO", "IN_PROGRESS", "ALREADY_DONE"),
            condition="after every mark and every save of this run is verified "
            "(CPF1010: already active)",
        )


def _with_security_data(plan: Plan, groups: tuple[Group, ...]) -> bool:
    """Profiles and authorities travel with the SYSTEM group (runbook step 10)."""
    return bool(plan.user_profiles) and any(group.system for group in groups)


def save_files(plan: Plan, groups: tuple[Group, ...]) -> list[tuple[str | None, QualifiedName]]:
    """Every save file a run moves, with its group (None: the security data)."""
    files: list[tuple[str | None, QualifiedName]] = []
    if _with_security_data(plan, groups):
        files.append((None, save_file_for_security_data(plan)))
    for group in groups:
        files += [(group.name, save_file_for_library(plan, lib)) for lib in group.libraries]
        if group.ifs_paths:
            files.append((group.name, save_file_for_ifs(plan, group.name)))
        if group.dlo_folders:
            files.append((group.name, save_file_for_dlo(plan, group.name)))
    return files


@_builds(Phase.TRANSFER)
def _transfer(b: _Builder, groups: tuple[Group, ...]) -> None:
    phase, checksum = Phase.TRANSFER, b.profile.checksum_program
    for group, savf in save_files(b.plan, groups):
        path, subject = savf.save_file_path(), str(savf.name)
        b.fresh_save_file(phase, "BACKUP", savf, group)
        b.steps.append(
            Step(
                phase,
                "PRIMARY",
                "SFTP",
                f"PRIMARY:{path} -> BACKUP:{path}",
                group=group,
                subject=subject,
                changes_node=True,
                notes=("streamed, no copy on the worker's disk",),
            )
        )
        for node in ("PRIMARY", "BACKUP"):
            line = shell_command(checksum, path, field="checksum_program")
            b.steps.append(
                Step(
                    phase,
                    node,
                    "CHECKSUM",
                    line,
                    group=group,
                    subject=subject,
                    shell=line,
                    notes=("checksums must match; retry on mismatch",),
                )
            )


def _confirm_backup(b: _Builder, phase: Phase) -> None:
    b.query(
        phase,
        "BACKUP",
        b.site("local_node"),
        check="local_node",
        expect={"node": b.plan.backup.name, "role": "BACKUP"},
        notes=(
            f"destructive steps follow: the node must answer ROLE=BACKUP NODE={b.plan.backup.name}",
        ),
    )


@_builds(Phase.CLEAR)
def _clear(b: _Builder, groups: tuple[Group, ...], options: RunOptions) -> None:
    phase = Phase.CLEAR
    if options.approvals(b.plan):
        b.steps.append(
            Step(
                phase,
                "BACKUP",
                "APPROVAL",
                "approve clearing the target libraries on BACKUP",
                timeout_seconds=b.plan.timeouts.approval,
                notes=("Reject when nobody answers",),
            )
        )
    _confirm_backup(b, phase)
    for group in groups:
        for library in group.libraries:
            b.query(
                phase,
                "BACKUP",
                sql.LIBRARY_EXISTS,
                (library,),
                check="found",
                expect={"optional": True},
                group=group.name,
                subject=library,
            )
            b.cl(
                phase,
                "BACKUP",
                cl.build_clrlib_command(library),
                group=group.name,
                subject=library,
                guard="found",
                condition="if the library exists on BACKUP",
            )


@_builds(Phase.RESTORE)
def _restore(b: _Builder, groups: tuple[Group, ...]) -> None:
    """Runbook step 6. A group's restores are ``keep_going``: a library that restores only
    in part does not stop the next one, because its CLRLIB already ran (step 5) and a cleared
    library left without its restore attempt is the worst state BACKUP can be left in; the
    task fails at its end, naming every restore that did not end clean."""
    plan, phase = b.plan, Phase.RESTORE
    _confirm_backup(b, phase)
    security = _with_security_data(plan, groups)
    if security:
        savf = save_file_for_security_data(plan)
        b.batch(
            phase,
            "BACKUP",
            cl.build_rstusrprf_command(savf, plan.user_profiles),
            action="RP",
            subject=str(savf.name),
            expect={"kind": "clean", "describe": "CPC3705 (CPF3775: some not restored)"},
        )
    for group in groups:
        # In parallel, as the saves (`_save_group`); IFS and DLO follow the libraries.
        jobs = [
            (
                library,
                b.submit(
                    phase,
                    "BACKUP",
                    cl.build_rstlib_command(library, save_file_for_library(plan, library)),
                    action="RL",
                    subject=library,
                    group=group.name,
                ),
            )
            for library in group.libraries
        ]
        for library, job in jobs:
            b.job_ended(
                phase,
                "BACKUP",
                job,
                subject=library,
                group=group.name,
                expect={
                    "kind": "restored",
                    "library": library,
                    "describe": "CPC3703, or CPF3773 with 0 not restored",
                    "keep_going": True,
                },
            )
            b.query(
                phase,
                "BACKUP",
                sql.LIBRARY_SUMMARY,
                (library,),
                check="restored_count",
                group=group.name,
                subject=library,
                notes=("restored count must equal the saved count",),
            )
    for group in groups:
        if group.ifs_paths:
            savf = save_file_for_ifs(plan, group.name)
            b.batch(
                phase,
                "BACKUP",
                cl.build_rst_command(savf, group.ifs_paths),
                action="RI",
                subject=str(savf.name),
                group=group.name,
                expect={"kind": "clean", "describe": "all objects restored", "keep_going": True},
            )
    for group in groups:
        if group.dlo_folders:
            savf = save_file_for_dlo(plan, group.name)
            b.batch(
                phase,
                "BACKUP",
                cl.build_rstdlo_command(savf, group.dlo_folders),
                action="RD",
                subject=str(savf.name),
                group=group.name,
                expect={"kind": "clean", "describe": "CPC9053", "keep_going": True},
            )
    if security:
        b.batch(
            phase,
            "BACKUP",
            cl.build_rstaut_command(plan.user_profiles),
            action="RA",
            subject="RSTAUT",
            expect={"kind": "clean", "describe": "RSTAUT is last (ibmi.md §5.2)"},
        )


@_builds(Phase.START_CLUSTER)
def _start_cluster(b: _Builder) -> None:
    plan, phase, profile = b.plan, Phase.START_CLUSTER, b.profile
    b.cl(
        phase,
        "BACKUP",
        profile.command("start_cluster"),
        guard="not_active",
        subject=profile.product_subsystem,
        condition=f"if {profile.product_subsystem} or a node is not active",
    )
    for node in (plan.primary, plan.backup):
        b.cl(
            phase,
            "PRIMARY",
            profile.command("start_node", node=node.name),
            guard="not_active",
            subject=node.name,
            condition="if the node is not active",
        )
        b.wait_status(
            phase,
            "node_status",
            node.name,
            profile.status.active,
            timeout=plan.timeouts.subsystem_end,
            poll=plan.poll_intervals.subsystem,
            subject=node.name,
        )


def _sync_check(b: _Builder, phase: Phase, group: Group) -> None:
    plan, profile = b.plan, b.profile
    b.cl(
        phase,
        "PRIMARY",
        profile.command("sync_check", group=group.name),
        group=group.name,
        condition="one sync check per group at a time (icluster.md §4.1)",
    )
    b.event_message(
        phase,
        group.name,
        SYNC_CHECK_START,
        profile.messages.sync_check_complete,
        profile.messages.sync_check_failed,
        timeout=plan.timeouts.sync_check,
        notes=(
            f"differences above {plan.thresholds.sync_check_differences}: "
            f"{plan.thresholds.sync_check_over_threshold}",
        ),
    )


@_builds(Phase.SYNC_CHECK)
def _sync_check_after_restore(b: _Builder, group: Group) -> None:
    _sync_check(b, Phase.SYNC_CHECK, group)


@_builds(Phase.START_REPLICATION)
def _start_group(b: _Builder, group: Group, system_in_run: str | None) -> None:
    plan, phase, profile = b.plan, Phase.START_REPLICATION, b.profile
    if system_in_run and not group.system:
        # Runbook step 10: the SYSTEM group (profiles, authorities) starts first.
        b.wait_status(
            phase,
            "group_status",
            system_in_run,
            profile.status.active,
            until=f"the SYSTEM group {system_in_run} is {profile.status.active}",
            timeout=plan.timeouts.latency,
            poll=plan.poll_intervals.latency,
            group=group.name,
            subject=system_in_run,
        )
    b.cl(
        phase,
        "PRIMARY",
        profile.command("start_group_at_mark", group=group.name),
        group=group.name,
        guard="mark_recorded",
        condition="only at the marked position recorded in phase 2",
    )
    _wait_group_active(b, phase, group)


@_builds(Phase.LATENCY)
def _latency(b: _Builder, group: Group) -> None:
    plan = b.plan
    b.wait(
        Phase.LATENCY,
        "PRIMARY",
        b.site("latency"),
        (group.name,),
        {
            "kind": "latency_resolved",
            "threshold_seconds": plan.thresholds.latency_seconds,
            "stable_polls": plan.thresholds.latency_stable_polls,
        },
        until=f"source and apply latency <= {plan.thresholds.latency_seconds} s for "
        f"{plan.thresholds.latency_stable_polls} polls; frozen apply fails",
        timeout=plan.timeouts.latency,
        poll=plan.poll_intervals.latency,
        group=group.name,
    )


@_builds(Phase.FINAL_SYNC_CHECK)
def _final(b: _Builder, group: Group) -> None:
    _sync_check(b, Phase.FINAL_SYNC_CHECK, group)
    b.cl(
        Phase.FINAL_SYNC_CHECK,
        "PRIMARY",
        b.profile.command("start_continuous_sync_check", group=group.name),
        group=group.name,
        guard="was_running",
        condition="only if a continuous sync check ran before the resync",
    )


def resync_program(
    plan: Plan,
    options: RunOptions | None = None,
    *,
    run_key: str = "dry-run",
    scope: Scope | None = None,
) -> list[Step]:
    """Every step of one resync run, in runbook order (see the module docstring); with a
    `scope`, only the steps of that phase (and group)."""
    options = options or RunOptions()
    groups = options.selected_groups(plan)
    # The SYSTEM group starts first (runbook step 10), whatever its place in the plan.
    ordered = tuple(sorted(groups, key=lambda group: not group.system))
    b = _Builder(plan, run_key, scope)
    _preflight(b, ordered)
    _end_applications(b, ordered)
    for group in b.each(ordered):
        _mark_group(b, group)
    if _with_security_data(plan, ordered):
        _save_security_data(b)
    for group in b.each(ordered):
        _save_group(b, group)
    _restart_applications(b)
    _transfer(b, b.each(ordered))
    _clear(b, b.each(ordered), options)
    _restore(b, b.each(ordered))
    _start_cluster(b)
    for group in b.each(ordered):
        _sync_check_after_restore(b, group)
    system = next((group.name for group in ordered if group.system), None)
    for group in b.each(ordered):
        _start_group(b, group, system)
    for group in b.each(ordered):
        _latency(b, group)
    for group in b.each(ordered):
        _final(b, group)
    return b.steps


def changing_steps(steps: Iterable[Step]) -> list[Step]:
    """The steps that change a node: exactly what a dry run must never send."""
    return [step for step in steps if step.changes_node]


# ---- network sync (Rocket's follow-up: "Synchronizing replication using the network") ----


@_builds(Phase.START_REPLICATION)
def _refresh_group(b: _Builder, group: Group) -> None:
    """End the group if it runs, then start it with the refresh option as a batch job, wait
    for the refresh's completion message and for the group to be active (icluster.md §3.1,
    §9). The applications keep running: the refresh copies the objects while they change and
    replication applies what was journaled meanwhile [I]."""
    plan, phase, profile = b.plan, Phase.START_REPLICATION, b.profile
    _end_group(
        b,
        phase,
        group,
        why=": only an ended group starts with a refresh",
        timeout=plan.applications.controlled_end_seconds + plan.timeouts.subsystem_end,
    )
    b.batch(
        phase,
        "PRIMARY",
        profile.command("start_group_refresh", group=group.name),
        action="RF",
        subject=group.name,
        group=group.name,
        expect={"kind": "clean", "describe": "the start with refresh was accepted, no escape"},
    )
    messages = profile.messages
    assert messages.refresh_complete and messages.refresh_failed  # network_sync_program checks
    b.event_message(
        phase,
        group.name,
        REFRESH_START,
        messages.refresh_complete,
        messages.refresh_failed,
        timeout=plan.timeouts.batch_job,
        notes=("the copy over the network: its time grows with the group's data (§9)",),
    )
    _wait_group_active(b, phase, group)


def network_sync_program(
    plan: Plan,
    options: RunOptions | None = None,
    *,
    run_key: str = "dry-run",
    scope: Scope | None = None,
) -> list[Step]:
    """Every step of one network sync (icluster.md §9): pre-flight, then per group the start
    with refresh, the latency wait and the final sync check; no outage, no save files.

    The phases keep the resync's numbers (the refresh is phase 9, start replication), so the
    same tasks, waits, report and timeline serve both programs.
    """
    options = options or RunOptions()
    missing = plan.site_profile.network_sync_missing()
    if missing:
        raise PlanError(
            f"site profile {plan.site_profile.name}",
            ", ".join(missing),
            None,
            "needed by the network sync (icluster.md §9); check each on the real system",
        )
    groups = options.selected_groups(plan)
    b = _Builder(plan, run_key, scope)
    _preflight(b, groups, save_files=False)
    for group in b.each(groups):
        _refresh_group(b, group)
    for group in b.each(groups):
        _latency(b, group)
    for group in b.each(groups):
        _final(b, group)
    return b.steps
