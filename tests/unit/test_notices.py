"""Notices (issue 8): the words of each notification, and the plan's `notifications` section."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from plan_fixtures import DEMO_PLAN, demo_data, write_files
from test_report import RESULTS

from ibmi_resync.notices import (
    FailureFacts,
    approval_waiting,
    duration_text,
    is_latency_failure,
    phase_of,
    run_finished,
    task_failed,
)
from ibmi_resync.plan import NOTIFICATION_EVENTS, Notifications, PlanError, load_plan
from ibmi_resync.report import build_report


def _facts(**changes: Any) -> FailureFacts:
    values: dict[str, Any] = {
        "plan": "demo-pair",
        "run_id": "manual__2026-11-25T01:00:00+00:00",
        "task_id": "outage.mark_and_save",
        "error": "SIMPRI, phase 3 (save), group ORDERS, ORDLIB: CPF3777: 2 objects not saved: "
        "ORDLIB/ORDHDR ORDLIB/X",
        "group": "ORDERS",
        "map_index": 1,
        "try_number": 1,
        "log_url": "http://airflow.example.com/dags/icluster_resync/runs/r/tasks/t/mapped/1",
        "at": datetime(2026, 11, 25, 1, 4, tzinfo=UTC),
    }
    values.update(changes)
    return FailureFacts(**values)


# ---- phases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "phase"),
    [
        ("preflight", "phase 0: Pre-flight checks"),
        ("outage.mark_and_save", "phase 2: Mark positions"),
        ("restart_applications", "phase 3: Save, verify"),
        ("clear.clear_group", "phase 5: Clear"),
        ("approve_clearing", "phase 5: clear (approval)"),
        ("replicate.replicate_group", "phase 9: Start replication"),
        ("network_sync.wait_for_latency", "phase 10: Wait until latency"),
        ("select_groups", "phase 0: pre-flight"),
        ("write_report", "run report"),
        ("something_new", "task something_new"),
    ],
)
def test_every_task_is_placed_in_its_runbook_phase(task_id: str, phase: str) -> None:
    assert phase_of(task_id).startswith(phase)


@pytest.mark.parametrize(
    ("task_id", "error", "phase"),
    [
        ("outage.mark_and_save", "SIMPRI, phase 2 (mark_positions), group X: SIM1002", 2),
        ("outage.mark_and_save", "SIMPRI, phase 3 (save), group X, LIB: CPF3777", 3),
        ("replicate.replicate_group", "SIMBCK, phase 11 (final_sync_check), group X: 4", 11),
        ("replicate.replicate_group", "connection refused", 9),
        # a phase the task does not run is not taken from the text
        ("clear.clear_group", "SIMBCK, phase 6 (restore), group X: CPF3756", 5),
    ],
)
def test_a_task_of_several_phases_fails_in_the_phase_its_error_names(
    task_id: str, error: str, phase: int
) -> None:
    assert phase_of(task_id, error).startswith(f"phase {phase}: ")


def test_the_latency_failure_is_told_apart_by_task_or_by_the_phase_it_failed_in() -> None:
    timed_out = "SIMBCK, phase 10 (latency), group ORDERS: wait for latency_resolved timed out"
    assert is_latency_failure("replicate.replicate_group", timed_out)
    assert is_latency_failure("network_sync.wait_for_latency")
    assert is_latency_failure("wait_for_latency")
    assert not is_latency_failure("replicate.replicate_group", "phase 11 (final_sync_check)")
    assert not is_latency_failure("replicate.replicate_group")
    assert not is_latency_failure("network_sync.final_sync_check", timed_out)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "unknown"), (0, "0 s"), (59.4, "59 s"), (450.5, "7 min 30 s"), (7320, "2 h 2 min")],
)
def test_durations_read_as_a_person_says_them(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


# ---- run failed / latency ----------------------------------------------------------------


def test_a_failed_task_names_phase_task_group_and_message() -> None:
    notice = task_failed(_facts())
    assert notice.event == "run_failed"
    assert notice.subject == (
        "[iCluster resync] demo-pair: FAILED in phase 3: Save, verify, restart the "
        "applications (runbook step 3) for group ORDERS"
    )
    body = notice.text
    for expected in (
        "Phase:",
        "phase 3: Save, verify",
        "Task:      outage.mark_and_save",
        "Group:     ORDERS",
        "Attempt:   1",
        "Failed at: 2026-11-25T01:04:00+00:00",
        "CPF3777: 2 objects not saved: ORDLIB/ORDHDR ORDLIB/X",
        "manual__2026-11-25T01:00:00+00:00",
    ):
        assert expected in body, expected
    assert "CPF3777: 2 objects not saved" in notice.html


def test_a_run_wide_task_has_no_group_and_an_unlabelled_instance_shows_its_index() -> None:
    whole = task_failed(_facts(task_id="preflight", group=None, map_index=-1))
    assert "Group:     (whole run)" in whole.text
    assert "for group" not in whole.subject
    unlabelled = task_failed(_facts(group=None, map_index=2))
    assert "Group:     map index 2" in unlabelled.text


def test_a_failed_latency_wait_is_its_own_event_with_what_was_last_seen() -> None:
    notice = task_failed(
        _facts(
            task_id="replicate.replicate_group",
            error="SIMBCK, phase 10 (latency), group ORDERS: wait for latency_resolved timed "
            "out: source latency 40.0 s, apply latency 12.0 s, backlog 900, last applied 77",
        )
    )
    assert notice.event == "latency_not_resolved"
    assert notice.subject == "[iCluster resync] demo-pair: latency not resolved for group ORDERS"
    assert "source latency 40.0 s" in notice.text
    assert "phase 10" in notice.text


def test_run_text_never_breaks_the_subject_and_is_escaped_in_html() -> None:
    notice = task_failed(
        _facts(group="ORD\r\nBcc: evil@example.com", error="<script>alert(1)</script>\nline 2")
    )
    assert "\n" not in notice.subject and "\r" not in notice.subject
    assert "<script>" not in notice.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in notice.html
    assert len(task_failed(_facts(group="G" * 500)).subject) <= 180


def test_the_subject_prefix_comes_from_the_plan() -> None:
    assert task_failed(_facts(), prefix="[HA]").subject.startswith("[HA] demo-pair: FAILED")


# ---- approval waiting --------------------------------------------------------------------


def test_an_approval_notice_says_what_waits_where_for_how_long_and_where_to_answer() -> None:
    notice = approval_waiting(
        plan="demo-pair",
        run_id="r1",
        backup_node="SIMBCK",
        question="Clear the target libraries on BACKUP and restore them?",
        explanation="Plan demo-pair: libraries of the run's groups will be cleared on SIMBCK.",
        groups=["SYSTEM", "ORDERS"],
        timeout_seconds=3600,
        default_answer="Reject",
        link="http://airflow.example.com/dags/icluster_resync/runs/r1/tasks/approve_clearing/"
        "required_actions?map_index=-1",
    )
    assert notice.event == "approval_waiting"
    assert notice.subject == (
        "[iCluster resync] demo-pair: approval waiting to clear libraries on SIMBCK"
    )
    for expected in (
        "Clear the target libraries on BACKUP and restore them?",
        "SIMBCK (BACKUP)",
        "SYSTEM, ORDERS",
        "1 h 0 min, then the answer is Reject",
        "required_actions?map_index=-1",
        "nothing is cleared on the BACKUP until someone approves",
    ):
        assert expected in notice.text, expected


# ---- run finished ------------------------------------------------------------------------


def _report(**changes: Any) -> dict[str, Any]:
    report = build_report(
        plan_name="demo-pair",
        run_id="r1",
        task_results=RESULTS,
        task_states={"outage.save_group": "success"},
        sync_check_pattern="(?P<differences>[0-9]+) objects? out of sync",
    )
    report.update(changes)
    return report


def test_a_finished_run_tells_its_status_and_outage_window() -> None:
    notice = run_finished(_report(), report_path="/reports/r1/report.html")
    assert notice.event == "run_finished"
    assert notice.subject == "[iCluster resync] demo-pair: resync WARN, outage 7 min 30 s"
    for expected in (
        "Status:            WARN",
        "Applications down: 2026-11-25T01:00:00+00:00",
        "Applications up:   2026-11-25T01:07:30.500000+00:00",
        "Outage:            7 min 30 s",
        "Groups:            ORDERS",
        "/reports/r1/report.html",
        "- group ORDERS: 3 objects out of sync (threshold 0)",
        "The resync run finished: WARN.",
    ):
        assert expected in notice.text, expected


def test_a_dry_run_and_a_run_without_outage_say_so() -> None:
    report = _report(params={"dry_run": True})
    report["outage"] = {"applications_down": None, "applications_up": None, "seconds": None}
    notice = run_finished(report)
    assert notice.subject.endswith("demo-pair: dry run WARN, no outage")
    assert "The dry run finished: WARN." in notice.text
    assert "Applications down: not recorded" in notice.text


def test_a_minimal_report_still_gives_a_notice() -> None:
    notice = run_finished({"plan": "p", "run_id": "r", "status": "FAIL", "reasons": ["x"]})
    assert notice.subject == "[iCluster resync] p: resync FAIL, no outage"
    assert "- x" in notice.text


# ---- the plan's notifications section ----------------------------------------------------


def test_notifications_are_off_unless_the_plan_switches_them_on() -> None:
    plan = load_plan(DEMO_PLAN)
    assert plan.notifications == Notifications()
    assert not any(plan.notifications.wants(event) for event in NOTIFICATION_EVENTS)
    with pytest.raises(ValueError, match="unknown notification event"):
        plan.notifications.wants("coffee_ready")


def test_a_notifications_section_loads(tmp_path: Path) -> None:
    data = demo_data()
    data["notifications"] = {
        "recipients": ["ha-team@example.com", "oncall+ibmi@ops.example.org"],
        "events": ["approval_waiting", "run_failed"],
        "smtp_conn_id": "smtp_relay",
        "from_email": "airflow@example.com",
        "subject_prefix": "[HA]",
    }
    plan = load_plan(write_files(tmp_path, data))
    assert plan.notifications.recipients == ("ha-team@example.com", "oncall+ibmi@ops.example.org")
    assert plan.notifications.wants("run_failed")
    assert not plan.notifications.wants("run_finished")
    assert plan.notifications.smtp_conn_id == "smtp_relay"


BAD_NOTIFICATIONS = [
    pytest.param(
        {"recipients": ["ha@example.com", "not an address"], "events": ["run_failed"]},
        "notifications.recipients[1]",
        "not an address",
        id="address-with-spaces",
    ),
    pytest.param(
        {"recipients": ["ha@example.com\nBcc: evil@example.com"]},
        "notifications.recipients[0]",
        "ha@example.com\nBcc: evil@example.com",
        id="header-injection",
    ),
    pytest.param(
        {"recipients": ["Team <ha@example.com>"]},
        "notifications.recipients[0]",
        "Team <ha@example.com>",
        id="display-name",
    ),
    pytest.param(
        {"recipients": ["a@example.com, b@example.com"]},
        "notifications.recipients[0]",
        "a@example.com, b@example.com",
        id="two-in-one",
    ),
    pytest.param({"recipients": ["ha@localhost"]}, "notifications.recipients[0]", "ha@localhost"),
    pytest.param(
        {"recipients": ["ha@example.com", "HA@example.com"]},
        "notifications.recipients[1]",
        "HA@example.com",
        id="repeated",
    ),
    pytest.param({"events": ["run_failed"]}, "notifications.recipients", None, id="no-one"),
    pytest.param(
        {"recipients": ["ha@example.com"], "events": ["run_failed", "coffee_ready"]},
        "notifications.events[1]",
        "coffee_ready",
        id="unknown-event",
    ),
    pytest.param(
        {"recipients": ["ha@example.com"], "events": ["run_failed", "run_failed"]},
        "notifications.events[1]",
        "run_failed",
        id="event-twice",
    ),
    pytest.param(
        {"recipients": ["ha@example.com"], "from_email": "airflow"},
        "notifications.from_email",
        "airflow",
        id="bad-sender",
    ),
    pytest.param(
        {"recipients": ["ha@example.com"], "smtp_conn_id": "smtp relay"},
        "notifications.smtp_conn_id",
        "smtp relay",
        id="bad-conn-id",
    ),
    pytest.param(
        {"recipients": ["ha@example.com"], "subject_prefix": "[HA]\nBcc: x@example.com"},
        "notifications.subject_prefix",
        "[HA]\nBcc: x@example.com",
        id="prefix-line-break",
    ),
    pytest.param(
        {"recipient": ["ha@example.com"]},
        "notifications.recipient",
        ["ha@example.com"],
        id="misspelt-key",
    ),
]


@pytest.mark.parametrize(("section", "field", "value"), BAD_NOTIFICATIONS)
def test_a_bad_notifications_section_is_refused_naming_the_field(
    tmp_path: Path, section: dict[str, Any], field: str, value: Any
) -> None:
    data = demo_data()
    data["notifications"] = section
    path = write_files(tmp_path, data)
    with pytest.raises(PlanError) as excinfo:
        load_plan(path)
    error = excinfo.value
    assert (error.source, error.field, error.value) == (str(path), field, value)
    assert f": {field}: " in str(error)
