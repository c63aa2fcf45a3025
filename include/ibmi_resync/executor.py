"""Run program steps against the nodes: the same steps the dry run prints.

The DAG gives each task a slice of `resync_program` (one phase, one group) and an
`Executor`. The executor walks the slice: checks each step's guard (so a re-run finds work
already done and says so), sends CL through the node's SSH shell, reads SQL through ODBC,
attaches to a batch job an earlier attempt submitted instead of submitting it again, and
stops at each WAIT, handing back a `PendingWait` for the Airflow layer to defer on. After
the wait, `resume` records what it saw and the walk goes on from the next step.

Everything the walk learns (job names, the mark's start time, object counts, whether a
continuous sync check ran) lives in `RunState.values`, a JSON-serialisable dict, because the
Airflow task is rebuilt after every deferral.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from ibmi_resync import sql
from ibmi_resync.messages import Outcome, objects_not_restored, parse_joblog_rows, summarise
from ibmi_resync.node import IbmiNode, SentCommand
from ibmi_resync.program import (
    START_TIMES,
    SUBMITTED_JOB,
    Later,
    Step,
)
from ibmi_resync.waits import Verdict, evaluate

__all__ = [
    "HELD_FAILURES",
    "TRIGGER_STEP_KINDS",
    "Executor",
    "PendingWait",
    "RunState",
    "SaveFileMover",
    "StepFailed",
    "checkpoint",
    "earlier_answers",
    "from_checkpoint",
    "slice_digest",
    "task_result",
    "trigger_walks_on",
]


class StepFailed(RuntimeError):
    """A step did not end as the runbook requires; names node, phase, group and what was seen."""

    def __init__(self, step: Step, node: str, message: str) -> None:
        self.step = step
        self.node = node
        self.detail = message
        where = f"phase {step.phase.value} ({step.phase.name.lower()})"
        if step.group:
            where += f", group {step.group}"
        if step.subject and step.subject != step.group:
            where += f", {step.subject}"
        super().__init__(f"{node}, {where}: {message}")


# How many times a save file whose checksums differ is moved again before the step fails.
RETRANSFERS = 2
# Batch jobs (by their action's first letter: restores and the network refresh) whose clean
# end a retried task accepts instead of running them again; see Executor._earlier_job.
REUSABLE_WHEN_ENDED = ("R",)
# RunState key of failures a `keep_going` step held back until its task's slice ended.
HELD_FAILURES = "held_failures"


@dataclass
class RunState:
    """What one task has learned so far; JSON-serialisable for XCom and deferral kwargs."""

    values: dict[str, Any] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"values": dict(self.values), "log": list(self.log)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RunState:
        data = data or {}
        return cls(dict(data.get("values", {})), list(data.get("log", [])))


def checkpoint(state: RunState, inherited: Mapping[str, Any], index: int) -> dict[str, Any]:
    """What a deferral carries to resume the walk at the WAIT at `index`: the task's state,
    less what it inherited from earlier tasks (kept apart, so the XCom does not grow along
    the run), and the earlier answers themselves (a resume then reads no XCom)."""
    return {
        "state": RunState(_learned(state, inherited), list(state.log)).to_dict(),
        "inherited": dict(inherited),
        "index": index,
    }


def from_checkpoint(resume: Mapping[str, Any]) -> tuple[RunState, dict[str, Any], int]:
    """The state (earlier answers merged in), the earlier answers and the WAIT's index of a
    `checkpoint`; a fresh copy each time, so a walk that fails leaves the checkpoint whole."""
    if "state" not in resume or "index" not in resume:
        raise ValueError(f"a checkpoint without the task's state or index: {sorted(resume)}")
    inherited = resume.get("inherited")
    inherited = dict(inherited) if isinstance(inherited, Mapping) else {}
    state = RunState.from_dict(resume["state"])
    state.values = {**inherited, **state.values}
    return state, inherited, int(resume["index"])


def task_result(
    task: str, group: str | None, state: RunState, inherited: Mapping[str, Any]
) -> dict[str, Any]:
    """A finished task's XCom: only what it learned (not what it inherited) and its log."""
    return {"task": task, "group": group, **_learned(state, inherited), "log": state.log}


