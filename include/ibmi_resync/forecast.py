"""The forecast of the next resync: its outage window and its total time, phase by phase.

Negotiating the outage is the hardest part of a resync (runbook, introduction: "we will need
to estimate how long it will take and request the interruption"), and the runbook's step (a)
runs DMMRKPOS ahead of time partly to get "a benchmark estimate of how long you can expect
it to take". Three inputs feed the figure, each for what it knows best:

* **Past resync reports** (report.json of earlier `icluster_resync` runs of the same plan,
  OK or WARN, not dry runs; the last `HISTORY` of them): the measured outage and each
  phase's share of the run. A phase's share is the time from the end of the phase before
  it to the end of its own last task; the DAG runs the phases in order, so the shares add
  up to the whole run. The figure per phase is the median over the runs.
* **The latest rehearsal** (its report, dags/icluster_rehearsal.py): how long each group's
  mark task took today, with today's group definitions. With history, a past run's mark
  phase is scaled by the rehearsal's mark tasks against that run's mark tasks (same groups):
  the history keeps what the deployment adds around the marks (scheduling, how many run at
  once), the rehearsal says whether the marks themselves got slower. Without history, the
  rehearsal's own mark phase (end of its last mark minus end of its pre-flight) is used. The
  rehearsal marks with the applications running, so exclusive locks make it slower than the
  real mark (runbook step a): the figure errs on the long side. Its pre-flight
  counted the objects of every library of the plan, which gives the next run's volume.
* **The plan's data volumes**: the libraries the plan resyncs now, weighed by those object
  counts (by the number of libraries when no count is known), against the volume of each
  past run: save, move, clear and restore (phases 3-6) scale with that ratio; the other
  phases do not depend on volume.

Fallbacks, when history is missing: the outage is the plan's `schedule.
estimated_outage_minutes` (at least the rehearsal's mark time); a phase without history has
no figure, and the total is unknown until one resync has run. Each figure says where it came
from (`source`). Pure: no Airflow import; reads JSON files only.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ibmi_resync.notices import duration_text
from ibmi_resync.plan import Plan
from ibmi_resync.program import Phase

__all__ = [
    "HISTORY",
    "VOLUME_PHASES",
    "Forecast",
    "PhaseForecast",
    "forecast",
    "forecast_from_folder",
    "load_reports",
    "phase_shares",
    "render_text",
]

HISTORY = 5  # past runs a forecast looks at, the most recent first
# Phases whose time grows with the data saved, moved, cleared and restored.
VOLUME_PHASES = frozenset({Phase.SAVE, Phase.TRANSFER, Phase.CLEAR, Phase.RESTORE})
REPORT = "report.json"  # a rehearsal's has "kind": "rehearsal" (ibmi_resync.rehearsal)
REHEARSAL_KIND = "rehearsal"
RESYNC_DAG = "icluster_resync"  # other DAGs (network sync) write report.json too


@dataclass(frozen=True)
class PhaseForecast:
    phase: int
    title: str
    seconds: float | None
    source: str


@dataclass(frozen=True)
class Forecast:
    """The next run's expected outage and total time, and where each figure came from."""

    plan: str
    outage_seconds: float | None
    outage_source: str
    total_seconds: float | None
    total_source: str
    phases: tuple[PhaseForecast, ...] = ()
    history: tuple[str, ...] = ()  # run ids of the past runs used
    rehearsal: str | None = None  # run id of the rehearsal used
    volume_ratio: float | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def outage_minutes(self) -> float | None:
        return None if self.outage_seconds is None else self.outage_seconds / 60

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse(at: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(at)) if at else None
    except ValueError:
        return None


def phase_shares(report: Mapping[str, Any]) -> dict[int, float]:
    """Seconds each phase added to a run: end of its last task minus end of the phase
    before (the run's first task start for the first phase). See the module docstring."""
    ends: dict[int, datetime] = {}
    starts: list[datetime] = []
    for bar in report.get("timeline") or []:
        start, end, phase = _parse(bar.get("start")), _parse(bar.get("end")), bar.get("phase")
        if start is None or end is None or not isinstance(phase, int):
            continue
        starts.append(start)
        ends[phase] = max(end, ends.get(phase, end))
    if not starts:
        return {}
    shares: dict[int, float] = {}
    previous = min(starts)
    for phase in sorted(ends):
        shares[phase] = max((ends[phase] - previous).total_seconds(), 0.0)
        previous = max(previous, ends[phase])
    return shares


def _is_history(report: Mapping[str, Any], plan: str) -> bool:
    outage = (report.get("outage") or {}).get("seconds")
    dry = bool((report.get("params") or {}).get("dry_run"))
    return (
        report.get("plan") == plan
        and report.get("kind", "resync") == "resync"
        and report.get("dag_id", RESYNC_DAG) == RESYNC_DAG
        and report.get("status") in ("OK", "WARN")
        and outage is not None
        and not dry
    )


