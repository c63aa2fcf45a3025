"""The maintenance-window guard: a scheduled resync that cannot finish its outage part inside
its window does not start.

The outage is what the business negotiated; starting a resync that will overrun it is worse
than not starting (runbook: "If you already have an outage scheduled, we want to leverage
that outage time"). The estimate is the plan's `schedule.estimated_outage_minutes` (later
issues feed it from rehearsals and past runs). A manual trigger is the operator's decision
and is not refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ibmi_resync.plan import Schedule

__all__ = ["window_refusal"]


def window_refusal(
    schedule: Schedule, *, scheduled: bool, window_opened: datetime, now: datetime
) -> str | None:
    """Why this run must not start, or None. Times are aware datetimes."""
    if not scheduled or schedule.window_minutes is None:
        return None
    if schedule.estimated_outage_minutes is None:
        return None
    window_closes = window_opened + timedelta(minutes=schedule.window_minutes)
    needed = timedelta(minutes=schedule.estimated_outage_minutes)
    if now + needed <= window_closes:
        return None
    left = max(window_closes - now, timedelta(0))
    return (
        f"the window closes at {window_closes.isoformat()}: {left.total_seconds() / 60:.0f} "
        f"minutes left, the outage needs an estimated {schedule.estimated_outage_minutes}; "
        "not starting (trigger by hand to override)"
    )
