"""The rehearsal's pure part: which steps its restart runs, and what its report says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ibmi_resync.plan import RunOptions, load_plan
from ibmi_resync.program import Phase, resync_program
from ibmi_resync.rehearsal import (
    CAVEATS,
    group_timings,
    groups_ended,
    rehearsal_report,
    restart_steps,
)
from ibmi_resync.tasks import steps_for_task

ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")
PROGRAM = resync_program(PLAN, RunOptions(), run_key="manual__x")


def _slice(task: str, group: str):
    return steps_for_task(PROGRAM, task, group)


def test_the_mark_slice_touches_no_application_and_no_data() -> None:
    for group in PLAN.group_names:
        steps = _slice("mark_positions", group)
        assert {step.phase for step in steps} == {Phase.MARK_POSITIONS}
        verbs = {step.text.split()[0].split("/")[-1] for step in steps if step.kind == "CL"}
        assert verbs == {"ENDHASC", "DMENDGRP", "DMMRKPOS"}, verbs


def test_the_restart_waits_for_system_only_if_the_rehearsal_ended_it() -> None:
    start = _slice("start_replication", "ORDERS")
    waits_for_system = [s for s in start if s.kind == "WAIT" and s.subject == "SYSTEM"]
    assert waits_for_system
    kept = restart_steps(PLAN, start, restarted=["SYSTEM", "ORDERS"])
    assert kept == start
    without = restart_steps(PLAN, start, restarted=["ORDERS"])
    assert [s for s in without if s.subject == "SYSTEM"] == []
    assert any(s.guard == "mark_recorded" for s in without)


def test_the_sync_check_restart_keeps_only_strcnsc() -> None:
    final = _slice("final_sync_check", "ORDERS")
    kept = restart_steps(PLAN, final, restarted=["ORDERS"], keep_guard="was_running")
    assert [s.text.split()[0].split("/")[-1] for s in kept] == ["STRCNSC"]


def _entry(step, at: str, result: str = "OK") -> dict[str, Any]:
    return {
        "at": f"2026-12-01T10:00:{at}+00:00",
        "text": step.text,
        "kind": step.kind,
        "result": result,
    }


def _mark_result(group: str, *, ended: bool = True) -> dict[str, Any]:
    steps = _slice("mark_positions", group)
    by = {
        "status": steps[0],
        "endhasc": next(s for s in steps if s.guard == "continuous_sync_check"),
        "end": next(s for s in steps if s.guard == "group_active"),
        "inactive": next(s for s in steps if (s.wait or {}).get("kind") == "status_is"),
        "mark": next(s for s in steps if s.text.split()[0].endswith("DMMRKPOS")),
        "event": next(s for s in steps if (s.wait or {}).get("kind") == "event_message"),
    }
    log = [
        _entry(by["status"], "00.000"),
        _entry(by["endhasc"], "00.100", "skipped"),
        _entry(by["end"], "00.500", "OK" if ended else "skipped"),
        _entry(by["inactive"], "04.000", "done"),
        _entry(by["mark"], "04.200"),
        _entry(by["event"], "10.000", "done"),
    ]
    return {
        "task": "mark_positions",
        "group": group,
        "log": log,
        f"event:{group}:2": {"message_text": f"{group} marked at receiver R1 sequence 42"},
    }


def test_timings_of_one_group() -> None:
    timing = group_timings(PLAN, _mark_result("ORDERS"))
    assert timing["ended_group"] and timing["marked"]
    assert not timing["ended_continuous_sync_check"]
    assert (timing["end_seconds"], timing["mark_seconds"], timing["total_seconds"]) == (
        4.0,
        6.0,
        10.0,
    )
    assert "sequence 42" in timing["marked_position"]


def test_only_groups_the_marks_ended_are_started_again_system_first() -> None:
    results = [
        _mark_result("ORDERS"),
        _mark_result("BILLING", ended=False),
        _mark_result("SYSTEM"),
        {"dry_run": True, "steps": 6},
    ]
    assert groups_ended(PLAN, results) == ["SYSTEM", "ORDERS"]


def test_a_group_ended_and_not_started_again_fails_the_rehearsal() -> None:
    timeline = [
        {"task": "preflight", "phase": 0, "start": "2026-12-01T09:59:58+00:00"},
        {"task": "mark_positions", "group": "ORDERS", "phase": 2},
    ]
    timeline[0]["end"] = "2026-12-01T10:00:00+00:00"
    timeline[1] |= {"start": "2026-12-01T10:00:00+00:00", "end": "2026-12-01T10:00:10+00:00"}
    base = {"status": "OK", "reasons": [], "notes": [], "timeline": timeline}
    start = next(s for s in _slice("start_replication", "ORDERS") if s.guard == "mark_recorded")
    report = rehearsal_report(
        PLAN,
        base,
        marks=[_mark_result("ORDERS"), _mark_result("SYSTEM")],
        restarts=[{"group": "ORDERS", "log": [_entry(start, "20.000")]}],
    )
    assert report["kind"] == "rehearsal" and report["caveats"] == list(CAVEATS)
    assert report["status"] == "FAIL"
    assert any("SYSTEM was ended by the rehearsal" in reason for reason in report["reasons"])
    assert report["mark_phase_seconds"] == 10.0
    assert [g["group"] for g in report["rehearsal"]["groups"]] == ["SYSTEM", "ORDERS"]
