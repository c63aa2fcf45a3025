"""Maintenance windows: when they open and close, and the guard that keeps a resync whose
outage cannot end inside its window from starting.

The outage is what the business negotiated; starting a resync that will overrun it is worse
than not starting (runbook: "If you already have an outage scheduled, we want to leverage
that outage time ... If not, we will need to estimate how long it will take and request the
interruption"). The figure compared with the time left is the forecast of the outage
(ibmi_resync.forecast, from rehearsals and past runs) when there is one, else the plan's
`schedule.estimated_outage_minutes`; the plan's `safety_margin_percent` is added to it.

Windows are local times in the plan's time zone: "01:00-05:00" is 01:00 to 05:00 on the
wall clock of the site, also on the night the clocks change. On such a night the window is an
hour shorter or longer in real time, and a start inside the hour that does not exist (spring)
is read with the offset before the change, so it opens an hour later on the wall clock
(Python's `fold=0`). Pure: no Airflow import; the timetable (icluster_resync.timetable) and
the DAG's first task call these functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ibmi_resync.plan import ORDINALS, WEEKDAYS, Schedule, Window

__all__ = ["Decision", "Span", "decide", "next_window", "spans", "window_at"]

_QUARTER_MONTHS = (1, 4, 7, 10)
# How far ahead a window is looked for: a quarterly window recurs within 4 months.
_HORIZON_DAYS = 800


@dataclass(frozen=True)
class Span:
    """One occurrence of a window: aware UTC datetimes, `opens` < `closes`."""

    opens: datetime
    closes: datetime
    window: Window | None = None

    def describe(self) -> str:
        what = f" ({self.window.describe()})" if self.window else ""
        return f"{self.opens.isoformat()} to {self.closes.isoformat()}{what}"


def _clock(text: str) -> time:
    return time(int(text[:2]), int(text[3:]))


def _nth_weekday(year: int, month: int, weekday: int, ordinal: str) -> date:
    """The first..fourth or last `weekday` (0 = Monday) of a month."""
    first = date(year, month, 1)
    day = first + timedelta(days=(weekday - first.weekday()) % 7)
    if ordinal == "last":
        following = date(year + month // 12, month % 12 + 1, 1)
        while day + timedelta(days=7) < following:
            day += timedelta(days=7)
        return day
    return day + timedelta(days=7 * ORDINALS.index(ordinal))


def _days(window: Window, since: date) -> Iterator[date]:
    """The local dates on which `window` opens, from `since` on, in order."""
    weekday = WEEKDAYS.index(window.weekday)
    if window.every == "week":
        day = since + timedelta(days=(weekday - since.weekday()) % 7)
        while True:
            yield day
            day += timedelta(days=7)
    months = _QUARTER_MONTHS if window.every == "quarter" else tuple(range(1, 13))
    year = since.year
    while True:
        for month in months:
            day = _nth_weekday(year, month, weekday, window.week or "first")
            if day >= since:
                yield day
        year += 1


def _span(window: Window, day: date, zone: ZoneInfo) -> Span:
    opens = datetime.combine(day, _clock(window.start), tzinfo=zone)
    end_day = day if window.end > window.start else day + timedelta(days=1)
    closes = datetime.combine(end_day, _clock(window.end), tzinfo=zone)
    return Span(opens.astimezone(UTC), closes.astimezone(UTC), window)


def spans(schedule: Schedule, since: datetime) -> Iterator[Span]:
    """Every window occurrence that closes after `since` (aware), in order of opening."""
    zone = ZoneInfo(schedule.timezone)
    # A window that opened the evening before may still be open: start a day early.
    first_day = since.astimezone(zone).date() - timedelta(days=1)
    iterators = [(_days(window, first_day), window) for window in schedule.windows]
    heads: list[tuple[Span, Iterator[date], Window]] = []
    for days, window in iterators:
        heads.append((_span(window, next(days), zone), days, window))
    limit = since + timedelta(days=_HORIZON_DAYS)
    while heads:
        heads.sort(key=lambda head: head[0].opens)
        span, days, window = heads[0]
        if span.opens > limit:
            return
        if span.closes > since:
            yield span
        heads[0] = (_span(window, next(days), zone), days, window)


def window_at(schedule: Schedule, moment: datetime) -> Span | None:
    """The window open at `moment`, or None."""
    for span in spans(schedule, moment):
        if span.opens > moment:
            return None
        if span.opens <= moment < span.closes:
            return span
    return None


def next_window(schedule: Schedule, after: datetime, *, open_ones: bool = False) -> Span | None:
    """The first window opening at or after `after` (with `open_ones`, also one open then)."""
    for span in spans(schedule, after):
        if span.opens >= after or (open_ones and span.opens <= after < span.closes):
            return span
    return None


@dataclass(frozen=True)
class Decision:
    """The guard's answer: start or not, and the sentence the task log and report carry."""

    start: bool
    message: str
    overridden: bool = False