def _learned(state: RunState, inherited: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in state.values.items()
        if key not in inherited or inherited[key] != value
    }


# The step kinds a trigger runs after a wait ends: CL and SBMJOB through SSH, SQL through
# ODBC. Moving a save file (SFTP, CHECKSUM) stays on a worker: it holds a core for minutes.
TRIGGER_STEP_KINDS = frozenset({"CL", "SBMJOB", "SQL"})


def trigger_walks_on(steps: Sequence[Step], index: int) -> bool:
    """True when a trigger can walk the steps after the WAIT at `index`, up to the next WAIT
    or the slice's end: commands and batch jobs sent over SSH, checks read over ODBC, each
    step with the guard a worker checks (`TRIGGER_STEP_KINDS`).

    Why: a task that comes back to a worker when its wait ends pays a task start (1-3 s of
    wall time and the scheduler's and a worker's CPU, docs/benchmarks.md), on the outage's
    path for every group's mark and save. So the triggerer walks on itself
    (plugins/icluster_resync/trigger_walk.py): it sends the next command (DMMRKPOS after the
    group ended, the saves after the mark), polls the next wait, and ends the task; the task
    comes back to a worker only for a save file to move, or when something fails.
    """
    for step in steps[index + 1 :]:
        if step.kind == "WAIT":
            return True
        if step.kind not in TRIGGER_STEP_KINDS:
            return False
    return True


def _was_running(step: Step, values: Mapping[str, Any]) -> bool:
    """Whether the group's continuous sync check ran before this run ended it (STRCNSC's
    guard: it is started again only then)."""
    return bool(values.get(f"continuous:{step.group}"))


def slice_digest(steps: Sequence[Step]) -> str:
    """A fingerprint of a task's steps (node, kind, text, in order): a process that cuts the
    slice again checks it holds the same steps, at the same indexes, as the one it resumes."""
    text = "\n".join(f"{step.node} {step.kind} {step.text}" for step in steps)
    return hashlib.sha256(text.encode()).hexdigest()


def earlier_answers(steps: Sequence[Step]) -> set[str]:
    """The keys of `RunState.values` these steps read that an earlier task may have learned:
    the object count pre-flight recorded (a save's job log is checked against it), the saved
    count (a restore is reconciled against it), the marked position (replication starts
    only there) and whether a continuous sync check ran before (it is started again).

    Why: a task whose steps read none of them needs no upstream XCom; every upstream task
    it would pull is a request to the api-server at each task start. Kept next to the guards
    and checks that read these keys (`_guard_says_skip`, `_check_job_log`,
    `_check_restored_count`); tests/unit/test_executor.py proves the list complete.
    """
    keys: set[str] = set()
    for step in steps:
        if step.guard == "was_running":
            keys.add(f"continuous:{step.group}")
        elif step.guard == "mark_recorded":
            keys.add(f"event:{step.group}:2")
        expect = step.expect or {}
        if step.check == "job_log" and expect.get("kind") == "saved":
            keys.add(f"count:{expect['library']}")
        elif step.check == "restored_count":
            keys.add(f"saved:{step.subject}")
    return keys


def learned_answers(steps: Sequence[Step]) -> set[str]:
    """The keys of `earlier_answers`' kinds these steps write: the object counts pre-flight
    records, the saved counts a save's job log gives, the completion event a group's wait
    sees, whether a continuous sync check runs.

    Why: a task reads the XComs of only the upstream tasks that learn what it needs
    (`tasks.answering_tasks`), not of every task before it. Kept next to the checks that
    write these keys (`_check_object_count`, `_check_job_log`, `resume`, `_guard_says_skip`);
    tests/unit/test_executor.py proves the list complete.
    """
    keys: set[str] = set()
    for step in steps:
        expect = step.expect or {}
        if step.check == "object_count":
            keys.add(f"count:{step.subject}")
        elif step.check == "job_log" and expect.get("kind") == "saved":
            keys.add(f"saved:{expect['library']}")
        if step.kind == "WAIT" and step.group:
            keys.add(f"event:{step.group}:{step.phase.value}")
        if step.guard == "continuous_sync_check":
            keys.add(f"continuous:{step.group}")
    return keys


