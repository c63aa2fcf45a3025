"""The run report: outage window, groups, libraries, overall status, and a page that renders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from ibmi_resync.report import build_report, compare_with_history, render_html

PATTERN = "(?P<differences>[0-9]+) objects? out of sync"


def _entry(at: str, text: str, result: str = "OK", group: str | None = None) -> dict:
    return {
        "at": at,
        "node": "PRIMARY",
        "group": group,
        "kind": "CL",
        "text": text,
        "result": result,
        "detail": "",
    }


RESULTS = [
    {
        "task": "end_applications",
        "log": [
            _entry("2026-11-25T01:00:00+00:00", "QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD)"),
            _entry(
                "2026-11-25T01:00:05+00:00", "QSYS/ENDSBS SBS(APPSBS) OPTION(*IMMED)", "skipped"
            ),
        ],
    },
    {
        "task": "mark_positions",
        "group": "ORDERS",
        "event:ORDERS:2": {"message_text": "receiver JRN/RCV1 sequence 42"},
        "log": [],
    },
    {"task": "save_group", "group": "ORDERS", "count:ORDLIB": 12, "saved:ORDLIB": 12, "log": []},
    {
        "task": "restart_applications",
        "log": [
            _entry("2026-11-25T01:07:30.500+00:00", "QSYS/STRSBS SBSD(APPLIB/APPSBS)"),
        ],
    },
    {
        "task": "final_sync_check",
        "group": "ORDERS",
        "event:ORDERS:11": {
            "message_text": "Sync check for group ORDERS ended: 3 objects out of sync."
        },
        "log": [],
    },
]


def test_outage_window_is_applications_down_to_up() -> None:
    report = build_report(
        plan_name="demo",
        run_id="r1",
        task_results=RESULTS,
        task_states={"end_applications": "success"},
    )
    assert report["outage"] == {
        "applications_down": "2026-11-25T01:00:00+00:00",
        "applications_up": "2026-11-25T01:07:30.500000+00:00",
        "seconds": 450.5,
    }


def test_sync_check_differences_above_threshold_warn_or_fail_by_config() -> None:
    common = {
        "plan_name": "demo",
        "run_id": "r1",
        "task_results": RESULTS,
        "task_states": {},
        "sync_check_pattern": PATTERN,
    }
    assert build_report(**common, difference_threshold=5)["status"] == "OK"
    warned = build_report(**common, difference_threshold=0)
    assert warned["status"] == "WARN"
    assert warned["reasons"] == ["group ORDERS: 3 objects out of sync (threshold 0)"]
    assert build_report(**common, over_threshold="fail")["status"] == "FAIL"


def test_a_failed_task_fails_the_run_and_groups_and_libraries_are_listed() -> None:
    report = build_report(
        plan_name="demo",
        run_id="r1",
        task_results=RESULTS,
        task_states={"outage.save_group": "failed", "preflight": "success"},
        sync_check_pattern=PATTERN,
        difference_threshold=10,
    )
    assert report["status"] == "FAIL"
    assert report["reasons"] == ["tasks failed: outage.save_group"]
    assert report["groups"][0]["marked_position"] == "receiver JRN/RCV1 sequence 42"
    assert report["groups"][0]["sync_checks"][0]["differences"] == 3
    assert report["libraries"] == {"ORDLIB": {"count": 12, "saved": 12}}


def test_a_re_run_is_noted_with_what_it_found_already_done() -> None:
    """Failed instances cleared and run again: the report names the task that ran again, and
    the steps it did not redo (skipped by their guard, or attached to an earlier job)."""
    again = {
        "task": "restore_group",
        "group": "BILLING",
        "attempt": 2,
        "log": [
            {
                "at": "2026-11-25T01:10:00",
                "phase": 6,
                "group": "BILLING",
                "subject": "BILLIB",
                "kind": "SBMJOB",
                "result": "attached",
                "text": "QSYS/SBMJOB ...",
                "detail": "job 100003/SIMUSER/RLX of an earlier attempt ended OK",
            },
        ],
    }
    first = {"task": "save_group", "group": "ORDERS", "attempt": 1, "log": []}
    report = build_report(
        plan_name="demo",
        run_id="r1",
        task_results=[first, again],
        task_states={"restore.restore_group": "success"},
    )
    assert "restore_group[BILLING] ran again (attempt 2)" in report["notes"]
    assert not any("save_group" in note for note in report["notes"])
    assert {(a["task"], a["attempt"]) for a in report["attempts"]} == {
        ("save_group", 1),
        ("restore_group", 2),
    }
    (kept,) = report["not_redone"]
    assert kept["subject"] == "BILLIB" and "ended OK" in kept["detail"]


def test_the_run_is_compared_with_the_forecast_and_past_runs() -> None:
    """The page puts this run's outage and whole-run time next to the forecast the earlier
    runs gave and next to those runs (issue 8 item 4)."""
    past = {
        "run_id": "r0",
        "status": "OK",
        "started": "2026-08-01T01:00:00",
        "ended": "2026-08-01T01:20:00",
        "outage": {"seconds": 600.0},
    }
    report = build_report(plan_name="demo", run_id="r1", task_results=RESULTS, task_states={})
    forecast = {"outage_seconds": 540.0, "outage_source": "1 past run", "total_seconds": 1200.0}
    report["comparison"] = compare_with_history(report, [past, report], forecast)
    comparison = report["comparison"]
    assert [r["run_id"] for r in comparison["past_runs"]] == ["r0"]  # not this run itself
    assert comparison["past_runs"][0]["total_seconds"] == 1200.0
    assert comparison["forecast"]["outage_seconds"] == 540.0
    page = render_html(report)
    table = page.split("Against the forecast and past runs", 1)[1]
    assert "forecast (1 past run)" in table and "9 min 0 s" in table and "10 min 0 s" in table
    assert "r0" in table and "20 min 0 s" in table


def test_the_page_names_the_dag_that_ran() -> None:
    report = build_report(plan_name="demo", run_id="r1", task_results=RESULTS, task_states={})
    titles = {}
    for label, extra in (
        ("resync", {"dag_id": "icluster_resync"}),
        ("network sync", {"dag_id": "icluster_network_sync"}),
        ("rehearsal", {"dag_id": "icluster_rehearsal", "rehearsal": {"groups": []}}),
    ):
        page = render_html({**report, **extra})
        titles[label] = page.split("<h1>", 1)[1].split(" ", 2)[:2]
    assert titles == {
        "resync": ["Resync", "demo"],
        "network sync": ["Network", "sync"],
        "rehearsal": ["Rehearsal", "demo"],
    }


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)


def test_the_page_is_self_contained_and_escapes_what_it_shows() -> None:
    results = [
        *RESULTS,
        {"task": "x", "log": [_entry("2026-11-25T02:00:00+00:00", "<script>alert(1)</script>")]},
    ]
    page = render_html(
        build_report(plan_name="demo", run_id="r1", task_results=results, task_states={})
    )
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "outage 450.5 s" in page


# ---- a whole run, timed: the timeline, the per-group table --------------------------------

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
GROUPS = ("SYSTEM", "ORDERS", "BILLING")
LIBRARIES = {"SYSTEM": ("SECLIB",), "ORDERS": ("ORDLIB", "ORDHIST"), "BILLING": ("BILLIB",)}


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def _step(
    seconds: float,
    phase: int,
    text: str,
    group: str | None = None,
    kind: str = "CL",
    result: str = "OK",
    detail: str = "",
) -> dict:
    node = "BACKUP" if phase in (5, 6) else "PRIMARY"
    return {
        "at": _at(seconds),
        "phase": phase,
        "node": node,
        "kind": kind,
        "group": group,
        "text": text,
        "result": result,
        "detail": detail,
    }


def _task(task: str, phase: int, start: float, end: float, group: str | None = None, **values):
    """A task's result: a command at `start`, a wait that ended at `end`."""
    return {
        "task": task,
        "group": group,
        **values,
        "log": [
            _step(start, phase, f"QSYS/{task.upper()}", group),
            _step(end, phase, "SELECT 1", group, kind="WAIT", result="done"),
        ],
    }


