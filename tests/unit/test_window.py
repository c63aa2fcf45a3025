"""Maintenance windows: their dates across quarters and clock changes, and the guard that
refuses a run whose outage cannot end inside its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ibmi_resync.plan import PlanError, Schedule, load_plan, validation_error
from ibmi_resync.window import decide, next_window, spans, window_at

ZURICH = ZoneInfo("Europe/Zurich")
QUARTERLY = Schedule(
    timezone="Europe/Zurich",
    windows=("first Sunday of the quarter, 01:00-05:00",),
    estimated_outage_minutes=90,
)


def _local(span) -> tuple[str, str]:
    return (
        span.opens.astimezone(ZURICH).strftime("%Y-%m-%d %H:%M"),
        span.closes.astimezone(ZURICH).strftime("%Y-%m-%d %H:%M"),
    )


# ---- when windows open -------------------------------------------------------------------


def test_first_sunday_of_the_quarter_across_quarter_and_year_boundaries() -> None:
    found = spans(QUARTERLY, datetime(2026, 11, 30, tzinfo=UTC))
    dates = [_local(next(found)) for _ in range(5)]
    assert dates == [
        ("2027-01-03 01:00", "2027-01-03 05:00"),  # 1 January 2027 is a Friday
        ("2027-04-04 01:00", "2027-04-04 05:00"),
        ("2027-07-04 01:00", "2027-07-04 05:00"),
        ("2027-10-03 01:00", "2027-10-03 05:00"),
        ("2028-01-02 01:00", "2028-01-02 05:00"),
    ]


def test_a_quarter_starting_on_a_sunday_uses_that_day() -> None:
    # 1 October 2028 is a Sunday.
    span = next_window(QUARTERLY, datetime(2028, 9, 1, tzinfo=UTC))
    assert span is not None and _local(span)[0] == "2028-10-01 01:00"


def test_utc_offsets_follow_daylight_saving_time() -> None:
    winter = next_window(QUARTERLY, datetime(2026, 12, 1, tzinfo=UTC))
    summer = next_window(QUARTERLY, datetime(2027, 6, 1, tzinfo=UTC))
    assert winter is not None and winter.opens == datetime(2027, 1, 3, 0, 0, tzinfo=UTC)
    assert summer is not None and summer.opens == datetime(2027, 7, 3, 23, 0, tzinfo=UTC)


def test_a_window_over_the_spring_clock_change_is_an_hour_shorter() -> None:
    # Europe/Zurich: 2027-03-28 02:00 -> 03:00. "last Sunday of the month, 01:00-05:00".
    schedule = Schedule(
        timezone="Europe/Zurich", windows=("last Sunday of the month, 01:00-05:00",)
    )
    span = next_window(schedule, datetime(2027, 3, 20, tzinfo=UTC))
    assert span is not None and _local(span) == ("2027-03-28 01:00", "2027-03-28 05:00")
    assert span.closes - span.opens == timedelta(hours=3)
    autumn = next_window(schedule, datetime(2027, 10, 20, tzinfo=UTC))
    assert autumn is not None and autumn.closes - autumn.opens == timedelta(hours=5)


def test_a_start_inside_the_skipped_hour_opens_after_the_change() -> None:
    schedule = Schedule(
        timezone="Europe/Zurich", windows=("last Sunday of the month, 02:30-05:00",)
    )
    span = next_window(schedule, datetime(2027, 3, 20, tzinfo=UTC))
    assert span is not None
    assert span.opens == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert span.closes == datetime(2027, 3, 28, 3, 0, tzinfo=UTC)


def test_a_weekly_window_over_midnight_and_the_open_one() -> None:
    schedule = Schedule(windows=("every Saturday, 22:00-02:00",))
    saturday_late = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    open_now = window_at(schedule, saturday_late)
    assert open_now is not None
    assert (open_now.opens, open_now.closes) == (
        datetime(2026, 12, 5, 22, 0, tzinfo=UTC),
        datetime(2026, 12, 6, 2, 0, tzinfo=UTC),
    )
    # Sunday 01:00 is still inside Saturday's window.
    assert window_at(schedule, datetime(2026, 12, 6, 1, 0, tzinfo=UTC)) == open_now
    assert window_at(schedule, datetime(2026, 12, 6, 2, 0, tzinfo=UTC)) is None
    upcoming = next_window(schedule, saturday_late)
    assert upcoming is not None and upcoming.opens == datetime(2026, 12, 12, 22, 0, tzinfo=UTC)
    assert next_window(schedule, saturday_late, open_ones=True) == open_now


def test_several_windows_come_in_order() -> None:
    schedule = Schedule(
        windows=(
            "first Sunday of the month, 01:00-05:00",
            "third Saturday of the month, 20:00-23:00",
        )
    )
    found = spans(schedule, datetime(2026, 12, 1, tzinfo=UTC))
    opens = [next(found).opens.date().isoformat() for _ in range(4)]
    assert opens == ["2026-12-06", "2026-12-19", "2027-01-03", "2027-01-16"]


# ---- plan syntax ------------------------------------------------------------------------


def test_the_text_and_the_structured_form_are_the_same_window() -> None:
    structured = Schedule.model_validate(
        {
            "windows": [
                {
                    "every": "quarter",
                    "week": "first",
                    "weekday": "Sunday",
                    "start": "01:00",
                    "end": "05:00",
                }
            ]
        }
    )
    assert structured.windows == QUARTERLY.windows
    assert structured.windows[0].describe() == "first Sunday of the quarter, 01:00-05:00"


@pytest.mark.parametrize(
    ("schedule", "field", "words"),
    [
        ({"windows": ["first Sunday of the year, 01:00-05:00"]}, "windows[0]", "a window such"),
        ({"windows": ["every Sunday, 1:00-05:00"]}, "windows[0].start", "HH:MM"),
        ({"windows": ["every Funday, 01:00-05:00"]}, "windows[0].weekday", "monday"),
        (
            {
                "windows": [
                    {"every": "month", "weekday": "sunday", "start": "01:00", "end": "02:00"}
                ]
            },
            "windows[0]",
            "`week`",
        ),
        ({"timezone": "Europe/Atlantis"}, "timezone", "IANA"),
        ({"cron": "0 1 * * 0", "windows": ["every Sunday, 01:00-05:00"]}, "cron", "not both"),
        ({"window_minutes": 240}, "window_minutes", "belongs to cron"),
        ({"safety_margin_percent": -1}, "safety_margin_percent", "greater than"),
    ],
)
def test_a_bad_schedule_names_its_field(
    tmp_path, schedule: dict, field: str, words: str, demo_plan_data
) -> None:
    path = tmp_path / "plan.yaml"
    import yaml

    path.write_text(yaml.safe_dump({**demo_plan_data, "schedule": schedule}))
    with pytest.raises(PlanError) as refused:
        load_plan(path)
    assert refused.value.field == f"schedule.{field}", str(refused.value)
    assert words in str(refused.value)


@pytest.fixture
def demo_plan_data() -> dict:
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((root / "config" / "demo-plan.yaml").read_text())
    data["site_profile"] = str(root / "config" / "site-profiles" / "simulator.yaml")
    return data


def test_validation_error_is_importable_for_callers() -> None:
    with pytest.raises(Exception) as error:
        Schedule.model_validate({"windows": ["sometimes"]})
    assert validation_error("x", error.value).field == "windows[0]"


# ---- the guard ---------------------------------------------------------------------------

OPENS = datetime(2027, 1, 3, 0, 0, tzinfo=UTC)  # 01:00 in Zurich, the first Sunday
CLOSES = OPENS + timedelta(hours=4)


def test_a_scheduled_run_that_fits_starts() -> None:
    for now in (OPENS, OPENS + timedelta(minutes=150)):
        decision = decide(QUARTERLY, scheduled=True, now=now, run_window=(OPENS, CLOSES))
        assert decision.start and not decision.overridden, decision.message


def test_a_scheduled_run_that_would_overrun_is_refused_with_the_figures() -> None:
    decision = decide(
        QUARTERLY, scheduled=True, now=OPENS + timedelta(minutes=151), run_window=(OPENS, CLOSES)
    )
    assert not decision.start
    assert "89 minutes left" in decision.message and "needs 90" in decision.message
    assert "estimated_outage_minutes" in decision.message
    assert "2027-01-03T04:00:00+00:00" in decision.message
    assert "window_override_reason" in decision.message


def test_the_forecast_wins_over_the_estimate_and_the_margin_is_added() -> None:
    schedule = QUARTERLY.model_copy(update={"safety_margin_percent": 20})
    now = OPENS + timedelta(minutes=120)  # 120 minutes left
    fits = decide(
        schedule,
        scheduled=True,
        now=now,
        run_window=(OPENS, CLOSES),
        outage_minutes=95,
        outage_source="forecast: median of 3 past outage(s)",
    )
    assert fits.start  # 95 * 1.2 = 114 <= 120
    refused = decide(
        schedule,
        scheduled=True,
        now=now,
        run_window=(OPENS, CLOSES),
        outage_minutes=105,
        outage_source="forecast: median of 3 past outage(s)",
    )
    assert not refused.start
    assert "needs 126 (forecast: median of 3 past outage(s) plus a 20% margin)" in refused.message


def test_a_run_outside_every_window_is_refused_and_names_the_next() -> None:
    decision = decide(QUARTERLY, scheduled=False, now=datetime(2026, 12, 10, 12, tzinfo=UTC))
    assert not decision.start
    assert "outside every maintenance window" in decision.message
    assert "2027-01-03T00:00:00+00:00" in decision.message


def test_a_late_scheduled_run_is_refused() -> None:
    decision = decide(
        QUARTERLY, scheduled=True, now=CLOSES + timedelta(minutes=5), run_window=(OPENS, CLOSES)
    )
    assert not decision.start and "closed already" in decision.message


def test_an_override_reason_lets_it_start_and_says_what_was_overridden() -> None:
    decision = decide(
        QUARTERLY,
        scheduled=False,
        now=datetime(2026, 12, 10, 12, tzinfo=UTC),
        override_reason="CHG0042: outage agreed with the business for today",
    )
    assert decision.start and decision.overridden
    assert "CHG0042" in decision.message and "outside every maintenance window" in decision.message


def test_a_manual_run_inside_a_window_is_judged_against_it() -> None:
    now = OPENS + timedelta(minutes=200)  # 40 minutes left, 90 needed
    decision = decide(QUARTERLY, scheduled=False, now=now)
    assert not decision.start and "40 minutes left" in decision.message


def test_without_an_estimate_only_the_window_is_checked() -> None:
    schedule = QUARTERLY.model_copy(update={"estimated_outage_minutes": None})
    decision = decide(schedule, scheduled=False, now=CLOSES - timedelta(minutes=1))
    assert decision.start


def test_plans_without_a_window_and_manual_cron_runs_are_not_refused() -> None:
    late = OPENS + timedelta(hours=10)
    assert decide(Schedule(), scheduled=True, now=late).start
    assert decide(Schedule(cron="0 1 * * 0"), scheduled=True, now=late).start
    cron = Schedule(cron="0 1 * * 0", window_minutes=240, estimated_outage_minutes=90)
    assert decide(cron, scheduled=False, now=late).start
    refused = decide(cron, scheduled=True, now=late, run_window=(OPENS, CLOSES))
    assert not refused.start
