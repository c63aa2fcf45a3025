"""One IBM i node as the resync sees it: SSH `system` does, ODBC SQL observes.

The node client knows IBM i (how a CL command travels, how its answer is read, how a batch
job is found again) but not how bytes travel: it talks to two small protocols, `Shell` and
`Database`, which the Airflow layer implements with SSHHook and OdbcHook and the tests
implement with the simulator or with fakes. That keeps this package free of Airflow.

Every command and statement sent is appended to `journal` (node, channel, text), which the
run report and the dry-run proof read. In dry-run mode a command that changes the node is
refused here, a second lock behind the DAG's own dry-run branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from ibmi_resync import sql
from ibmi_resync.cl import ClCommand, build_sbmjob_command
from ibmi_resync.messages import (
    IbmiMessage,
    MessageInfo,
    Outcome,
    SystemResult,
    parse_joblog_rows,
    parse_submitted_job,
    parse_system_output,
    summarise,
)
from ibmi_resync.names import Name, QualifiedName
from ibmi_resync.quoting import shell_command, shell_line
from ibmi_resync.site_profile import SiteProfile

__all__ = [
    "ChannelLost",
    "CommandFailed",
    "Database",
    "DryRunRefusal",
    "IbmiNode",
    "RoleMismatch",
    "SentCommand",
    "Shell",
]

Role = Literal["PRIMARY", "BACKUP"]
_SUCCESS = frozenset({Outcome.OK, Outcome.INFO})


class Shell(Protocol):
    """Runs one command line on the node's login shell; returns (exit status, stdout, stderr)."""

    def execute(self, line: str) -> tuple[int, str, str]: ...


class Database(Protocol):
    """Runs one read-only statement with parameter markers; returns rows keyed by column."""

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class SentCommand:
    node: str
    channel: Literal["ssh", "odbc"]
    text: str
    params: tuple[Any, ...] = ()
    changes_node: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class DryRunRefusal(RuntimeError):
    """A command that changes a node was about to be sent during a dry run."""


class RoleMismatch(RuntimeError):
    """The node answered with another name or role than the plan expects."""


class CommandFailed(RuntimeError):
    """A CL command ended with an outcome the caller did not accept; carries the messages."""

    def __init__(self, node: str, command: str, result: SystemResult, outcome: Outcome) -> None:
        self.node = node
        self.command = command
        self.result = result
        self.outcome = outcome
        shown = result.escape or (result.messages[-1] if result.messages else None)
        detail = f"{shown.msg_id}: {shown.text}" if shown else f"exit status {result.exit_status}"
        super().__init__(f"{node}: {command} ended {outcome.value}: {detail}")


class ChannelLost(ConnectionError):
    """The connection dropped mid-command: retryable, unlike an answer from IBM i."""


