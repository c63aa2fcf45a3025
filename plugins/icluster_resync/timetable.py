"""The resync DAG's schedule: one run per maintenance window declared in the plan.

A run is created as its window opens (`run_after` = the opening); its data interval is the
window itself, so the pre-flight guard knows when the window closes without reading the
plan's clock again. The window arithmetic (time zone, DST, "first Sunday of the quarter")
lives in ibmi_resync.window; this class only speaks Airflow's Timetable protocol.

Airflow 3.3 serialises a DAG's timetable for the scheduler and deserialises it by class name;
only classes registered by a plugin are accepted (airflow.serialization.helpers.
find_registered_custom_timetable), so plugins/maintenance_window_plugin.py registers it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

from ibmi_resync.plan import Schedule
from ibmi_resync.window import next_window, window_at

__all__ = ["MaintenanceWindowTimetable", "resync_schedule"]


def _pendulum(moment: datetime) -> pendulum.DateTime:
    return pendulum.instance(moment.astimezone(UTC))


class MaintenanceWindowTimetable(Timetable):
    """Runs at the opening of each window of `schedule.windows` (see the module docstring)."""

    run_ordering = ("data_interval_end", "logical_date")

    def __init__(self, schedule: Schedule) -> None:
        if not schedule.windows:
            raise ValueError("a maintenance-window timetable needs at least one window")
        self.schedule = schedule
        listed = "; ".join(window.describe() for window in schedule.windows)
        self.description = f"maintenance windows: {listed} ({schedule.timezone})"

    @property
    def summary(self) -> str:
        return self.description

    def serialize(self) -> dict[str, Any]:
        return {"schedule": self.schedule.model_dump(mode="json")}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> MaintenanceWindowTimetable:
        return cls(Schedule.model_validate(data["schedule"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaintenanceWindowTimetable) and other.schedule == self.schedule

    def __hash__(self) -> int:
        return hash(self.schedule)

    def infer_manual_data_interval(self, *, run_after: pendulum.DateTime) -> DataInterval:
        """A manual run inside a window gets that window as its interval, else the moment."""
        span = window_at(self.schedule, run_after)
        if span is None:
            return DataInterval.exact(run_after)
        return DataInterval(_pendulum(span.opens), _pendulum(span.closes))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            # The window after the last scheduled one (even if the scheduler was down).
            after = last_automated_data_interval.end
            span = next_window(self.schedule, after)
            if span is not None and not restriction.catchup:
                now = pendulum.now("UTC")
                if span.closes <= now:  # missed windows are not caught up
                    span = next_window(self.schedule, now, open_ones=True)
        else:
            earliest = restriction.earliest
            if earliest is None:
                return None
            after = earliest
            if not restriction.catchup:
                after = max(earliest, pendulum.now("UTC"))
            # A window already open when the DAG first appears still gets its run; the guard
            # then decides whether the time left is enough.
            span = next_window(self.schedule, after, open_ones=True)
        if span is None:
            return None
        if restriction.latest is not None and span.opens > restriction.latest:
            return None
        return DagRunInfo(
            run_after=_pendulum(span.opens),
            data_interval=DataInterval(_pendulum(span.opens), _pendulum(span.closes)),
        )


def resync_schedule(schedule: Schedule) -> MaintenanceWindowTimetable | str | None:
    """What the DAG's `schedule=` gets: the windows' timetable, the older cron, or None."""
    if schedule.windows:
        return MaintenanceWindowTimetable(schedule)
    return schedule.cron