def _one_task(task: str, *parts: dict) -> dict:
    """The result of a task that runs several phases: the parts' values and logs, in order."""
    merged: dict = {"task": task, "group": parts[0].get("group"), "log": []}
    for part in parts:
        merged.update((key, value) for key, value in part.items() if key not in merged)
        merged["log"] += part["log"]
    return merged


def full_run_results() -> list[dict]:
    """Every task of a three-group resync, as the operators return them, with times."""
    results = [
        _task("preflight", 0, 0, 20),
        {
            "task": "end_applications",
            "log": [
                _step(30, 1, "QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD)"),
                _step(90, 1, "SELECT STATUS", kind="WAIT", result="done"),
            ],
        },
    ]
    save_ends = []
    for index, group in enumerate(GROUPS):
        mark_end = 150 + index * 20
        marked = {"message_text": f"{group} marked at sequence {index + 40}"}
        mark = _task(
            "mark_positions", 2, 95 + index * 2, mark_end, group, **{f"event:{group}:2": marked}
        )
        counts = {}
        for library in LIBRARIES[group]:
            counts[f"count:{library}"] = 10 + index
            counts[f"saved:{library}"] = 10 + index
        save_end = mark_end + 120 + index * 40
        save_ends.append(save_end)
        save = _task("save_group", 3, mark_end + 2, save_end, group, **counts)
        results.append(_one_task("mark_and_save", mark, save))
    results.append(_task("save_security_data", 3, 100, 200))
    up = max(save_ends) + 5
    results.append(
        {
            "task": "restart_applications",
            "log": [_step(up, 3, "QSYS/STRSBS SBSD(APPLIB/APPSBS)")],
        }
    )
    results.append(_task("transfer_security_data", 4, up + 2, up + 40))
    clock = up + 45
    for index, group in enumerate(GROUPS):
        results.append(_task("transfer_group", 4, up + 2 + index, up + 60 + index * 15, group))
        results.append(_task("clear_group", 5, clock + 40, clock + 50 + index * 5, group))
    results.append(_task("restore_profiles", 6, clock + 60, clock + 90))
    for index, group in enumerate(GROUPS):
        restored = {f"restored:{library}": 10 + index for library in LIBRARIES[group]}
        results.append(
            _task("restore_group", 6, clock + 92, clock + 200 + index * 30, group, **restored)
        )
    clock += 300
    results.append(_task("restore_authorities", 6, clock, clock + 20))
    results.append(_task("start_cluster", 7, clock + 25, clock + 40))
    for index, group in enumerate(GROUPS):
        differences = {"SYSTEM": 0, "ORDERS": 2, "BILLING": 0}[group]
        message = {"message_text": f"Sync check for {group}: {differences} objects out of sync."}
        results.append(
            _task(
                "sync_check",
                8,
                clock + 45,
                clock + 90 + index * 10,
                group,
                **{f"event:{group}:8": message},
            )
        )
        start = _task("start_replication", 9, clock + 130, clock + 140 + index, group)
        seen = (
            f"source latency {1.5 + index} s, apply latency {0.5 * index} s, "
            f"backlog {index * 3}, last applied 77"
        )
        latency = {
            "task": "wait_for_latency",
            "group": group,
            "log": [
                _step(clock + 145, 10, "SELECT LATENCY", group, "WAIT", "done", seen),
                _step(clock + 180 + index * 20, 10, "SELECT LATENCY", group, "WAIT", "done", seen),
            ],
        }
        final = {"message_text": f"Sync check for {group}: 0 objects out of sync."}
        check = _task(
            "final_sync_check",
            11,
            clock + 250,
            clock + 300 + index * 10,
            group,
            **{f"event:{group}:11": final},
        )
        results.append(_one_task("replicate_group", start, latency, check))
    return results


