"""A task whose steps after its wait only read the nodes ends in the triggerer: the trigger
walks them with the worker's executor and steps, and ends the task with the same XCom a
worker would have returned; it polls the next wait itself when only reads lead to it; anything
it cannot do resumes the task on a worker at its wait."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from ibmi_resync.executor import PendingWait, RunState, checkpoint, slice_digest
from ibmi_resync.plan import RunOptions, load_plan
from ibmi_resync.program import resync_program
from ibmi_resync.tasks import build_task_steps
from icluster_resync.operators import ResyncTaskOperator, _run_key
from icluster_resync.read_only_walk import CommandNext, ReadOnlyWalk
from icluster_resync.rehearsal import RehearsalRestartOperator
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
    with mock.patch("icluster_resync.triggers.ReadOnlyWalk") as walk:
        (event,) = _run(
            NodeQueryTrigger(**{**trigger.serialize()[1], "timeout_seconds": 0}),
            scripted,
            in_triggerer=True,
        )
    assert event.payload["status"] == "timeout"
    walk.assert_not_called()


def test_only_a_wait_followed_by_reads_up_to_the_next_wait_hands_the_rest_to_the_trigger() -> None:
    operator = ResyncTaskOperator(
        task_id="mark_and_save", resync_task="mark_and_save", group="ORDERS"
    )
    options = RunOptions()
    steps = build_task_steps(
        resync_program, PLAN, options, run_key="r", task="mark_and_save", group="ORDERS"
    )
    waits = [index for index, step in enumerate(steps) if step.kind == "WAIT"]
    rests = [operator._rest(_context(), options, steps, index) for index in waits]
    # The group's end and its mark are followed by DMMRKPOS and the saves; the first library
    # save's wait by its job log check, then the second save's wait (the trigger polls it);
    # that one by its check, then the IFS save (a worker submits it); the IFS save's wait by
    # reads alone (the task ends in the triggerer).
    assert [rest is not None for rest in rests] == [False, False, True, False, True]
    rest = rests[-1]
    assert rest is not None
    assert rest["program"] == "ibmi_resync.program.resync_program"
    assert (rest["task"], rest["group"], rest["attempt"]) == ("mark_and_save", "ORDERS", 2)
    assert rest["digest"] == slice_digest(steps)


def test_a_started_group_waits_for_its_latency_in_the_triggerer_then_a_worker_checks() -> None:
    operator = ResyncTaskOperator(
        task_id="replicate_group", resync_task="replicate_group", group="ORDERS"
    )
    options = RunOptions()
    steps = build_task_steps(
        resync_program,
        PLAN,
        options,
        run_key=_run_key(_context()),
        task="replicate_group",
        group="ORDERS",
    )
    active, latency = [index for index, step in enumerate(steps) if step.kind == "WAIT"][1:3]
    assert steps[latency + 1].command is not None and "DMSTRSC" in steps[latency + 1].text
    rest = operator._rest(_context(), options, steps, active, RunState())
    assert rest is not None  # the group is active: next comes the latency wait, no command
    assert operator._rest(_context(), options, steps, latency, RunState()) is None
    reads = _Answers()
    walk = ReadOnlyWalk(
        rest,
        checkpoint(RunState(), {}, active),
        PLAN,
        {"PRIMARY": reads, "BACKUP": reads},
        log=lambda _: None,
    )
    pending = walk.advance({"status": "done", "seen": "ACTIVE", "details": {}})
    assert isinstance(pending, PendingWait) and pending.index == latency
    assert walk.resume["index"] == latency
    assert walk.resume["state"]["log"][-1]["result"] == "done"  # the active wait, recorded
    assert reads.asked == []  # the latency wait is the trigger's to poll, from its first poll
    with pytest.raises(CommandNext):
        walk.advance({"status": "done", "seen": "latency 0 s", "details": {}})
    assert reads.asked == []  # nothing run past the latency wait: the worker sends DMSTRSC
    assert walk.resume["index"] == latency  # and resumes there, with the trigger's event


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

    def fetch(self, text: str, params: list[Any]) -> list[dict[str, Any]]:
        self.asked.append(text)
        return [{"STATUS": "INACTIVE"}] if "FIRST" in text else []  # job gone: it ended

    def close(self) -> None:
        pass


def _two_waits(outcome: Any) -> tuple[list[Any], _StubWalk, list[str], _Answers]:
    second = PendingWait(
        index=6,
        node="BACKUP",
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
