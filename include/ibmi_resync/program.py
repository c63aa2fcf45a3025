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
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

from ibmi_resync import cl, sql
from ibmi_resync.names import QualifiedName
from ibmi_resync.plan import Group, Plan, RunOptions
from ibmi_resync.quoting import shell_command, shell_line

__all__ = [
    "Later",
    "Phase",
    "Step",
    "batch_job_name",
    "resync_program",
    "save_file_for_dlo",
    "save_file_for_ifs",
    "save_file_for_library",
    "save_file_for_security_data",
]

Role = Literal["PRIMARY", "BACKUP"]
StepKind = Literal["CL", "SBMJOB", "SQL", "WAIT", "SFTP", "APPROVAL"]

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

    `text` is the CL command (CL, SBMJOB), the SQL (SQL, WAIT) or the transfer
    (`from -> to`); `shell` is the exact SSH exec line for CL steps.
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


@dataclass(frozen=True)
class Later:
    """A parameter known only while the run executes (a job name, the mark's start time)."""

    what: str

    def __repr__(self) -> str:
        return f"<{self.what}>"


SUBMITTED_JOB = Later("qualified job name from CPC1221")
MARK_START = Later("time the mark started")
SYNC_CHECK_START = Later("time the sync check started")


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

    def __init__(self, plan: Plan, run_key: str) -> None:
        self.plan = plan
        self.profile = plan.site_profile
        self.run_key = run_key
        self.steps: list[Step] = []

    def cl(self, phase: Phase, node: Role, command: cl.ClCommand, **kw: Any) -> None:
        text = command.render()
        self.steps.append(
            Step(
                phase,
                node,
                "CL",
                text,
                changes_node=command.changes_node,
                shell=shell_line(text, system_program=self.profile.system_program),
                **kw,
            )
        )

    def batch(
        self,
        phase: Phase,
        node: Role,
        command: cl.ClCommand,
        *,
        action: str,
        subject: str,
        group: str | None = None,
        expect: str,
    ) -> None:
        job = batch_job_name(action, self.run_key, subject)
        submit = cl.build_sbmjob_command(command, job=job)
        text = submit.render()
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
                shell=shell_line(text, system_program=self.profile.system_program),
                condition=f"unless job {job} of this run already exists (then attach to it)",
            )
        )
        self.wait(
            phase,
            node,
            sql.JOB_STATUS,
            (SUBMITTED_JOB,),
            until="job ended (V_JOB_STATUS *OUTQ or no longer found)",
            timeout=self.plan.timeouts.batch_job,
            poll=self.plan.poll_intervals.batch_job,
            group=group,
            subject=subject,
        )
        self.query(
            phase,
            node,
            sql.JOB_LOG,
            (SUBMITTED_JOB,),
            group=group,
            subject=subject,
            notes=(f"verify: {expect}",),
        )

    def query(
        self,
        phase: Phase,
        node: Role,
        statement: sql.SqlStatement,
        params: tuple[Any, ...] = (),
        **kw: Any,
    ) -> None:
        self.steps.append(Step(phase, node, "SQL", statement.text, params=params, **kw))

    def wait(
        self,
        phase: Phase,
        node: Role,
        statement: sql.SqlStatement,
        params: tuple[Any, ...],
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
                **kw,
            )
        )

    def site(self, name: str):  # -> sql.SqlStatement
        return self.profile.statement(name)


# ---- phases ------------------------------------------------------------------------------