def load_reports(folder: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(resync reports, rehearsal reports) found under `folder` (one folder per run), most
    recent first. Unreadable files are skipped: a forecast must never stop a run."""
    resyncs: list[dict[str, Any]] = []
    rehearsals: list[dict[str, Any]] = []
    root = Path(folder)
    if not root.is_dir():
        return [], []
    for path in root.glob(f"*/{REPORT}"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            (rehearsals if data.get("kind") == REHEARSAL_KIND else resyncs).append(data)
    for reports in (resyncs, rehearsals):
        reports.sort(key=lambda r: str(r.get("started") or r.get("ended") or ""), reverse=True)
    return resyncs, rehearsals


def _volume(counts: Mapping[str, Any], libraries: Sequence[str]) -> tuple[float, bool]:
    """(volume, measured): object counts of `libraries`; a library without a count weighs as
    the average of those with one; no count at all: the number of libraries."""
    known = [float(counts[lib]) for lib in libraries if isinstance(counts.get(lib), int | float)]
    if not known:
        return float(len(libraries)), False
    average = sum(known) / len(known)
    return sum(known) + average * (len(libraries) - len(known)), True


def _counts(report: Mapping[str, Any]) -> dict[str, Any]:
    return {
        library: (values or {}).get("count")
        for library, values in (report.get("libraries") or {}).items()
        if isinstance(values, Mapping)
    }


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def forecast(
    plan: Plan,
    resyncs: Sequence[Mapping[str, Any]] = (),
    rehearsals: Sequence[Mapping[str, Any]] = (),
) -> Forecast:
    """The forecast from reports (most recent first; see the module docstring for what each
    input contributes and for the fallbacks)."""
    history = [r for r in resyncs if _is_history(r, plan.name)][:HISTORY]
    rehearsal = next(
        (r for r in rehearsals if r.get("plan") == plan.name and r.get("status") in ("OK", "WARN")),
        None,
    )
    libraries = [lib for group in plan.groups for lib in group.libraries]
    notes: list[str] = []
    next_counts = _counts(rehearsal) if rehearsal else {}
    next_volume, measured = _volume(next_counts, libraries)
    ratios = []
    for run in history:
        run_libraries = list((run.get("libraries") or {}).keys())
        past_counts = _counts(run)
        if measured and any(isinstance(past_counts.get(lib), int) for lib in run_libraries):
            past, ours = _volume(past_counts, run_libraries)[0], next_volume
        else:  # compare like with like: libraries against libraries
            past, ours = float(len(run_libraries)), float(len(libraries))
        ratios.append(ours / past if past else 1.0)
    ratio = _median(ratios)
    mark = rehearsal.get("mark_phase_seconds") if rehearsal else None
    rehearsal_id = str(rehearsal.get("run_id")) if rehearsal else None
    shares = [phase_shares(run) for run in history]
    marks = _mark_figures(history, shares, rehearsal)
    phases: list[PhaseForecast] = []
    for phase in Phase:
        measured_shares = [s[phase.value] for s in shares if phase.value in s]
        scale = ratio if phase in VOLUME_PHASES and ratio is not None else 1.0
        if phase is Phase.MARK_POSITIONS and any(m[1] is not None for m in marks):
            scales = [m[1] for m in marks if m[1] is not None]
            seconds = float(_median(m[0] for m in marks) or 0.0)
            source = (
                f"median of {len(marks)} past run(s), marks x{_median(scales):.2f} by "
                f"rehearsal {rehearsal_id}"
            )
        elif phase is Phase.MARK_POSITIONS and not history and isinstance(mark, int | float):
            seconds, source = float(mark), f"rehearsal {rehearsal_id} (its mark phase)"
        elif measured_shares:
            seconds = float(_median(measured_shares) or 0.0) * scale
            source = f"median of {len(measured_shares)} past run(s)"
            if scale != 1.0:
                source += f", volume x{scale:.2f}"
        else:
            seconds, source = None, "no history"
        phases.append(PhaseForecast(phase.value, phase.title, seconds, source))
    outage, outage_source = _outage(plan, history, shares, marks, mark, ratio, rehearsal_id)
    known = [p.seconds for p in phases if p.seconds is not None]
    if history and len(known) == len(phases):
        total, total_source = sum(known), f"sum of the phases ({len(history)} past run(s))"
    elif history:
        total = sum(known)
        total_source = "sum of the phases with history (some phases never ran before)"
    else:
        total, total_source = None, "unknown until a resync of this plan has run"
    if rehearsal:
        notes.append(
            "the rehearsal marked with the applications running: locks make its DMMRKPOS "
            "slower than the real one (runbook step a)"
        )
    if not measured:
        notes.append("no object counts from a rehearsal: volumes compared by library count")
    return Forecast(
        plan=plan.name,
        outage_seconds=outage,
        outage_source=outage_source,
        total_seconds=total,
        total_source=total_source,
        phases=tuple(phases),
        history=tuple(str(run.get("run_id")) for run in history),
        rehearsal=rehearsal_id,
        volume_ratio=ratio,
        notes=tuple(notes),
    )


def _mark_seconds(report: Mapping[str, Any]) -> dict[str, float]:
    """Seconds of each group's marking: a resync's phase-2 timeline bars (the mark part of
    its mark-and-save task), a rehearsal's groups."""
    found: dict[str, float] = {}
    for record in (report.get("rehearsal") or {}).get("groups") or []:
        if record.get("group") and isinstance(record.get("total_seconds"), int | float):
            found[str(record["group"])] = float(record["total_seconds"])
    for bar in report.get("timeline") or []:
        start, end = _parse(bar.get("start")), _parse(bar.get("end"))
        if bar.get("phase") == Phase.MARK_POSITIONS.value and bar.get("group") and start and end:
            found.setdefault(str(bar["group"]), (end - start).total_seconds())
    return found


def _mark_figures(
    history: Sequence[Mapping[str, Any]],
    shares: Sequence[Mapping[int, float]],
    rehearsal: Mapping[str, Any] | None,
) -> list[tuple[float, float | None]]:
    """Per past run: (its mark phase scaled by the rehearsal, the scale or None)."""
    today = _mark_seconds(rehearsal) if rehearsal else {}
    figures = []
    for run, share in zip(history, shares, strict=True):
        past_share = share.get(Phase.MARK_POSITIONS.value)
        if past_share is None:
            continue
        then = _mark_seconds(run)
        common = sorted(set(today) & set(then))
        past_total = sum(then[group] for group in common)
        if common and past_total > 0:
            scale = sum(today[group] for group in common) / past_total
            figures.append((past_share * scale, scale))
        else:
            figures.append((past_share, None))
    return figures


def _outage(
    plan: Plan,
    history: Sequence[Mapping[str, Any]],
    shares: Sequence[Mapping[int, float]],
    marks: Sequence[tuple[float, float | None]],
    mark: Any,
    ratio: float | None,
    rehearsal_id: str | None,
) -> tuple[float | None, str]:
    """Applications down to up (runbook steps 1-3): per past run, its measured outage with
    its mark share scaled by the rehearsal and its save share by volume; the median."""
    rehearsed = isinstance(mark, int | float)
    if history:
        figures = []
        scaled = iter(marks)
        for run, share in zip(history, shares, strict=True):
            measured = float(run["outage"]["seconds"])
            past_mark = share.get(Phase.MARK_POSITIONS.value)
            past_save = share.get(Phase.SAVE.value, 0.0)
            next_mark = next(scaled)[0] if past_mark is not None else 0.0
            rest = max(measured - (past_mark or 0.0) - past_save, 0.0)
            figures.append(rest + next_mark + past_save * (ratio or 1.0))
        source = f"median of {len(history)} past outage(s)"
        if any(scale is not None for _, scale in marks):
            source += f", marks scaled by rehearsal {rehearsal_id}"
        if ratio is not None and ratio != 1.0:
            source += f", save scaled x{ratio:.2f} by volume"
        return float(_median(figures) or 0.0), source
    estimate = plan.schedule.estimated_outage_minutes
    if estimate is not None:
        seconds = estimate * 60.0
        if rehearsed and float(mark) > seconds:
            return float(mark), (
                f"fallback: the rehearsal's mark alone ({float(mark):.0f} s) exceeds the "
                "plan's estimated_outage_minutes"
            )
        return seconds, "fallback: the plan's estimated_outage_minutes (no past resync)"
    return None, "unknown: no past resync and no estimated_outage_minutes in the plan"


def forecast_from_folder(plan: Plan, folder: str | Path) -> Forecast:
    """The forecast from the reports under `folder` (the resync reports folder)."""
    resyncs, rehearsals = load_reports(folder)
    return forecast(plan, resyncs, rehearsals)


def render_text(result: Forecast) -> str:
    """The forecast for people: outage and total first, then phase by phase."""
    lines = [
        f"Forecast for plan {result.plan}",
        f"  outage (applications down): {duration_text(result.outage_seconds)}"
        f"  [{result.outage_source}]",
        f"  whole run:                  {duration_text(result.total_seconds)}"
        f"  [{result.total_source}]",
        f"  past runs used: {', '.join(result.history) or 'none'}; rehearsal: "
        f"{result.rehearsal or 'none'}"
        + (f"; volume x{result.volume_ratio:.2f}" if result.volume_ratio is not None else ""),
        "",
        "  phase                                                          time        from",
    ]
    for phase in result.phases:
        lines.append(
            f"  {phase.phase:>2} {phase.title[:58]:<58} {duration_text(phase.seconds):>11}  "
            f"{phase.source}"
        )
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
