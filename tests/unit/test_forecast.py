"""The forecast: what each input contributes (past runs, the rehearsal, the volumes), the
fallbacks without history, and the `forecast` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ibmi_resync.__main__ import main
from ibmi_resync.forecast import (
    forecast,
    forecast_from_folder,
    load_reports,
    phase_shares,
    render_text,
)
from ibmi_resync.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan(ROOT / "config" / "demo-plan.yaml")
T0 = datetime(2026, 10, 4, 1, 0, tzinfo=UTC)
LIBRARIES = ("SECLIB", "ORDLIB", "ORDHIST", "BILLIB")


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def resync_report(
    run_id: str,
    *,
    phases: dict[int, tuple[float, float]],
    outage: float | None,
    counts: dict[str, int] | None = None,
    status: str = "OK",
    **extra: Any,
) -> dict[str, Any]:
    """A report as ibmi_resync.report builds it: one timeline bar per phase."""
    counts = counts if counts is not None else dict.fromkeys(LIBRARIES, 100)
    return {
        "plan": PLAN.name,
        "run_id": run_id,
        "dag_id": "icluster_resync",
        "status": status,
        "params": {},
        "started": _at(0),
        "outage": {"seconds": outage},
        "timeline": [
            {
                "task": "mark_positions" if phase == 2 else f"t{phase}",
                "group": "SYSTEM" if phase == 2 else None,
                "phase": phase,
                "start": _at(a),
                "end": _at(b),
            }
            for phase, (a, b) in phases.items()
        ],
        "libraries": {lib: {"count": n} for lib, n in counts.items()},
        **extra,
    }


# Phase 0 10 s, 1 20 s, 2 60 s, 3 100 s, 4 50 s, the rest 10 s each; outage 170 s.
PHASES = {0: (0, 10), 1: (10, 30), 2: (30, 90), 3: (40, 190), 4: (190, 240)}
PHASES |= {p: (240 + 10 * (p - 5), 250 + 10 * (p - 5)) for p in range(5, 12)}


def rehearsal_report(
    mark: float, counts: dict[str, int] | None = None, system_mark: float | None = None
) -> dict[str, Any]:
    """A rehearsal's report; `system_mark`: the SYSTEM group's mark task took that long."""
    groups = [] if system_mark is None else [{"group": "SYSTEM", "total_seconds": system_mark}]
    return {
        "plan": PLAN.name,
        "run_id": "manual__rehearsal",
        "kind": "rehearsal",
        "status": "OK",
        "started": _at(1000),
        "mark_phase_seconds": mark,
        "rehearsal": {"groups": groups},
        "libraries": {lib: {"count": n} for lib, n in (counts or {}).items()},
    }


def test_phase_shares_add_up_to_the_run() -> None:
    shares = phase_shares(resync_report("r1", phases=PHASES, outage=170))
    assert shares[0] == 10 and shares[1] == 20 and shares[2] == 60
    assert shares[3] == 100  # from the end of the marks (90) to the last save (190)
    assert sum(shares.values()) == 310


def test_history_gives_every_phase_and_the_outage() -> None:
    result = forecast(PLAN, [resync_report("r1", phases=PHASES, outage=170)])
    assert result.outage_seconds == 170
    assert result.total_seconds == 310
    assert result.history == ("r1",)
    assert all(p.seconds is not None and "past run" in p.source for p in result.phases)


def test_the_median_of_past_runs_is_used() -> None:
    slow = {**PHASES, 3: (40, 290)}
    runs = [
        resync_report("r1", phases=PHASES, outage=170),
        resync_report("r2", phases=slow, outage=270),
        resync_report("r3", phases=PHASES, outage=170),
    ]
    result = forecast(PLAN, runs)
    assert result.outage_seconds == 170
    assert result.phases[3].seconds == 100


def test_the_rehearsal_scales_the_past_mark_phase() -> None:
    # The past run's SYSTEM mark task took 60 s, today's rehearsal took 90 s: x1.5.
    result = forecast(
        PLAN,
        [resync_report("r1", phases=PHASES, outage=170)],
        [rehearsal_report(12, dict.fromkeys(LIBRARIES, 100), system_mark=90)],
    )
    assert result.phases[2].seconds == 90
    assert "marks x1.50 by rehearsal manual__rehearsal" in result.phases[2].source
    assert result.outage_seconds == 170 - 60 + 90
    assert "marks scaled by rehearsal" in result.outage_source
    assert any("locks" in note for note in result.notes)


def test_volumes_scale_save_move_clear_restore_but_not_the_rest() -> None:
    doubled = dict.fromkeys(LIBRARIES, 200)
    result = forecast(
        PLAN, [resync_report("r1", phases=PHASES, outage=170)], [rehearsal_report(60, doubled)]
    )
    assert result.volume_ratio == 2.0
    seconds = {p.phase: p.seconds for p in result.phases}
    assert seconds[3] == 200 and seconds[4] == 100 and seconds[6] == 20
    assert seconds[0] == 10 and seconds[10] == 10
    assert result.outage_seconds == 170 + 100  # the save share doubles
    assert "volume x2.00" in result.phases[3].source


def test_without_object_counts_libraries_are_compared() -> None:
    past = resync_report("r1", phases=PHASES, outage=170, counts={"SECLIB": None, "ORDLIB": None})
    result = forecast(PLAN, [past])
    assert result.volume_ratio == 2.0  # the plan has 4 libraries, the past run had 2
    assert any("library count" in note for note in result.notes)


def test_failed_dry_other_plan_and_other_dag_reports_are_not_history() -> None:
    runs = [
        resync_report("failed", phases=PHASES, outage=999, status="FAIL"),
        resync_report("dry", phases=PHASES, outage=None),
        resync_report("other", phases=PHASES, outage=999, plan="another-plan"),
        resync_report("net", phases=PHASES, outage=999, dag_id="icluster_network_sync"),
        resync_report("good", phases=PHASES, outage=170),
    ]
    assert forecast(PLAN, runs).history == ("good",)


def test_fallbacks_without_history() -> None:
    nothing = forecast(PLAN)
    assert nothing.outage_seconds is None and nothing.total_seconds is None
    assert "no estimated_outage_minutes" in nothing.outage_source
    assert "until a resync" in nothing.total_source

    estimated = PLAN.model_copy(
        update={"schedule": PLAN.schedule.model_copy(update={"estimated_outage_minutes": 90})}
    )
    assert forecast(estimated).outage_seconds == 5400
    assert "fallback" in forecast(estimated).outage_source
    slow_mark = forecast(estimated, rehearsals=[rehearsal_report(6000)])
    assert slow_mark.outage_seconds == 6000 and "exceeds" in slow_mark.outage_source
    assert slow_mark.phases[2].seconds == 6000  # the rehearsal's own mark phase
    assert "its mark phase" in slow_mark.phases[2].source


def _write(folder: Path, name: str, report: dict[str, Any]) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "report.json").write_text(json.dumps(report))


def test_reports_are_read_from_the_folder_and_bad_files_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "a", resync_report("r1", phases=PHASES, outage=170))
    _write(tmp_path, "b", rehearsal_report(75, system_mark=30))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "report.json").write_text("{not json")
    resyncs, rehearsals = load_reports(tmp_path)
    assert [r["run_id"] for r in resyncs] == ["r1"]
    assert [r["run_id"] for r in rehearsals] == ["manual__rehearsal"]
    result = forecast_from_folder(PLAN, tmp_path)
    assert result.rehearsal == "manual__rehearsal" and result.phases[2].seconds == 30
    assert forecast_from_folder(PLAN, tmp_path / "missing").history == ()
    text = render_text(result)
    assert "outage (applications down): 2 min 20 s" in text  # 170 - 60 + 30
    assert "Mark positions per replication group" in text


def test_the_forecast_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "a", resync_report("r1", phases=PHASES, outage=170))
    plan = str(ROOT / "config" / "demo-plan.yaml")
    assert main(["forecast", plan, "--reports", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "Forecast for plan demo-pair" in shown and "2 min 50 s" in shown
    assert main(["forecast", plan, "--reports", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outage_seconds"] == 170 and len(data["phases"]) == 12
    assert main(["forecast", str(tmp_path / "nope.yaml")]) == 2
    assert "error:" in capsys.readouterr().err