def full_report(**changes) -> dict:
    arguments = {
        "plan_name": "demo-pair",
        "run_id": "manual__2026-11-25T01:00:00+00:00",
        "task_results": full_run_results(),
        "task_states": {"preflight": "success"},
        "sync_check_pattern": PATTERN,
        "approvals": [
            {
                "chosen_options": ["Approve"],
                "responded_by_user": {"id": "jane", "name": "operator.jane"},
                "responded_at": "2026-11-25T01:12:00+00:00",
            }
        ],
        "triggered_by": "operator.jane",
    }
    arguments.update(changes)
    return build_report(**arguments)


def test_the_timeline_has_a_bar_per_task_group_and_phase_in_time_order() -> None:
    report = full_report()
    timeline = report["timeline"]
    results = full_run_results()
    phases = sum(len({entry["phase"] for entry in result["log"]}) for result in results)
    assert len(timeline) == phases > len(results)  # a bar per phase of the merged tasks
    assert [bar["start"] for bar in timeline] == sorted(bar["start"] for bar in timeline)
    assert all(bar["start"] <= bar["end"] for bar in timeline)
    marks = [bar for bar in timeline if bar["task"] == "mark_and_save" and bar["phase"] == 2]
    assert [bar["group"] for bar in marks] == ["SYSTEM", "ORDERS", "BILLING"]
    assert datetime.fromisoformat(marks[0]["start"]) == T0 + timedelta(seconds=95)
    assert datetime.fromisoformat(marks[0]["end"]) == T0 + timedelta(seconds=150)
    # the group's save bar starts where its mark bar ends and ends with the task
    save = next(bar for bar in timeline if bar["task"] == "mark_and_save" and bar["phase"] == 3)
    assert save["group"] == "SYSTEM" and save["start"] == marks[0]["end"]
    assert datetime.fromisoformat(save["end"]) == T0 + timedelta(seconds=150 + 120)
    assert marks[0]["steps"] == 2 and save["steps"] == 2
    replicate = [bar for bar in timeline if bar["task"] == "replicate_group"]
    assert [bar["phase"] for bar in replicate if bar["group"] == "ORDERS"] == [9, 10, 11]
    restart = next(bar for bar in timeline if bar["task"] == "restart_applications")
    assert restart["start"] == restart["end"] and restart["steps"] == 1