def _preflight(b: _Builder, groups: tuple[Group, ...]) -> None:
    plan, phase = b.plan, Phase.PREFLIGHT
    for role, node in (("PRIMARY", plan.primary), ("BACKUP", plan.backup)):
        b.cl(
            phase,
            role,
            cl.build_chkobj_command("QSYS", b.profile.product_library, object_type="*LIB"),
            notes=("SSH reaches the node and the iCluster product library exists",),
        )
        b.query(phase, role, sql.OS_RELEASE, notes=("ODBC reaches the node",))
        b.query(
            phase,
            role,
            b.site("local_node"),
            notes=(f"the node must answer NODE={node.name} ROLE={role}",),
        )
        b.query(
            phase,
            role,
            sql.SUBSYSTEM_STATUS,
            (b.profile.product_library, b.profile.product_subsystem),
            notes=(f"{b.profile.product_subsystem} must be ACTIVE",),
        )
        b.query(
            phase,
            role,
            sql.LIBRARY_EXISTS,
            (plan.save_file_library,),
            notes=("the save-file library exists, or CRTLIB in phase 3",),
        )
        b.query(
            phase,
            role,
            sql.SYSTEM_STORAGE,
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
            notes=(f"node {node.name} must be active",),
        )
    for group in groups:
        b.query(
            phase,
            "PRIMARY",
            b.site("group_status"),
            (group.name,),
            group=group.name,
            notes=("the group exists; a running continuous sync check is noted",),
        )
        for library in group.libraries:
            b.query(
                phase,
                "PRIMARY",
                sql.LIBRARY_SUMMARY,
                (library,),
                group=group.name,
                subject=library,
                notes=("object count and size for the save estimate",),
            )


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
            condition="if the subsystem is ACTIVE (CPF1054: already ended)",
        )
        b.wait(
            phase,
            "PRIMARY",
            sql.SUBSYSTEM_STATUS,
            (subsystem.library, subsystem.name),
            until="STATUS = INACTIVE",
            timeout=plan.timeouts.subsystem_end,
            poll=plan.poll_intervals.subsystem,
            subject=subsystem.name,
        )
        b.cl(
            phase,
            "PRIMARY",
            cl.build_endsbs_command(subsystem.name, option="*IMMED"),
            subject=subsystem.name,
            condition=f"only if still not INACTIVE {apps.controlled_end_seconds} s after "
            "the controlled end",
        )
    names = [subsystem.name for subsystem in apps.subsystems]
    b.query(
        phase,
        "PRIMARY",
        sql.SUBSYSTEM_USER_JOBS,
        (sql.subsystem_list_filter(names),),
        notes=(f"remaining user jobs: policy '{apps.remaining_jobs}'; none may remain",),
    )
    for group in groups:
        for library in group.libraries:
            b.query(
                phase,
                "PRIMARY",
                sql.LIBRARY_OBJECT_LOCKS,
                (library,),
                group=group.name,
                subject=library,
                notes=("no lock may remain but this connection's job",),
            )


def _mark_group(b: _Builder, group: Group) -> None:
    plan, phase, profile = b.plan, Phase.MARK_POSITIONS, b.profile
    b.query(phase, "PRIMARY", b.site("group_status"), (group.name,), group=group.name)
    if group.active_continuous_sync_check:
        b.cl(
            phase,
            "PRIMARY",
            profile.command("end_sync_check", group=group.name),
            group=group.name,
            condition="if a continuous sync check runs (icluster.md §4.1)",
        )
    b.cl(
        phase,
        "PRIMARY",
        profile.command(
            "end_group", group=group.name, delay=plan.applications.controlled_end_seconds
        ),
        group=group.name,
        condition="if the group is active",
    )
    b.wait(
        phase,
        "PRIMARY",
        b.site("group_status"),
        (group.name,),
        until=f"STATUS = {profile.status.inactive}",
        timeout=plan.timeouts.mark_positions,
        poll=plan.poll_intervals.event_log,
        group=group.name,
    )
    b.cl(
        phase,
        "PRIMARY",
        profile.command("mark_positions", group=group.name),
        group=group.name,
        notes=("the time just before this command is the mark's start",),
    )
    b.wait(
        phase,
        "PRIMARY",
        b.site("event_log"),
        (group.name, MARK_START),
        until=f"{profile.messages.mark_complete} for {group.name} after the mark started "
        f"({profile.messages.mark_failed} fails the group)",
        timeout=plan.timeouts.mark_positions,
        poll=plan.poll_intervals.event_log,
        group=group.name,
        notes=("records the marked position",),
    )