def _minutes(delta: timedelta) -> str:
    return f"{max(delta.total_seconds(), 0) / 60:.0f}"


def _refusal(
    schedule: Schedule,
    window: Span | None,
    now: datetime,
    needed: float | None,
    needed_from: str,
) -> str | None:
    if window is None:
        upcoming = next_window(schedule, now) if schedule.windows else None
        after = f"; the next opens {upcoming.opens.isoformat()}" if upcoming else ""
        return f"outside every maintenance window of the plan{after}"
    if now < window.opens:
        return f"the window {window.describe()} has not opened yet"
    if now >= window.closes:
        return f"the window {window.describe()} closed already"
    if needed is None:
        return None
    if now + timedelta(minutes=needed) <= window.closes:
        return None
    return (
        f"the window closes at {window.closes.isoformat()}: "
        f"{_minutes(window.closes - now)} minutes left, the outage needs {needed:.0f} "
        f"({needed_from})"
    )


def decide(
    schedule: Schedule,
    *,
    scheduled: bool,
    now: datetime,
    run_window: tuple[datetime, datetime] | None = None,
    outage_minutes: float | None = None,
    outage_source: str = "",
    override_reason: str = "",
) -> Decision:
    """May this run start now? Times are aware datetimes.

    `run_window` is the window a scheduled run was created for (the timetable's data
    interval; for `cron`, its run time and `window_minutes`); a manual run is judged against
    the window open now. `outage_minutes` is the forecast when there is one (named by
    `outage_source`); otherwise the plan's estimate is used; with neither, only being inside
    the window is checked. A non-empty `override_reason` lets a refused run start, saying
    what the guard would have refused and why the person overrode it.
    """
    if not schedule.windows and schedule.window_minutes is None:
        return Decision(True, "the plan declares no maintenance window")
    if schedule.cron and not scheduled:
        # cron + window_minutes: a window exists only around the cron times, and a person
        # triggering by hand chose the moment (the behaviour before `windows`).
        return Decision(True, "a manual run of a cron schedule: the window is not checked")
    window: Span | None
    if scheduled and run_window is not None:
        window = Span(run_window[0], run_window[1])
    else:
        window = window_at(schedule, now) if schedule.windows else None
    needed_from = outage_source or "forecast"
    if outage_minutes is None and schedule.estimated_outage_minutes is not None:
        outage_minutes = float(schedule.estimated_outage_minutes)
        needed_from = "the plan's estimated_outage_minutes"
    needed = None
    if outage_minutes is not None:
        needed = outage_minutes * (1 + schedule.safety_margin_percent / 100)
        if schedule.safety_margin_percent:
            needed_from += f" plus a {schedule.safety_margin_percent}% margin"
    refusal = _refusal(schedule, window, now, needed, needed_from)
    if refusal is None:
        left = f", {_minutes(window.closes - now)} minutes left" if window else ""
        fits = f"; the outage needs {needed:.0f} ({needed_from})" if needed else ""
        return Decision(
            True, f"inside the window {window.describe() if window else ''}{left}{fits}"
        )
    if override_reason.strip():
        return Decision(
            True,
            f"window guard overridden by the trigger ({override_reason.strip()}); it would "
            f"have refused: {refusal}",
            overridden=True,
        )
    return Decision(
        False,
        f"not starting: {refusal} (trigger by hand with window_override_reason to override)",
    )