def test_a_result_that_carries_its_own_times_uses_them() -> None:
    result = {
        "task": "start_cluster",
        "started": "2026-11-25T02:00:00+00:00",
        "ended": "2026-11-25T02:01:00+00:00",
        "log": [],
    }
    (bar,) = build_report(plan_name="p", run_id="r", task_results=[result], task_states={})[
        "timeline"
    ]
    assert (bar["phase"], bar["start"], bar["end"]) == (
        7,
        "2026-11-25T02:00:00+00:00",
        "2026-11-25T02:01:00+00:00",
    )


def test_every_group_has_its_libraries_marks_checks_and_latency() -> None:
    report = full_report()
    groups = {record["group"]: record for record in report["groups"]}
    assert list(groups) == sorted(GROUPS)
    orders = groups["ORDERS"]
    assert orders["libraries"] == ["ORDHIST", "ORDLIB"]
    assert orders["marked_position"] == "ORDERS marked at sequence 41"
    assert [(c["phase"], c["differences"]) for c in orders["sync_checks"]] == [(8, 2), (11, 0)]
    assert orders["latency"]["source_seconds"] == 2.5
    assert orders["latency"]["apply_seconds"] == 0.5
    assert orders["latency"]["backlog"] == 3
    assert len(orders["latency"]["readings"]) == 2
    # ORDERS differed at step 8 (before replication restarted) but not at the final check.
    assert report["status"] == "OK"
    assert report["notes"] == [
        "group ORDERS: 2 objects differed at step 8, before replication restarted"
    ]


def test_the_old_keys_keep_their_meaning() -> None:
    report = full_report()
    assert set(report) >= {
        "plan",
        "run_id",
        "triggered_by",
        "params",
        "status",
        "reasons",
        "outage",
        "started",
        "ended",
        "task_states",
        "approvals",
        "groups",
        "libraries",
        "steps",
    }
    assert report["outage"]["applications_down"] == _at(30).replace(".000", "")
    assert report["libraries"]["ORDLIB"] == {"count": 11, "saved": 11, "restored": 11}
    # A run whose tasks returned no group and no log (a dry run) still reports.
    dry = build_report(
        plan_name="p", run_id="r", task_results=[{"dry_run": True, "steps": 3}], task_states={}
    )
    assert dry["timeline"] == [] and dry["groups"] == []


def test_the_page_draws_the_timeline_with_a_row_per_phase_and_per_group() -> None:
    page = render_html(full_report())
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    for remote in ("src=", "href=", "url(", "@import"):
        assert remote not in page, remote
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" id="timeline"') == 1
    for group in GROUPS:
        assert page.count(f'class="row group-row" data-group="{group}"') == 1
        assert f'<tr data-group="{group}">' in page
    assert page.count('class="row phase-row"') == 12  # phases 0-11 all ran
    assert page.count('class="outage"') == 1
    assert "outage 6 min 5 s" in page  # ENDSBS at 01:00:30, STRSBS at 01:06:35
    assert "source 2.5 s, apply 0.5 s, backlog 3" in page
    assert "Approve by operator.jane" in page


def test_an_empty_run_still_draws_a_frame() -> None:
    page = render_html(
        build_report(plan_name="p", run_id="r", task_results=[], task_states={"x": "failed"})
    )
    assert 'id="timeline"' in page
    assert "No timed steps were recorded" in page


def test_a_latency_curve_needs_two_readings() -> None:
    from ibmi_resync.report import _sparkline

    assert _sparkline([{"source_seconds": 3.0, "apply_seconds": 1.0}]) == ""
    curve = _sparkline(
        [
            {"source_seconds": 30.0, "apply_seconds": 10.0},
            {"source_seconds": 4.0, "apply_seconds": 1.0},
            {"source_seconds": 1.0, "apply_seconds": None},
        ]
    )
    assert curve.count("<polyline") == 2 and "max 30 s" in curve


def test_a_failed_task_s_message_is_in_the_reasons() -> None:
    report = build_report(
        plan_name="demo",
        run_id="r1",
        task_results=RESULTS,
        task_states={"outage.save_group": "failed"},
        failures=[
            {
                "task": "save_group",
                "group": "ORDERS",
                "message": "save of ORDHIST ended PARTIAL: 23 saved, 2 not saved",
            }
        ],
    )
    assert report["status"] == "FAIL"
    assert report["reasons"] == [
        "tasks failed: outage.save_group",
        "save_group[ORDERS]: save of ORDHIST ended PARTIAL: 23 saved, 2 not saved",
    ]
    assert report["failures"][0]["group"] == "ORDERS"
