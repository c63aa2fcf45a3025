"""The run report: outage window, groups, libraries, overall status, and a page that renders."""

from __future__ import annotations

from html.parser import HTMLParser

from ibmi_resync.report import build_report, render_html

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