class IbmiNode:
    """A PRIMARY or BACKUP node reached through a `Shell` and a `Database`."""

    def __init__(
        self,
        *,
        name: str,
        role: Role,
        shell: Shell,
        database: Database,
        profile: SiteProfile,
        dry_run: bool = False,
        journal: list[SentCommand] | None = None,
        job_user: str | Callable[[], str | None] | None = None,
    ) -> None:
        self.name = str(Name(name, field="node"))
        # The user the shell signs on as; a callable when the shell only learns it from its
        # connection, which is looked up at the first command (transport.SshShell).
        self.job_user = job_user
        self.role = role
        self.shell = shell
        self.database = database
        self.profile = profile
        self.dry_run = dry_run
        self.journal: list[SentCommand] = journal if journal is not None else []
        self.message_catalog: Mapping[str, MessageInfo] = profile.message_catalog()

    # ---- doing: CL through PASE `system` (ibmi.md §2) ------------------------------------

    def run(
        self, command: ClCommand, *, accept: Iterable[Outcome] = _SUCCESS
    ) -> tuple[SystemResult, Outcome]:
        """Run one CL command; return its parsed answer, or raise CommandFailed.

        `accept` lists the outcomes the caller can live with: ENDSBS accepts ALREADY_DONE
        (CPF1054) and IN_PROGRESS (CPF0943), CRTSAVF accepts ALREADY_DONE (CPF5813).
        """
        text = command.render()
        line = shell_line(text, system_program=self.profile.system_program)
        if self.dry_run and command.changes_node:
            raise DryRunRefusal(f"{self.name}: dry run, not sending: {text}")
        self.journal.append(SentCommand(self.name, "ssh", text, changes_node=command.changes_node))
        status, stdout, stderr = self.shell.execute(line)
        if status is None or status < 0:
            # No exit status: the SSH channel closed before `system` ended (ibmi.md §2: the
            # status is the only success signal). Not an IBM i answer, so not a failure of
            # the command: the task's retry checks what was done before doing it again.
            raise ChannelLost(
                f"{self.name}: the SSH channel closed before {text} reported an exit status; "
                "it may or may not have run"
            )
        result = parse_system_output(stdout, stderr, status, extra_catalog=self.message_catalog)
        outcome = result.outcome(extra_catalog=self.message_catalog)
        if outcome not in set(accept):
            raise CommandFailed(self.name, text, result, outcome)
        return result, outcome

    def submit(self, command: ClCommand, *, job: str) -> str:
        """SBMJOB `command` as batch job `job`; return the qualified job name from CPC1221."""
        result, _ = self.run(
            build_sbmjob_command(command, job=job),
            accept={Outcome.OK, Outcome.INFO, Outcome.IN_PROGRESS},
        )
        qualified = parse_submitted_job(result)
        if qualified is None:
            raise CommandFailed(self.name, f"SBMJOB JOB({job})", result, Outcome.UNKNOWN)
        return qualified

    def checksum(self, save_file: QualifiedName) -> str:
        """Checksum of a save file's bytes on this node (ibmi.md §6: compare both ends)."""
        line = shell_command(
            self.profile.checksum_program, save_file.save_file_path(), field="checksum_program"
        )
        self.journal.append(SentCommand(self.name, "ssh", line))
        status, stdout, stderr = self.shell.execute(line)
        digest = stdout.split()[0] if stdout.split() else ""
        if status != 0 or len(digest) != 64:
            raise RuntimeError(
                f"{self.name}: {line} failed (exit {status}): {stderr.strip() or stdout.strip()}"
            )
        return digest

    # ---- observing: SQL over ODBC (ibmi.md §8) -------------------------------------------

    def query(self, statement: sql.SqlStatement, **values: Any) -> list[dict[str, Any]]:
        params = statement.bind(**values)
        self.journal.append(SentCommand(self.name, "odbc", statement.text, params))
        rows = self.database.fetch(statement.text, params)
        return [{str(key).upper(): value for key, value in row.items()} for row in rows]

    def site_query(self, name: str, **values: Any) -> list[dict[str, Any]]:
        return self.query(self.profile.statement(name), **values)

    def confirm_role(self, expected_node: str, expected_role: Role) -> None:
        """Ask the node who it is; destructive steps run only after this answers as planned."""
        rows = self.site_query("local_node")
        if len(rows) != 1:
            raise RoleMismatch(f"{self.name}: local node query returned {len(rows)} rows")
        node = str(rows[0].get("NODE", "")).strip().upper()
        role = str(rows[0].get("ROLE", "")).strip().upper()
        if node != expected_node or role != expected_role:
            raise RoleMismatch(
                f"connection for {expected_node} reached node {node or '?'} with role "
                f"{role or '?'}; the plan expects {expected_node} as {expected_role}"
            )

    def current_time(self) -> str:
        """The node's clock as ISO text: waits compare it with event-log timestamps."""
        rows = self.query(sql.NODE_CLOCK)
        value = rows[0]["NOW"] if rows else None
        if value is None:
            raise RuntimeError(f"{self.name}: the node did not tell its time")
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    def job_status(self, qualified_job: str) -> str | None:
        """V_JOB_STATUS of a batch job (*JOBQ, *ACTIVE, *OUTQ), None when it is gone."""
        rows = self.query(sql.JOB_STATUS, qualified_job_name=qualified_job)
        return str(rows[0]["V_JOB_STATUS"]).strip() if rows else None

    def job_log(self, qualified_job: str) -> tuple[IbmiMessage, ...]:
        return parse_joblog_rows(self.query(sql.JOB_LOG, qualified_job_name=qualified_job))

    def find_active_job(self, job: str) -> list[str]:
        """Qualified names of active jobs called `job` (a retried task looks before submitting)."""
        rows = self.query(sql.ACTIVE_JOBS_BY_NAME, job_name=str(Name(job, field="job")))
        return [str(row["JOB_NAME"]).strip() for row in rows]

    def find_other_jobs(self, job: str) -> list[tuple[str, str]]:
        """(qualified name, status) of jobs called `job` in any state (job queue, active,
        ended), oldest first; [] when the node's job user is not known.

        Why: ACTIVE_JOB_INFO sees neither a job still waiting on its job queue (submitting
        again would run two at once) nor one that ended while the worker was gone (its job
        log tells whether it must run again). JOB_INFO filters by user, so the user the
        SSH connection signs on as (the batch job's user, SBMJOB USER(*CURRENT)) is needed.
        """
        if callable(self.job_user):
            self.job_user = self.job_user()
        if not self.job_user:
            return []
        rows = self.query(
            sql.JOBS_BY_NAME_ANY_STATUS,
            job_user=str(Name(self.job_user, field="job_user")),
            job_name=str(Name(job, field="job")),
        )
        return [
            (str(row["JOB_NAME"]).strip(), str(row.get("JOB_STATUS", "")).strip().upper())
            for row in rows
        ]

    def job_outcome(self, qualified_job: str) -> Outcome:
        """How an ended job's log reads: OK, INFO, PARTIAL, FAILED ... (messages.summarise)."""
        rows = self.query(sql.JOB_LOG, qualified_job_name=qualified_job)
        return summarise(parse_joblog_rows(rows), extra_catalog=self.message_catalog)

    def library_object_count(self, library: str) -> int | None:
        rows = self.query(sql.LIBRARY_SUMMARY, library=str(Name(library, field="library")))
        if not rows or rows[0].get("OBJECT_COUNT") is None:
            return None
        return int(rows[0]["OBJECT_COUNT"])

    def subsystem_status(self, library: str, subsystem: str) -> str | None:
        rows = self.query(
            sql.SUBSYSTEM_STATUS,
            subsystem_library=str(Name(library, field="library")),
            subsystem=str(Name(subsystem, field="subsystem")),
        )
        return str(rows[0]["STATUS"]).strip().upper() if rows else None
