"""Wait conditions: what ends each wait, and what a failed or timed-out wait last saw."""

from __future__ import annotations

from datetime import datetime

import pytest

from ibmi_resync.waits import evaluate

MARK_START = "2026-11-25T01:00:00"


def test_subsystem_wait_ends_only_when_inactive() -> None:
    condition = {"kind": "subsystem_inactive"}
    ending = evaluate(condition, [{"status": "ENDING", "current_active_jobs": 3}])
    assert (ending.done, ending.seen) == (False, "STATUS=ENDING CURRENT_ACTIVE_JOBS=3")
    ended = evaluate(condition, [{"STATUS": "INACTIVE", "CURRENT_ACTIVE_JOBS": 0}])
    assert (ended.done, ended.ok) == (True, True)
    missing = evaluate(condition, [])
    assert (missing.done, missing.ok) == (True, False)


@pytest.mark.parametrize(
    ("rows", "done"),
    [
        ([{"V_JOB_STATUS": "*JOBQ", "V_ACTIVE_JOB_STATUS": None}], False),
        ([{"V_JOB_STATUS": "*ACTIVE", "V_ACTIVE_JOB_STATUS": "RUN"}], False),
        ([{"V_JOB_STATUS": "*OUTQ", "V_ACTIVE_JOB_STATUS": None}], True),
        ([], True),
    ],
)
def test_batch_job_wait(rows: list[dict[str, object]], done: bool) -> None:
    assert evaluate({"kind": "job_ended"}, rows).done is done


def _event(msg_id: str, at: str, group: str = "ORDERS", text: str = "t") -> dict[str, object]:
    return {
        "MESSAGE_ID": msg_id,
        "MESSAGE_TIMESTAMP": datetime.fromisoformat(at),
        "GROUP_NAME": group,
        "MESSAGE_TEXT": text,
    }


def test_an_old_completion_message_does_not_end_the_mark_wait() -> None:
    condition = {
        "kind": "event_message",
        "since": MARK_START,
        "group": "ORDERS",
        "success_ids": ["SIM1001"],
        "failure_ids": ["SIM1002"],
    }
    old = evaluate(condition, [_event("SIM1001", "2026-11-24T23:00:00")])
    assert old.done is False
    other_group = evaluate(condition, [_event("SIM1001", "2026-11-25T01:00:05", "BILLING")])
    assert other_group.done is False
    text = "positions marked: receiver JRNLIB/RCV0001 sequence 4711"
    new = evaluate(condition, [_event("SIM1001", "2026-11-25T01:00:05", text=text)])
    assert (new.done, new.ok) == (True, True)
    assert new.details["message_text"] == text
    failed = evaluate(condition, [_event("SIM1002", "2026-11-25T01:00:05", text="lock")])
    assert (failed.done, failed.ok, failed.seen) == (True, False, "SIM1002: lock")


def test_db2_timestamps_in_text_form_are_read() -> None:
    condition = {"kind": "event_message", "since": MARK_START, "success_ids": ["SIM1001"]}
    row = {"MESSAGE_ID": "SIM1001", "MESSAGE_TIMESTAMP": "2026-11-25-01.00.05.000000"}
    assert evaluate(condition, [row]).done is True


def _latency(source: float, apply: float, backlog: int, applied: str) -> list[dict[str, object]]:
    return [
        {
            "SOURCE_LATENCY_SECONDS": source,
            "APPLY_LATENCY_SECONDS": apply,
            "BACKLOG_ENTRIES": backlog,
            "LAST_APPLIED_SEQUENCE": applied,
        }
    ]


def test_latency_must_stay_low_for_the_configured_polls() -> None:
    condition = {"kind": "latency_resolved", "threshold_seconds": 5, "stable_polls": 3}
    memory: dict[str, object] = {}
    results = []
    for source, applied in [(2, "10"), (9, "20"), (1, "30"), (1, "31"), (0, "31")]:
        verdict = evaluate(condition, _latency(source, 1, 0, applied), memory)
        memory = verdict.memory
        results.append(verdict.done)
    assert results == [False, False, False, False, True]


def test_a_frozen_apply_fails_with_what_was_last_seen() -> None:
    condition = {"kind": "latency_resolved", "threshold_seconds": 5, "frozen_polls": 3}
    memory: dict[str, object] = {}
    verdict = None
    for _ in range(4):
        verdict = evaluate(condition, _latency(120, 300, 5000, "77"), memory)
        memory = verdict.memory
        if verdict.done:
            break
    assert verdict is not None and (verdict.done, verdict.ok) == (True, False)
    assert "apply frozen for 3 polls" in verdict.seen
    assert "backlog 5000" in verdict.seen


def test_unknown_conditions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown wait condition"):
        evaluate({"kind": "forever"}, [])