def _save_group(b: _Builder, group: Group) -> None:
    plan, phase = b.plan, Phase.SAVE
    for library in group.libraries:
        savf = save_file_for_library(plan, library)
        _fresh_save_file(b, phase, "PRIMARY", savf, group.name, library)
        b.batch(
            phase,
            "PRIMARY",
            cl.build_savlib_command(library, savf, target_release=plan.target_release),
            action="SV",
            subject=library,
            group=group.name,
            expect=f"CPC3722 with the object count of {library} (LIBRARY_INFO)",
        )
    if group.ifs_paths:
        savf = save_file_for_ifs(plan, group.name)
        _fresh_save_file(b, phase, "PRIMARY", savf, group.name, str(savf.name))
        b.batch(
            phase,
            "PRIMARY",
            cl.build_sav_command(savf, group.ifs_paths),
            action="SI",
            subject=str(savf.name),
            group=group.name,
            expect="CPC370C, nothing not saved",
        )
    if group.dlo_folders:
        savf = save_file_for_dlo(plan, group.name)
        _fresh_save_file(b, phase, "PRIMARY", savf, group.name, str(savf.name))
        b.batch(
            phase,
            "PRIMARY",
            cl.build_savdlo_command(savf, group.dlo_folders),
            action="SD",
            subject=str(savf.name),
            group=group.name,
            expect="CPC9063",
        )


def _fresh_save_file(
    b: _Builder, phase: Phase, node: Role, savf: QualifiedName, group: str | None, subject: str
) -> None:
    b.cl(
        phase,
        node,
        cl.build_crtsavf_command(savf, text="iCluster resync"),
        group=group,
        subject=subject,
        condition="CPF5813 (exists) is followed by CLRSAVF",
    )
    b.cl(
        phase,
        node,
        cl.build_clrsavf_command(savf),
        group=group,
        subject=subject,
        condition="only if CRTSAVF answered CPF5813",
    )


def _save_security_data(b: _Builder) -> None:
    savf = save_file_for_security_data(b.plan)
    _fresh_save_file(b, Phase.SAVE, "PRIMARY", savf, None, str(savf.name))
    b.batch(
        Phase.SAVE,
        "PRIMARY",
        cl.build_savsecdta_command(savf),
        action="SS",
        subject=str(savf.name),
        expect="completion, no escape",
    )


def _restart_applications(b: _Builder) -> None:
    for subsystem in b.plan.applications.subsystems:
        b.cl(
            Phase.SAVE,
            "PRIMARY",
            cl.build_strsbs_command(subsystem.name, library=subsystem.library),
            subject=subsystem.name,
            condition="after every mark and every save of this run is verified "
            "(CPF1010: already active)",
        )


def _with_security_data(plan: Plan, groups: tuple[Group, ...]) -> bool:
    """Profiles and authorities travel with the SYSTEM group (runbook step 10)."""
    return bool(plan.user_profiles) and any(group.system for group in groups)


def _save_files(plan: Plan, groups: tuple[Group, ...]) -> list[tuple[str | None, QualifiedName]]:
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


def _transfer(b: _Builder, groups: tuple[Group, ...]) -> None:
    phase, checksum = Phase.TRANSFER, b.profile.checksum_program
    for group, savf in _save_files(b.plan, groups):
        path = savf.save_file_path()
        _fresh_save_file(b, phase, "BACKUP", savf, group, str(savf.name))
        b.steps.append(
            Step(
                phase,
                "PRIMARY",
                "SFTP",
                f"PRIMARY:{path} -> BACKUP:{path}",
                group=group,
                subject=str(savf.name),
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
                    "CL",
                    line,
                    group=group,
                    subject=str(savf.name),
                    shell=line,
                    notes=("checksums must match; retry on mismatch",),
                )
            )


def _confirm_backup(b: _Builder, phase: Phase, group: str | None = None) -> None:
    b.query(
        phase,
        "BACKUP",
        b.site("local_node"),
        group=group,
        notes=(
            f"destructive steps follow: the node must answer ROLE=BACKUP NODE={b.plan.backup.name}",
        ),
    )


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
                phase, "BACKUP", sql.LIBRARY_EXISTS, (library,), group=group.name, subject=library
            )
            b.cl(
                phase,
                "BACKUP",
                cl.build_clrlib_command(library),
                group=group.name,
                subject=library,
                condition="if the library exists on BACKUP",
            )


def _restore(b: _Builder, groups: tuple[Group, ...]) -> None:
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
            expect="CPC3705 (CPF3775 lists profiles not restored)",
        )
    for group in groups:
        for library in group.libraries:
            b.batch(
                phase,
                "BACKUP",
                cl.build_rstlib_command(library, save_file_for_library(plan, library)),
                action="RL",
                subject=library,
                group=group.name,
                expect="CPC3703, or CPF3773 with 0 not restored",
            )
            b.query(
                phase,
                "BACKUP",
                sql.LIBRARY_SUMMARY,
                (library,),
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
                expect="all objects restored",
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
                expect="CPC9053",
            )
    if security:
        b.batch(
            phase,
            "BACKUP",
            cl.build_rstaut_command(plan.user_profiles),
            action="RA",
            subject="RSTAUT",
            expect="completion; RSTAUT is last (ibmi.md §5.2)",
        )


