"""A deferred task ends in the triggerer: when its wait ends, the trigger walks the steps after
it with the worker's executor and steps (commands and batch jobs over SSH, checks over ODBC),
polls the next wait itself, and ends the task with the same XCom a worker would have returned;
anything it cannot do (a save file to move, a step that fails) resumes the task on a worker at
its wait."""

from __future__ import annotations

import asyncio
import shlex
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from ibmi_resync.executor import PendingWait, RunState, checkpoint, slice_digest
from ibmi_resync.node import CommandFailed, IbmiNode
from ibmi_resync.plan import RunOptions, load_plan
from ibmi_resync.program import resync_program
from ibmi_resync.tasks import build_task_steps
from icluster_resync.operators import ResyncTaskOperator, _run_key
from icluster_resync.rehearsal import RehearsalRestartOperator
from icluster_resync.trigger_walk import TriggerWalk, WorkerNext
from icluster_resync.triggers import ENDED_HERE, NodeQueryTrigger
from tests.plugins.conftest import ROOT, Scripted

PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")


def _context(try_number: int = 2) -> dict[str, Any]:
    return {
        "params": {},
        "dag_run": mock.Mock(run_id="manual__2026-11-25"),
        "ti": mock.Mock(try_number=try_number),
    }


def _deferred(task: str = "end_applications", **kwargs: Any) -> NodeQueryTrigger:
    operator = ResyncTaskOperator(task_id=task, resync_task=task, **kwargs)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, NodeQueryTrigger)
    return trigger