@dataclass(frozen=True)
class PendingWait:
    """A WAIT step to run deferred: poll `sql` with `params` on `node` until `condition`."""

    index: int
    node: str
    sql: str
    params: list[Any]
    condition: dict[str, Any]
    poll_seconds: float
    timeout_seconds: float


class SaveFileMover(Protocol):
    """Copies a save file's bytes from one node to the other; returns the bytes moved."""

    def __call__(self, source: str, target: str, path: str) -> int: ...


class Executor:
    """Walks program steps on a PRIMARY and a BACKUP `IbmiNode` (see the module docstring)."""

    def __init__(
        self,
        nodes: Mapping[str, IbmiNode],
        state: RunState | None = None,
        *,
        log: Callable[[str], None] = lambda _message: None,
        mover: SaveFileMover | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.nodes = nodes
        self.names = dict(names or {})  # role -> node name, for messages without a connection
        self.mover = mover
        self.state = state or RunState()
        self.say = log
        self._steps: Sequence[Step] = ()

    # ---- the walk ------------------------------------------------------------------------

    def run(
        self, steps: Sequence[Step], start: int = 0, *, poll_first: bool = True
    ) -> PendingWait | None:
        """Run steps from `start`; return the first WAIT to defer on, or None when done.

        `poll_first`: poll a WAIT once before returning it, and go on when it is already
        over. The triggerer's walk passes False: it polls the wait itself at once, and decides
        at each wait's end whether the steps after it need a worker (`trigger_walks_on`).
        """
        self._steps = steps
        for index in range(start, len(steps)):
            step = steps[index]
            if step.kind == "WAIT":
                pending = self._pending(index, step)
                if not poll_first:
                    return pending
                verdict = self._poll_once(pending)
                if verdict is None or not (verdict.done and verdict.ok):
                    return pending
                # Already over: no deferral round trip (seconds to a minute on a busy
                # scheduler) for a job that ended or a group already inactive.
                event = {"status": "done", "seen": verdict.seen, "details": verdict.details}
                self.resume(steps, index, event)
                continue
            handler = self._handlers.get(step.kind)
            if handler is None:
                raise StepFailed(step, step.node, f"{step.kind} steps are run by their own task")
            handler(self, index, step)
        held = self.state.values.get(HELD_FAILURES) or []
        if held:
            first = steps[held[0]["index"]]
            listed = "; ".join(item["message"] for item in held)
            raise StepFailed(
                first,
                self._node_name(first),
                f"{len(held)} restore(s) did not end clean, every other one was attempted: "
                f"{listed}",
            )
        return None

    def resume(self, steps: Sequence[Step], index: int, event: Mapping[str, Any]) -> None:
        """Record how the WAIT at `index` ended; raise if it failed (timeouts included)."""
        step = steps[index]
        status, seen = event.get("status"), event.get("seen", "")
        self._record(index, step, str(status), seen)
        details = event.get("details") or {}
        if status == "done":
            if step.group and details.get("message_text"):
                self.state.values[f"event:{step.group}:{step.phase.value}"] = details
            return
        follows_immediate_end = index + 1 < len(steps) and steps[index + 1].guard == (
            "wait_timed_out"
        )
        if status == "timeout" and follows_immediate_end:
            self.state.values[f"timed_out:{index}"] = True
            return
        verb = "timed out" if status == "timeout" else "failed"
        raise StepFailed(step, self._node_name(step), f"wait for {step.until} {verb}: {seen}")

    # ---- step kinds ----------------------------------------------------------------------

    def _cl(self, index: int, step: Step) -> None:
        node = self._node(step)
        skip = self._guard_says_skip(index, step, node)
        if skip:
            self._record(index, step, "skipped", skip)
            return
        if step.command is None:
            raise StepFailed(step, node.name, "a CL step without its command")
        if self._next_wait_needs_start(self._steps[index + 1 : index + 2]):
            # The node's clock, not the worker's: event-log timestamps are written by IBM i.
            self.state.values[f"started:{step.group}:{step.phase.value}"] = node.current_time()
        _, outcome = node.run(step.command, accept={Outcome(o) for o in step.accept})
        self.state.values[f"outcome:{index}"] = outcome.value
        self._record(index, step, outcome.value, step.text)

    def _sbmjob(self, index: int, step: Step) -> None:
        node = self._node(step)
        assert step.job is not None and step.command is not None
        key = f"job:{step.job}"
        known = self.state.values.get(key)
        if known:
            self._record(index, step, "attached", f"job {known} of this run already submitted")
            return
        active = node.find_active_job(step.job)
        if active:
            self.state.values[key] = active[0]
            self._record(index, step, "attached", f"job {active[0]} already running")
            return
        found = self._earlier_job(index, step, node)
        if found:
            self.state.values[key] = found
            return
        if self._batch_waits_for_start(index):
            # As for a CL step: a message written after the job was submitted ends the wait.
            self.state.values[f"started:{step.group}:{step.phase.value}"] = node.current_time()
        qualified = node.submit(step.command, job=step.job)
        self.state.values[key] = qualified
        self._record(index, step, "submitted", qualified)

    def _earlier_job(self, index: int, step: Step, node: IbmiNode) -> str | None:
        """A job of this run an earlier attempt submitted that must not be submitted again:
        one still on its job queue, or a restore that ended clean (its job log is checked
        next, as if this attempt had waited for it). A restore that ended otherwise runs
        again. Saves are not reused: their task clears the save file before the SBMJOB."""
        assert step.job is not None
        try:
            earlier = node.find_other_jobs(step.job)
        except Exception as error:  # JOB_INFO's columns are [G] (sql.py): never block on it
            self.say(f"could not look for earlier jobs {step.job} ({error}); submitting")
            return None
        for qualified, status in reversed(earlier):
            if status in ("*JOBQ", "*ACTIVE"):
                self._record(index, step, "attached", f"job {qualified} is {status}")
                return qualified
            if status == "*OUTQ" and step.job.startswith(REUSABLE_WHEN_ENDED):
                outcome = node.job_outcome(qualified)
                if outcome in (Outcome.OK, Outcome.INFO):
                    detail = f"job {qualified} of an earlier attempt ended {outcome.value}"
                    self._record(index, step, "attached", detail)
                    return qualified
                self.say(f"job {qualified} of an earlier attempt ended {outcome.value}: again")
                return None
        return None

    def _sql(self, index: int, step: Step) -> None:
        node = self._node(step)
        assert step.statement is not None
        if step.check == "restored_count" and step.subject in self._held_subjects():
            self._record(index, step, "skipped", f"the restore of {step.subject} failed")
            return
        values = dict(zip(step.statement.params, self._params(step), strict=True))
        rows = node.query(step.statement, **values)
        check = _CHECKS.get(step.check or "answers")
        if check is None:
            raise StepFailed(step, node.name, f"unknown check {step.check!r}")
        try:
            message = check(self, index, step, node, rows)
        except StepFailed as error:
            if not (step.expect or {}).get("keep_going"):
                raise
            # Held until the slice ends: the other restores of the group still run.
            held = self.state.values.setdefault(HELD_FAILURES, [])
            held.append({"index": index, "subject": step.subject, "message": error.detail})
            self._record(index, step, "failed", error.detail)
            return
        self._record(index, step, "checked", message)

    def _held_subjects(self) -> set[str]:
        return {str(item["subject"]) for item in self.state.values.get(HELD_FAILURES) or []}

    def _sftp(self, index: int, step: Step) -> None:
        if self.mover is None:
            raise StepFailed(step, step.node, "no save-file mover was given to this task")
        path = step.text.split(" -> ", 1)[0].split(":", 1)[1]
        moved = self.mover("PRIMARY", "BACKUP", path)
        for role in ("PRIMARY", "BACKUP"):
            self.state.values.pop(f"checksum:{path}:{role}", None)
        self._record(index, step, "moved", f"{moved} bytes")

    def _checksum(self, index: int, step: Step) -> None:
        """Checksum both copies (ibmi.md §6); on a mismatch the save file is moved again, up
        to RETRANSFERS times, before the step fails naming the file and both digests."""
        node = self._node(step)
        digest = self._digest(step, node)
        path = step.shell.split(" ", 1)[1].strip("'") if step.shell else ""
        other = "PRIMARY" if step.node == "BACKUP" else "BACKUP"
        theirs = self.state.values.get(f"checksum:{path}:{other}")
        moves = 0
        while theirs is not None and theirs != digest and moves < RETRANSFERS and self.mover:
            moves += 1
            self.say(f"checksum of {path} differs between the nodes: moving it again ({moves})")
            self.mover("PRIMARY", "BACKUP", path)
            if step.node == "BACKUP":
                digest = self._digest(step, node)
            else:  # the BACKUP copy changed: read its digest again
                theirs = self._digest(step, self.nodes["BACKUP"])
        self.state.values[f"checksum:{path}:{step.node}"] = digest
        if theirs is not None:
            self.state.values[f"checksum:{path}:{other}"] = theirs
        if theirs is not None and theirs != digest:
            raise StepFailed(
                step,
                node.name,
                f"checksum of {path} differs after {moves} new transfer(s): PRIMARY and BACKUP "
                f"copies are {self.state.values[f'checksum:{path}:PRIMARY']} and "
                f"{self.state.values[f'checksum:{path}:BACKUP']}",
            )
        self._record(
            index, step, "checked", f"{digest} ({moves} new transfer(s))" if moves else digest
        )

    def _digest(self, step: Step, node: IbmiNode) -> str:
        assert step.shell is not None
        node.journal.append(SentCommand(node.name, "ssh", step.shell))
        status, stdout, stderr = node.shell.execute(step.shell)
        digest = stdout.split()[0] if stdout.split() else ""
        if status != 0 or len(digest) != 64:
            detail = stderr.strip() or stdout.strip()
            raise StepFailed(step, node.name, f"{step.shell} failed (exit {status}): {detail}")
        return digest

    # ---- guards and checks ---------------------------------------------------------------

    def _guard_says_skip(self, index: int, step: Step, node: IbmiNode) -> str | None:
        """Why the step is not needed now, or None to run it."""
        guard = step.guard
        values = self.state.values
        if guard is None:
            return None
        if guard == "already_existed":
            previous = values.get(f"outcome:{index - 1}")
            if previous != Outcome.ALREADY_DONE.value:
                return "save file was new"
            return self._saving_into(index, node)
        if guard == "wait_timed_out":
            return None if values.get(f"timed_out:{index - 1}") else "ended in time"
        if guard == "found":
            return None if values.get(f"found:{index - 1}") else "not on this node"
        if guard == "subsystem_active":
            library, name = _subsystem_of(step)
            status = node.subsystem_status(library, name)
            return None if status == "ACTIVE" else f"subsystem {name} is {status or 'unknown'}"
        profile = node.profile
        if guard in ("group_active", "continuous_sync_check"):
            rows = node.site_query("group_status", group=step.group)
            row = rows[0] if rows else {}
            if guard == "group_active":
                status = str(row.get("STATUS", "")).strip().upper()
                return None if status == profile.status.active.upper() else f"group {status}"
            running = _truthy(row.get("CONTINUOUS_SYNC_CHECK"))
            values[f"continuous:{step.group}"] = running
            return None if running else "no continuous sync check runs"
        if guard == "was_running":
            return None if _was_running(step, values) else "none ran before"
        if guard == "not_active":
            return None  # DMSTRCST/DMSTRNODE on an active node are harmless [I]
        if guard == "mark_recorded":
            event = values.get(f"event:{step.group}:2")
            if not event:
                raise StepFailed(step, node.name, "no marked position recorded in phase 2")
            # A retried or repeated start finds the group already replicating: starting it
            # again is not needed (and iCluster would refuse it), so say so and go on.
            rows = node.site_query("group_status", group=step.group)
            status = str((rows[0] if rows else {}).get("STATUS", "")).strip().upper()
            return "group already active" if status == profile.status.active.upper() else None
        raise StepFailed(step, node.name, f"unknown guard {guard!r}")

    def _saving_into(self, index: int, node: IbmiNode) -> str | None:
        """Why not to clear the save file before the SBMJOB at `index + 1`: a job of this run
        of that name is still on its job queue or active, saving into it (a retried task, or
        a trigger started again after its triggerer died, walks its steps again; the SBMJOB
        then attaches to that job). None when no such job is found.

        Why: CLRSAVF on a save file a running save has allocated fails (ibmi.md §10.3: a save
        never appends, so the file is cleared before each save, and only then)."""
        following = self._steps[index + 1] if index + 1 < len(self._steps) else None
        if following is None or following.kind != "SBMJOB" or following.job is None:
            return None
        job = following.job
        if self.state.values.get(f"job:{job}") or node.find_active_job(job):
            return f"job {job} of this run is saving into it"
        try:
            earlier = node.find_other_jobs(job)
        except Exception as error:  # JOB_INFO's columns are [G] (sql.py), as in _earlier_job
            self.say(f"could not look for earlier jobs {job} ({error}); clearing")
            return None
        if any(status in ("*JOBQ", "*ACTIVE") for _, status in earlier):
            return f"job {job} of this run is on its job queue"
        return None

    # ---- helpers -------------------------------------------------------------------------

    def _node(self, step: Step) -> IbmiNode:
        return self.nodes[step.node]

    def _node_name(self, step: Step) -> str:
        """The node's name for a message, also when no connection is open (a wait's end)."""
        node = self.nodes.get(step.node)
        return node.name if node is not None else self.names.get(step.node, step.node)

    def _params(self, step: Step) -> list[Any]:
        return [self._resolve(step, value) for value in step.params]

    def _resolve(self, step: Step, value: Any) -> Any:
        if not isinstance(value, Later):
            return value
        if value is SUBMITTED_JOB:
            job = self.state.values.get(f"job:{step.job}")
            if job is None:
                raise StepFailed(step, step.node, f"job {step.job} was never submitted")
            return job
        if value in START_TIMES:
            started = self.state.values.get(f"started:{step.group}:{step.phase.value}")
            if started is None:
                raise StepFailed(step, step.node, f"no start time recorded for {value!r}")
            return started
        raise StepFailed(step, step.node, f"cannot resolve {value!r}")

    def _poll_once(self, pending: PendingWait) -> Verdict | None:
        """One poll of the wait on the connection this task already has; None when it is
        not open or the poll fails (the deferred trigger then polls, with its own retries)."""
        node = self.nodes.get(pending.node)
        if node is None:
            return None
        try:
            rows = node.database.fetch(pending.sql, pending.params)
            return evaluate(pending.condition, rows)
        except Exception as error:  # the trigger's polls decide; this one only saves time
            self.say(f"first poll of the wait failed ({type(error).__name__}); deferring")
            return None

    def _pending(self, index: int, step: Step) -> PendingWait:
        assert step.statement is not None and step.wait is not None
        condition = {k: self._resolve(step, v) for k, v in step.wait.items()}
        return PendingWait(
            index=index,
            node=step.node,
            sql=step.statement.text,
            params=self._params(step),
            condition=condition,
            poll_seconds=float(step.poll_seconds or 5),
            timeout_seconds=float(step.timeout_seconds or 3600),
        )

    @staticmethod
    def _next_wait_needs_start(steps_after: Sequence[Step]) -> bool:
        """True when the next step waits for a message written after this command started."""
        following = steps_after[0] if steps_after else None
        return (
            following is not None
            and following.kind == "WAIT"
            and any(value in START_TIMES for value in following.params)
        )

    def _batch_waits_for_start(self, index: int) -> bool:
        """True when a wait after this batch job (and its own job-end wait and job-log check),
        before the next command, is for a message written after the job started."""
        for following in self._steps[index + 1 :]:
            if following.kind in ("CL", "SBMJOB"):
                return False
            if following.kind == "WAIT" and any(v in START_TIMES for v in following.params):
                return True
        return False

    def _record(self, index: int, step: Step, result: str, detail: str) -> None:
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "index": index,
            "phase": step.phase.value,
            "node": step.node,
            "kind": step.kind,
            "group": step.group,
            "subject": step.subject,
            "text": step.text,
            "result": result,
            "detail": detail,
        }
        self.state.log.append(entry)
        self.say(f"{step.node} {step.kind} {result}: {step.text} -- {detail}")

    _handlers: ClassVar[dict[str, Callable[[Executor, int, Step], None]]] = {}