def _start_cluster(b: _Builder) -> None:
    plan, phase, profile = b.plan, Phase.START_CLUSTER, b.profile
    b.cl(
        phase,
        "BACKUP",
        profile.command("start_cluster"),
        condition=f"if {profile.product_subsystem} or a node is not active",
    )
    for node in (plan.primary, plan.backup):
        b.cl(
            phase,
            "PRIMARY",
            profile.command("start_node", node=node.name),
            condition="if the node is not active",
        )
        b.wait(
            phase,
            "PRIMARY",
            b.site("node_status"),
            (node.name,),
            until=f"STATUS = {profile.status.active}",
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
    b.wait(
        phase,
        "PRIMARY",
        b.site("event_log"),
        (group.name, SYNC_CHECK_START),
        until=f"{profile.messages.sync_check_complete} for {group.name} "
        f"({profile.messages.sync_check_failed} fails)",
        timeout=plan.timeouts.sync_check,
        poll=plan.poll_intervals.event_log,
        group=group.name,
        notes=(
            f"differences above {plan.thresholds.sync_check_differences}: "
            f"{plan.thresholds.sync_check_over_threshold}",
        ),
    )


def _start_group(b: _Builder, group: Group) -> None:
    plan, phase, profile = b.plan, Phase.START_REPLICATION, b.profile
    b.cl(
        phase,
        "PRIMARY",
        profile.command("start_group_at_mark", group=group.name),
        group=group.name,
        condition="only if the marked position is the one recorded in phase 2"
        if group.system
        else "after the SYSTEM group started",
    )
    b.wait(
        phase,
        "PRIMARY",
        b.site("group_status"),
        (group.name,),
        until=f"STATUS = {profile.status.active}",
        timeout=plan.timeouts.latency,
        poll=plan.poll_intervals.latency,
        group=group.name,
    )


def _latency(b: _Builder, group: Group) -> None:
    plan = b.plan
    b.wait(
        Phase.LATENCY,
        "PRIMARY",
        b.site("latency"),
        (group.name,),
        until=f"source and apply latency <= {plan.thresholds.latency_seconds} s for "
        f"{plan.thresholds.latency_stable_polls} polls; frozen apply fails",
        timeout=plan.timeouts.latency,
        poll=plan.poll_intervals.latency,
        group=group.name,
    )


def _final(b: _Builder, group: Group) -> None:
    _sync_check(b, Phase.FINAL_SYNC_CHECK, group)
    if group.active_continuous_sync_check:
        b.cl(
            Phase.FINAL_SYNC_CHECK,
            "PRIMARY",
            b.profile.command("start_continuous_sync_check", group=group.name),
            group=group.name,
            condition="it was running before the resync",
        )


def resync_program(
    plan: Plan, options: RunOptions | None = None, *, run_key: str = "dry-run"
) -> list[Step]:
    """Every step of one resync run, in runbook order (see the module docstring)."""
    options = options or RunOptions()
    groups = options.selected_groups(plan)
    # The SYSTEM group starts first (runbook step 10), whatever its place in the plan.
    ordered = tuple(sorted(groups, key=lambda group: not group.system))
    b = _Builder(plan, run_key)
    _preflight(b, ordered)
    _end_applications(b, ordered)
    for group in ordered:
        _mark_group(b, group)
    if _with_security_data(plan, ordered):
        _save_security_data(b)
    for group in ordered:
        _save_group(b, group)
    _restart_applications(b)
    _transfer(b, ordered)
    _clear(b, ordered, options)
    _restore(b, ordered)
    _start_cluster(b)
    for group in ordered:
        _sync_check(b, Phase.SYNC_CHECK, group)
    for group in ordered:
        _start_group(b, group)
    for group in ordered:
        _latency(b, group)
    for group in ordered:
        _final(b, group)
    return b.steps


def changing_steps(steps: Iterable[Step]) -> list[Step]:
    """The steps that change a node: exactly what a dry run must never send."""
    return [step for step in steps if step.changes_node]