TI = SimpleNamespace(dag_id="icluster_resync", task_id="t", run_id="r", map_index=1)
PUSHED: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def xcom_pushes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the trigger pushes through the SDK's XCom (a worker's path to the API)."""
    PUSHED.clear()

    def push(key: str, value: Any, **where: Any) -> None:
        PUSHED.append({"key": key, "value": value, **where})

    monkeypatch.setattr("icluster_resync.triggers.XCom.set", push)
    return PUSHED


def _run(trigger: NodeQueryTrigger, database: Any, *, in_triggerer: bool) -> list[TriggerEvent]:
    """Every event the trigger yields, its databases all `database`; `in_triggerer` says
    whether a real triggerer runs it (it sets the trigger's task instance), or dag.test()."""
    trigger = NodeQueryTrigger(**trigger.serialize()[1])  # as the triggerer builds it
    trigger.task_instance = TI if in_triggerer else None

    async def collect() -> list[TriggerEvent]:
        with mock.patch.object(trigger, "_database", mock.AsyncMock(return_value=database)):
            return [event async for event in trigger.run()]

    return asyncio.run(collect())


def _pushed_result() -> dict[str, Any]:
    (pushed,) = PUSHED
    where = {k: pushed[k] for k in ("key", "dag_id", "task_id", "run_id", "map_index")}
    assert where == {"key": "return_value", **vars(TI)}
    return pushed["value"]


def _without_times(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "log": [{k: v for k, v in e.items() if k != "at"} for e in result["log"]]}


def test_end_applications_ends_in_the_triggerer_with_the_xcom_a_worker_returns(
    scripted: Scripted,
) -> None:
    trigger = _deferred()
    assert trigger.rest is not None and trigger.rest["task"] == "end_applications"
    scripted.subsystem_status = "INACTIVE"
    (ended,) = _run(trigger, scripted, in_triggerer=True)
    assert isinstance(ended, TaskSuccessEvent) and not ended.xcoms
    walked = _pushed_result()
    # What a worker returns when it resumes on the plain event of the same wait.
    (event,) = _run(
        NodeQueryTrigger(**{**trigger.serialize()[1], "rest": None}), scripted, in_triggerer=True
    )
    again = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    worked = again.execute_complete(_context(), event.payload)
    assert _without_times(walked) == _without_times(worked)
    assert walked["attempt"] == 2
    # the wait, the *IMMED end its guard skipped, no user jobs, no locks in 4 libraries
    assert [e["result"] for e in walked["log"]][-7:] == ["done", "skipped"] + ["checked"] * 5
    assert scripted.sent == ["QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD) DELAY(120)"]  # no more


def test_under_dag_test_the_walked_result_comes_back_to_the_operator(scripted: Scripted) -> None:
    trigger = _deferred()
    scripted.subsystem_status = "INACTIVE"
    (event,) = _run(trigger, scripted, in_triggerer=False)
    assert type(event) is TriggerEvent and event.payload["status"] == "done"
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    result = operator.execute_complete(_context(), event.payload)
    assert result == event.payload["finished"]
    assert result["log"][-1]["result"] == "checked"


def test_a_failed_check_resumes_the_task_on_a_worker_at_its_wait(scripted: Scripted) -> None:
    trigger = _deferred()
    scripted.subsystem_status = "INACTIVE"
    (event,) = _run(trigger, _UserJobLeft(scripted), in_triggerer=True)
    assert type(event) is TriggerEvent
    assert event.payload["status"] == "done" and "finished" not in event.payload
    assert event.payload["resume"] == trigger.resume  # the checkpoint of the wait, untouched
    assert not PUSHED
    scripted.subsystem_status = "X"  # the worker's nodes see the user job too
    operator = ResyncTaskOperator(task_id="end_applications", resync_task="end_applications")
    with pytest.raises(AirflowFailException, match="user job"):
        operator.execute_complete(_context(), event.payload)


class _UserJobLeft:
    """The subsystem ended, but a user's job is still active."""

    def __init__(self, scripted: Scripted) -> None:
        self.scripted = scripted

    def fetch(self, text: str, params: list[Any]) -> list[dict[str, Any]]:
        if "ACTIVE_JOB_INFO" in text:
            return [{"JOB_NAME": "123456/CLERK/QPADEV0001"}]
        return self.scripted.fetch(text, params)

    def close(self) -> None:
        pass


def test_steps_cut_differently_resume_the_task_on_a_worker(scripted: Scripted) -> None:
    trigger = _deferred()
    scripted.subsystem_status = "INACTIVE"
    assert trigger.rest is not None
    changed = NodeQueryTrigger(
        **{**trigger.serialize()[1], "rest": {**trigger.rest, "digest": "0"}}
    )
    (event,) = _run(changed, scripted, in_triggerer=True)
    assert type(event) is TriggerEvent and "finished" not in event.payload
    assert event.payload["resume"] == trigger.resume
    assert not PUSHED


def test_a_wait_that_fails_never_starts_the_walk(scripted: Scripted) -> None:
    trigger = _deferred()
    with mock.patch("icluster_resync.triggers.TriggerWalk") as walk:
        (event,) = _run(
            NodeQueryTrigger(**{**trigger.serialize()[1], "timeout_seconds": 0}),
            scripted,
            in_triggerer=True,
        )
    assert event.payload["status"] == "timeout"
    walk.assert_not_called()


def test_every_wait_of_a_groups_mark_and_save_hands_the_rest_to_the_trigger() -> None:
    operator = ResyncTaskOperator(
        task_id="mark_and_save", resync_task="mark_and_save", group="ORDERS"
    )
    options = RunOptions()
    steps = build_task_steps(
        resync_program, PLAN, options, run_key="r", task="mark_and_save", group="ORDERS"
    )
    waits = [index for index, step in enumerate(steps) if step.kind == "WAIT"]
    rests = [operator._rest(_context(), options, steps, index) for index in waits]
    # The group's end is followed by DMMRKPOS, the mark by the saves, each save's wait by
    # its job log check and the next wait or save: all of it the trigger's to walk.
    assert len(rests) == 5 and all(rest is not None for rest in rests)
    rest = rests[0]
    assert rest is not None
    assert rest["program"] == "ibmi_resync.program.resync_program"
    assert (rest["task"], rest["group"], rest["attempt"]) == ("mark_and_save", "ORDERS", 2)
    assert rest["digest"] == slice_digest(steps)


class _Shell:
    """The SSH shell a walk's node sends its commands through; counts its closes."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed = 0
        self.refuse: str | None = None
        self.user = "RESYNC"

    def execute(self, line: str) -> tuple[int, str, str]:
        command = shlex.split(line)[1]
        self.sent.append(command)
        verb = command.split()[0].split("/")[-1]
        if verb == self.refuse:
            return 1, f"CPF9999: {verb} was refused.\n", ""
        if verb == "SBMJOB":
            job = command.split(" JOB(")[1].split(")")[0]
            return 0, f"CPC1221: Job 100001/RESYNC/{job} submitted to job queue QBATCH.\n", ""
        if verb == "CRTSAVF":
            return 0, "CPC9801: Object created.\n", ""
        return 0, "", ""

    def close(self) -> None:
        self.closed += 1


class _Node:
    """What a mark and save asks PRIMARY over ODBC, answered."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.closed = 0

    def fetch(self, text: str, params: list[Any]) -> list[dict[str, Any]]:
        self.asked.append(text)
        if "CURRENT TIMESTAMP" in text.upper() or "NOW" in text.upper():
            return [{"NOW": "2026-11-25T01:00:00"}]
        return []

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> _Shell:
    """The walk's nodes as `plan_node` makes them, with these shells instead of SSH: the
    PRIMARY's is returned (a mark and save, a group's start send only there)."""
    shell = _Shell()
    shells = {"PRIMARY": shell, "BACKUP": _Shell()}

    def node(plan: Any, role: str, *, database: Any = None) -> IbmiNode:
        spec = plan.primary if role == "PRIMARY" else plan.backup
        return IbmiNode(
            name=spec.name,
            role=spec.role,
            shell=shells[role],
            database=database,
            profile=plan.site_profile,
            job_user=shell.user,
        )

    monkeypatch.setattr("icluster_resync.trigger_walk.plan_node", node)
    return shell


def _walk_from(task: str, wait: int, node: _Node) -> tuple[TriggerWalk, list[Any]]:
    operator = ResyncTaskOperator(task_id=task, resync_task=task, group="ORDERS")
    options = RunOptions()
    steps = build_task_steps(
        resync_program, PLAN, options, run_key=_run_key(_context()), task=task, group="ORDERS"
    )
    waits = [index for index, step in enumerate(steps) if step.kind == "WAIT"]
    rest = operator._rest(_context(), options, steps, waits[wait])
    assert rest is not None
    walk = TriggerWalk(
        rest,
        checkpoint(RunState(), {}, waits[wait]),
        PLAN,
        {"PRIMARY": node, "BACKUP": node},
        log=lambda _: None,
    )
    return walk, steps


def test_the_trigger_marks_the_position_then_submits_the_saves(shell: _Shell) -> None:
    node = _Node()
    walk, steps = _walk_from("mark_and_save", 0, node)
    waits = [index for index, step in enumerate(steps) if step.kind == "WAIT"]
    pending = walk.advance({"status": "done", "seen": "INACTIVE", "details": {}})
    assert isinstance(pending, PendingWait) and pending.index == waits[1]  # the event log
    assert shell.sent == ["ICLUSTER/DMMRKPOS GROUP(ORDERS)"]
    assert shell.closed == 1  # no SSH session held while DMMRKPOS works
    assert walk.resume["index"] == waits[1]
    marked = {"message_text": "Marked.", "message_id": "SIM1001"}
    pending = walk.advance({"status": "done", "seen": "SIM1001", "details": marked})
    assert isinstance(pending, PendingWait) and pending.index == waits[2]  # ORDLIB's save
    verbs = [command.split()[0] for command in shell.sent[1:]]
    assert verbs == ["QSYS/CRTSAVF", "QSYS/SBMJOB", "QSYS/CRTSAVF", "QSYS/SBMJOB"]
    assert "SAVLIB LIB(ORDLIB)" in shell.sent[2] and "SAVLIB LIB(ORDHIST)" in shell.sent[4]
    assert shell.closed == 2 and node.closed == 0  # the database polls the next wait
    assert pending.params == [walk.resume["state"]["values"][f"job:{steps[8].job}"]]
    assert walk.resume["state"]["values"]["event:ORDERS:2"] == marked
    walk.close()
    assert shell.closed == 3 and node.closed == 0  # the trigger closes its databases


def test_a_command_ibm_i_refuses_in_the_trigger_leaves_the_checkpoint_at_its_wait(
    shell: _Shell,
) -> None:
    node = _Node()
    walk, _ = _walk_from("mark_and_save", 0, node)
    before = dict(walk.resume)
    shell.refuse = "DMMRKPOS"
    with pytest.raises(CommandFailed, match="CPF9999"):
        walk.advance({"status": "done", "seen": "INACTIVE", "details": {}})
    assert walk.resume == before  # the worker resumes at the group's end and reports it
    assert shell.closed == 1


def test_after_the_latency_the_trigger_starts_the_final_sync_check(shell: _Shell) -> None:
    node = _Node()
    walk, steps = _walk_from("replicate_group", 1, node)
    waits = [index for index, step in enumerate(steps) if step.kind == "WAIT"]
    pending = walk.advance({"status": "done", "seen": "ACTIVE", "details": {}})
    assert isinstance(pending, PendingWait) and pending.index == waits[2]  # the latency
    assert shell.sent == [] and node.asked == []  # the trigger polls it from its first poll
    pending = walk.advance({"status": "done", "seen": "latency 0 s", "details": {}})
    assert isinstance(pending, PendingWait) and pending.index == waits[3]
    assert [c.split()[0] for c in shell.sent] == ["ICLUSTER/DMSTRSC"]
    result = walk.advance({"status": "done", "seen": "SIM1001", "details": {}})
    assert isinstance(result, dict) and result["group"] == "ORDERS"
    assert result["log"][-1]["result"] == "skipped"  # STRCNSC: none ran before
    assert shell.sent[1:] == []


def test_a_save_file_to_move_hands_the_task_to_a_worker_before_any_step(shell: _Shell) -> None:
    node = _Node()
    walk, _ = _walk_from("mark_and_save", 0, node)
    with (
        mock.patch("icluster_resync.trigger_walk.trigger_walks_on", return_value=False),
        pytest.raises(WorkerNext, match="save file"),
    ):
        walk.advance({"status": "done", "seen": "INACTIVE", "details": {}})
    assert shell.sent == [] and node.asked == []


def test_the_rehearsal_restart_never_hands_its_rest_to_the_trigger() -> None:
    assert ResyncTaskOperator.rest_in_trigger is True
    assert RehearsalRestartOperator.rest_in_trigger is False


class _StubWalk:
    """A walk whose first step reaches a second wait, on the BACKUP, then ends."""

    def __init__(self, second: PendingWait, outcome: Any) -> None:
        self.second, self.outcome = second, outcome
        self.resume = {"state": {"values": {}, "log": []}, "inherited": {}, "index": 0}
        self.odbc_conn_ids = {"PRIMARY": "ibmi_primary_odbc", "BACKUP": "ibmi_backup_odbc"}
        self.events: list[dict[str, Any]] = []
        self.closed = False

    def advance(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if len(self.events) == 1:
            self.resume = {"state": {"values": {"k": 1}, "log": []}, "inherited": {}, "index": 6}
            return self.second
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def close(self) -> None:
        self.closed = True


class _Answers:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.closed = 0

    def fetch(self, text: str, params: list[Any]) -> list[dict[str, Any]]:
        self.asked.append(text)
        return [{"STATUS": "INACTIVE"}] if "FIRST" in text else []  # job gone: it ended

    def close(self) -> None:
        self.closed += 1


def _two_waits(
    outcome: Any, node: str = "BACKUP"
) -> tuple[list[Any], _StubWalk, list[str], _Answers]:
    second = PendingWait(
        index=6,
        node=node,
        sql="SELECT V_JOB_STATUS FROM SECOND",
        params=["J"],
        condition={"kind": "job_ended"},
        poll_seconds=0.01,
        timeout_seconds=5,
    )
    walk = _StubWalk(second, outcome)
    trigger = NodeQueryTrigger(
        odbc_conn_id="ibmi_primary_odbc",
        sql="SELECT STATUS FROM FIRST",
        params=[],
        condition={"kind": "subsystem_inactive"},
        poll_seconds=0.01,
        timeout_seconds=5,
        resume={"state": {"values": {}, "log": []}, "inherited": {}, "index": 1},
        rest={"task": "t"},
    )
    trigger.task_instance = TI
    answers = _Answers()
    opened: list[str] = []

    async def database(conn_id: str) -> _Answers:
        opened.append(conn_id)
        return answers

    async def collect() -> list[Any]:
        with (
            mock.patch.object(trigger, "_database", database),
            mock.patch.object(trigger, "_walk", mock.AsyncMock(return_value=walk)),
        ):
            return [event async for event in trigger.run()]

    return asyncio.run(collect()), walk, opened, answers


def test_the_trigger_polls_the_next_wait_on_its_node_and_ends_the_task() -> None:
    events, walk, opened, answers = _two_waits({"task": "t", "log": []})
    (ended,) = events
    assert isinstance(ended, TaskSuccessEvent)
    assert _pushed_result() == {"task": "t", "log": []}
    assert opened == ["ibmi_primary_odbc", "ibmi_backup_odbc"]
    assert answers.asked == ["SELECT STATUS FROM FIRST", "SELECT V_JOB_STATUS FROM SECOND"]
    assert [e["status"] for e in walk.events] == ["done", "done"]
    assert walk.closed


def test_a_second_wait_on_the_same_node_polls_on_the_connection_of_the_first() -> None:
    events, _, opened, answers = _two_waits({"task": "t", "log": []}, node="PRIMARY")
    assert isinstance(events[0], TaskSuccessEvent)
    assert opened == ["ibmi_primary_odbc"]  # one look-up for both waits
    assert answers.asked == ["SELECT STATUS FROM FIRST", "SELECT V_JOB_STATUS FROM SECOND"]
    assert answers.closed == 1  # closed once, when the trigger ends


def test_a_later_check_that_fails_resumes_the_worker_at_the_later_wait() -> None:
    events, _, _, _ = _two_waits(RuntimeError("a job log says PARTIAL"))
    (event,) = events
    assert type(event) is TriggerEvent and event.payload["status"] == "done"
    # the worker resumes where the walk stood: the second wait, with the state before it
    assert event.payload["resume"]["index"] == 6
    assert event.payload["resume"]["state"]["values"] == {"k": 1}
    assert not PUSHED


def test_the_benchmark_counts_the_line_the_trigger_logs() -> None:
    bench = (ROOT / "bench" / "deployed.py").read_text()
    assert f'ENDED_HERE = "{ENDED_HERE}"' in bench


def test_an_xcom_the_api_refuses_resumes_the_task_on_a_worker(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(key: str, value: Any, **where: Any) -> None:
        raise ConnectionError("the api-server did not answer")

    monkeypatch.setattr("icluster_resync.triggers.XCom.set", refuse)
    trigger = _deferred()
    scripted.subsystem_status = "INACTIVE"
    (event,) = _run(trigger, scripted, in_triggerer=True)
    assert type(event) is TriggerEvent and event.payload["status"] == "done"
    assert event.payload["resume"] == trigger.resume
