"""The maintenance-window timetable: next run dates across quarters and clock changes, what
a missed window does, and that Airflow 3.3 serialises and rebuilds it through the plugin."""

from __future__ import annotations

from pathlib import Path

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from ibmi_resync.plan import Schedule
from icluster_resync.timetable import MaintenanceWindowTimetable, resync_schedule

ROOT = Path(__file__).resolve().parents[2]
QUARTERLY = Schedule(
    timezone="Europe/Zurich", windows=("first Sunday of the quarter, 01:00-05:00",)
)


def _runs(timetable, start, count: int, *, catchup: bool = True) -> list[DataInterval]:
    restriction = TimeRestriction(start, None, catchup)
    last, found = None, []
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        assert info is not None and info.run_after == info.data_interval.start
        found.append(info.data_interval)
        last = info.data_interval
    return found


def _local(moment) -> str:
    return moment.in_timezone("Europe/Zurich").strftime("%Y-%m-%d %H:%M %Z")


def test_next_runs_are_the_first_sundays_of_each_quarter_at_local_time() -> None:
    runs = _runs(MaintenanceWindowTimetable(QUARTERLY), pendulum.datetime(2026, 11, 1), 5)
    assert [(_local(r.start), _local(r.end)) for r in runs] == [
        ("2027-01-03 01:00 CET", "2027-01-03 05:00 CET"),
        ("2027-04-04 01:00 CEST", "2027-04-04 05:00 CEST"),
        ("2027-07-04 01:00 CEST", "2027-07-04 05:00 CEST"),
        ("2027-10-03 01:00 CEST", "2027-10-03 05:00 CEST"),
        ("2028-01-02 01:00 CET", "2028-01-02 05:00 CET"),
    ]
    # The UTC opening moves with daylight saving time.
    assert [r.start.hour for r in runs] == [0, 23, 23, 23, 0]


def test_a_window_on_the_night_the_clocks_go_back_is_an_hour_longer() -> None:
    # US/Eastern: 2027-11-07 02:00 -> 01:00 (the first Sunday of November).
    schedule = Schedule(
        timezone="America/New_York", windows=("first Sunday of the month, 00:30-04:30",)
    )
    runs = _runs(MaintenanceWindowTimetable(schedule), pendulum.datetime(2027, 10, 15), 2)
    november = runs[0]
    assert november.start.date().isoformat() == "2027-11-07"
    assert (november.end - november.start).in_hours() == 5
    assert (runs[1].end - runs[1].start).in_hours() == 4


def test_without_catchup_missed_windows_are_skipped() -> None:
    timetable = MaintenanceWindowTimetable(QUARTERLY)
    restriction = TimeRestriction(pendulum.datetime(2020, 1, 1), None, False)
    last = DataInterval(pendulum.datetime(2021, 1, 3), pendulum.datetime(2021, 1, 3, 4))
    info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
    assert info is not None and info.data_interval.end > pendulum.now("UTC")
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first is not None and first.data_interval.end > pendulum.now("UTC")


def test_the_end_date_stops_the_schedule() -> None:
    timetable = MaintenanceWindowTimetable(QUARTERLY)
    restriction = TimeRestriction(
        pendulum.datetime(2027, 1, 4), pendulum.datetime(2027, 3, 1), True
    )
    assert (
        timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        is None
    )


def test_a_manual_run_inside_a_window_gets_the_window_as_its_interval() -> None:
    timetable = MaintenanceWindowTimetable(QUARTERLY)
    inside = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2027, 1, 3, 2))
    assert (inside.start, inside.end) == (
        pendulum.datetime(2027, 1, 3, 0),
        pendulum.datetime(2027, 1, 3, 4),
    )
    outside = pendulum.datetime(2027, 1, 5, 12)
    assert timetable.infer_manual_data_interval(run_after=outside) == DataInterval(outside, outside)


def test_schedule_argument_for_each_kind_of_plan() -> None:
    assert isinstance(resync_schedule(QUARTERLY), MaintenanceWindowTimetable)
    assert resync_schedule(Schedule(cron="0 1 * * 0")) == "0 1 * * 0"
    assert resync_schedule(Schedule()) is None
    assert "first Sunday of the quarter" in MaintenanceWindowTimetable(QUARTERLY).summary


def test_airflow_serialises_and_rebuilds_it_through_the_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow import plugins_manager
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.serialization.helpers import TimetableNotRegistered
    from maintenance_window_plugin import MaintenanceWindowPlugin

    timetable = MaintenanceWindowTimetable(QUARTERLY)
    plugins_manager.get_timetables_plugins.cache_clear()
    monkeypatch.setattr(plugins_manager, "_get_plugins", lambda: ([], {}))
    with pytest.raises(TimetableNotRegistered):
        encode_timetable(timetable)  # what a deployment without the plugin would say
    plugins_manager.get_timetables_plugins.cache_clear()
    monkeypatch.setattr(plugins_manager, "_get_plugins", lambda: ([MaintenanceWindowPlugin], {}))
    try:
        encoded = encode_timetable(timetable)
        assert encoded["__type"] == "icluster_resync.timetable.MaintenanceWindowTimetable"
        assert decode_timetable(encoded) == timetable
    finally:
        plugins_manager.get_timetables_plugins.cache_clear()


def test_the_plugins_folder_registers_it(tmp_path: Path) -> None:
    """As the scheduler loads it: from AIRFLOW__CORE__PLUGINS_FOLDER (the deployment's)."""
    import os
    import subprocess
    import sys

    code = "from airflow import plugins_manager as p; print(sorted(p.get_timetables_plugins()))"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    }
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "icluster_resync.timetable.MaintenanceWindowTimetable" in shown
