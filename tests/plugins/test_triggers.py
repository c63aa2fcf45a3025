"""NodeQueryTrigger: serializes round-trip, ends on the condition, survives poll failures,
and times out with what it last saw."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest

from icluster_resync.triggers import NodeQueryTrigger


def _make_trigger(**overrides: Any) -> NodeQueryTrigger:
    kwargs: dict[str, Any] = {
        "odbc_conn_id": "ibmi_backup_odbc",
        "sql": "SELECT STATUS, CURRENT_ACTIVE_JOBS FROM QSYS2.SUBSYSTEM_INFO WHERE X = ?",
        "params": ["APPSBS"],
        "condition": {"kind": "subsystem_inactive"},
        "poll_seconds": 0.01,
        "timeout_seconds": 5,
        "started_at": 1_000.0,
    }
    kwargs.update(overrides)
    return NodeQueryTrigger(**kwargs)


class FakeDatabase:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0
        self.closed = 0

    def fetch(self, text: str, params: list[Any]) -> list[dict[str, Any]]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self.closed += 1


def _events(trigger: NodeQueryTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_serialize_round_trip_and_classpath() -> None:
    trigger = _make_trigger()
    classpath, kwargs = trigger.serialize()
    assert classpath == f"{NodeQueryTrigger.__module__}.{NodeQueryTrigger.__qualname__}"
    assert NodeQueryTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_the_deferred_task_state_comes_back_untouched_in_the_event() -> None:
    carried = {"state": {"values": {"count:ORDLIB": 40}, "log": []}, "index": 7}
    trigger = _make_trigger(started_at=None, resume=carried)
    database = FakeDatabase([[{"STATUS": "INACTIVE"}]])
    with mock.patch.object(trigger, "_database", mock.AsyncMock(return_value=database)):
        (event,) = _events(trigger)
    assert event["resume"] == carried
    assert NodeQueryTrigger(**trigger.serialize()[1]).resume == carried


def test_ends_when_the_condition_holds_with_one_connection() -> None:
    database = FakeDatabase(
        [[{"STATUS": "ENDING", "CURRENT_ACTIVE_JOBS": 2}], [{"STATUS": "INACTIVE"}]]
    )
    trigger = _make_trigger(started_at=None)
    with mock.patch.object(trigger, "_database", mock.AsyncMock(return_value=database)) as seam:
        events = _events(trigger)
    assert events == [
        {
            "status": "done",
            "seen": "STATUS=INACTIVE CURRENT_ACTIVE_JOBS=None",
            "details": {},
            "resume": {},
        }
    ]
    assert database.calls == 2
    assert seam.await_count == 1


def test_a_failed_poll_reconnects_and_the_wait_goes_on() -> None:
    first = FakeDatabase([ConnectionError("node unreachable")])
    second = FakeDatabase([[{"STATUS": "INACTIVE"}]])
    trigger = _make_trigger(started_at=None)
    with mock.patch.object(trigger, "_database", mock.AsyncMock(side_effect=[first, second])):
        events = _events(trigger)
    assert events[0]["status"] == "done"
    assert first.closed == 1


def test_timeout_reports_what_was_last_seen() -> None:
    database = FakeDatabase([[{"STATUS": "ENDING", "CURRENT_ACTIVE_JOBS": 7}]])
    trigger = _make_trigger(started_at=None, timeout_seconds=0.05)
    with mock.patch.object(trigger, "_database", mock.AsyncMock(return_value=database)):
        events = _events(trigger)
    assert len(events) == 1
    assert events[0]["status"] == "timeout"
    assert events[0]["seen"] == "STATUS=ENDING CURRENT_ACTIVE_JOBS=7"


@pytest.mark.parametrize(
    ("rows", "status"),
    [
        ([{"MESSAGE_ID": "SIM1002", "MESSAGE_TIMESTAMP": "2026-11-25T02:00:00"}], "failed"),
        ([{"MESSAGE_ID": "SIM1001", "MESSAGE_TIMESTAMP": "2026-11-25T02:00:00"}], "done"),
    ],
)
def test_event_log_wait_success_and_failure(rows: list[dict[str, Any]], status: str) -> None:
    condition = {
        "kind": "event_message",
        "since": "2026-11-25T01:00:00",
        "success_ids": ["SIM1001"],
        "failure_ids": ["SIM1002"],
    }
    trigger = _make_trigger(condition=condition, started_at=None)
    with mock.patch.object(trigger, "_database", mock.AsyncMock(return_value=FakeDatabase([rows]))):
        assert _events(trigger)[0]["status"] == status