Executor._handlers = {
    "CL": Executor._cl,
    "SBMJOB": Executor._sbmjob,
    "SQL": Executor._sql,
    "SFTP": Executor._sftp,
    "CHECKSUM": Executor._checksum,
}


def _truthy(value: Any) -> bool:
    return str(value).strip().upper() in {"1", "Y", "YES", "TRUE", "*YES", "ACTIVE", "*ACTIVE"}


def _subsystem_of(step: Step) -> tuple[str, str]:
    """(library, name) of the subsystem an ENDSBS step ends; the program puts the library
    of its description in `expect` (SUBSYSTEM_INFO is keyed by both, ibmi.md §7.2)."""
    return str((step.expect or {}).get("library", "")), str(step.subject or "")


# ---- SQL checks: each returns a line for the log or raises StepFailed ----------------------


def _check_answers(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    return f"{len(rows)} row(s)"


def _check_local_node(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    expect = step.expect or {}
    if len(rows) != 1:
        raise StepFailed(step, node.name, f"the local-node query returned {len(rows)} rows")
    name = str(rows[0].get("NODE", "")).strip().upper()
    role = str(rows[0].get("ROLE", "")).strip().upper()
    if (name, role) != (expect.get("node"), expect.get("role")):
        raise StepFailed(
            step,
            node.name,
            f"the node answered NODE={name or '?'} ROLE={role or '?'}; the plan expects "
            f"NODE={expect.get('node')} ROLE={expect.get('role')}",
        )
    return f"NODE={name} ROLE={role}"


def _check_subsystem_active(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    status = str(rows[0].get("STATUS", "")).strip().upper() if rows else "not found"
    if status != "ACTIVE":
        raise StepFailed(step, node.name, f"subsystem {step.params[-1]} is {status}")
    return "ACTIVE"


def _check_found(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    ex.state.values[f"found:{index}"] = bool(rows)
    if not rows and not (step.expect or {}).get("optional"):
        raise StepFailed(step, node.name, f"{step.subject or step.params} not found")
    return "found" if rows else "not found"


def _check_storage(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    used = rows[0].get("SYSTEM_ASP_USED") if rows else None
    if used is None:
        return "storage figures not available"
    free = 100.0 - float(used)
    minimum = float((step.expect or {}).get("min_free_percent", 0))
    if free < minimum:
        raise StepFailed(step, node.name, f"{free:.1f}% storage free, the plan needs {minimum}%")
    return f"{free:.1f}% free"


def _check_node_active(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    status = str(rows[0].get("STATUS", "")).strip().upper() if rows else "not found"
    if status != node.profile.status.active.upper():
        raise StepFailed(step, node.name, f"iCluster node {step.subject} is {status}")
    return status


def _check_group_known(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    if not rows:
        raise StepFailed(step, node.name, f"replication group {step.group} is not defined")
    status = str(rows[0].get("STATUS", "")).strip()
    return f"STATUS={status}"


def _check_object_count(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    if not rows or rows[0].get("OBJECT_COUNT") is None:
        raise StepFailed(step, node.name, f"library {step.subject} not found")
    count = int(rows[0]["OBJECT_COUNT"])
    ex.state.values[f"count:{step.subject}"] = count
    return f"{count} objects"


def _check_no_user_jobs(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    if rows:
        names = ", ".join(str(row.get("JOB_NAME", "?")).strip() for row in rows[:20])
        raise StepFailed(step, node.name, f"{len(rows)} user job(s) still active: {names}")
    return "no user jobs"


def _check_no_foreign_locks(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    if rows:
        holders = sorted({str(row.get("JOB_NAME", "?")).strip() for row in rows})
        raise StepFailed(step, node.name, f"objects still locked by {', '.join(holders[:10])}")
    return "no locks"


def _check_job_log(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    messages = parse_joblog_rows(rows)
    expect = step.expect or {}
    outcome = summarise(messages, extra_catalog=node.message_catalog)
    counts = [m.counts for m in messages if m.counts is not None]
    if expect.get("kind") == "saved":
        saved = sum(c.saved or 0 for c in counts)
        not_saved = sum(c.not_saved or 0 for c in counts)
        wanted = ex.state.values.get(f"count:{expect['library']}")
        ex.state.values[f"saved:{expect['library']}"] = saved
        if outcome not in (Outcome.OK, Outcome.INFO) or not_saved:
            raise StepFailed(
                step,
                node.name,
                f"save of {expect['library']} ended {outcome.value}: "
                f"{saved} saved, {not_saved} not saved; {_last_text(messages)}"
                f"{_locked_objects(node, expect['library']) if not_saved else ''}",
            )
        if wanted is not None and saved != wanted:
            raise StepFailed(
                step,
                node.name,
                f"{saved} objects saved from {expect['library']}, the library holds {wanted}",
            )
        return f"{saved} objects saved"
    if expect.get("kind") == "restored":
        missing = objects_not_restored(messages)
        if outcome not in (Outcome.OK, Outcome.INFO):
            listed = ", ".join(f"{o.name} {o.type}" for o in missing[:20])
            raise StepFailed(
                step,
                node.name,
                f"restore of {expect['library']} ended {outcome.value}: "
                f"{listed or _last_text(messages)}",
            )
        restored = sum(c.restored or 0 for c in counts)
        ex.state.values[f"restored:{expect['library']}"] = restored
        return f"{restored} objects restored"
    if outcome not in (Outcome.OK, Outcome.INFO):
        raise StepFailed(step, node.name, f"job ended {outcome.value}: {_last_text(messages)}")
    return outcome.value


def _locked_objects(node: IbmiNode, library: str) -> str:
    """The objects of ``library`` that jobs lock now, with the jobs: the likely reason for a
    partial save, named so the operator can end those jobs and retry.

    Why a lock query: CPF3771 carries counts only and ibmi.md §5.3 documents no per-object "not
    saved" diagnostic with a text (see ``objects_not_saved``); OBJECT_LOCK_INFO (ibmi.md §7.2)
    names what a SAVACT(*NO) save had to skip. A failed lookup never hides the save failure.
    """
    try:
        rows = node.query(sql.LIBRARY_OBJECT_LOCKS, library=library)
    except Exception as error:  # the save failure above is the message that matters
        return f"; locked objects could not be listed ({type(error).__name__})"
    held: dict[str, set[str]] = {}
    for row in rows:
        name = f"{str(row.get('SYSTEM_OBJECT_NAME', '?')).strip()} {row.get('OBJECT_TYPE', '')}"
        held.setdefault(name.strip(), set()).add(str(row.get("JOB_NAME", "?")).strip())
    if not held:
        return "; no object of the library is locked now"
    listed = [f"{name} ({', '.join(sorted(jobs))})" for name, jobs in sorted(held.items())]
    more = f" and {len(listed) - 20} more" if len(listed) > 20 else ""
    return f"; locked now: {', '.join(listed[:20])}{more}"


def _last_text(messages: Sequence[Any]) -> str:
    for message in reversed(messages):
        if message.msg_id:
            return f"{message.msg_id}: {message.text}"
    return "no message"


def _check_restored_count(
    ex: Executor, index: int, step: Step, node: IbmiNode, rows: list[dict[str, Any]]
) -> str:
    restored = int(rows[0]["OBJECT_COUNT"]) if rows and rows[0].get("OBJECT_COUNT") else 0
    saved = ex.state.values.get(f"saved:{step.subject}")
    ex.state.values[f"backup_count:{step.subject}"] = restored
    if saved is not None and restored != saved:
        raise StepFailed(
            step, node.name, f"{step.subject} holds {restored} objects on BACKUP, {saved} saved"
        )
    return f"{restored} objects on BACKUP"


_CHECKS: dict[str, Callable[[Executor, int, Step, IbmiNode, list[dict[str, Any]]], str]] = {
    "answers": _check_answers,
    "local_node": _check_local_node,
    "subsystem_active": _check_subsystem_active,
    "found": _check_found,
    "storage": _check_storage,
    "node_active": _check_node_active,
    "group_known": _check_group_known,
    "object_count": _check_object_count,
    "no_user_jobs": _check_no_user_jobs,
    "no_foreign_locks": _check_no_foreign_locks,
    "job_log": _check_job_log,
    "restored_count": _check_restored_count,
}
