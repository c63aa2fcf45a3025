"""The maintenance-window guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ibmi_resync.plan import Schedule
from ibmi_resync.window import window_refusal

OPENS = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
SCHEDULE = Schedule(cron="0 1 * * 0", window_minutes=240, estimated_outage_minutes=90)


def test_a_run_that_fits_starts() -> None:
    assert window_refusal(SCHEDULE, scheduled=True, window_opened=OPENS, now=OPENS) is None
    late_but_fits = OPENS + timedelta(minutes=150)
    assert window_refusal(SCHEDULE, scheduled=True, window_opened=OPENS, now=late_but_fits) is None


def test_a_scheduled_run_that_would_overrun_is_refused_with_the_figures() -> None:
    reason = window_refusal(
        SCHEDULE, scheduled=True, window_opened=OPENS, now=OPENS + timedelta(minutes=151)
    )
    assert reason is not None
    assert "89 minutes left" in reason and "estimated 90" in reason
    assert "2026-12-06T05:00:00+00:00" in reason


def test_manual_runs_and_plans_without_a_window_are_not_refused() -> None:
    late = OPENS + timedelta(hours=10)
    assert window_refusal(SCHEDULE, scheduled=False, window_opened=OPENS, now=late) is None
    no_window = Schedule(cron="0 1 * * 0")
    assert window_refusal(no_window, scheduled=True, window_opened=OPENS, now=late) is None
