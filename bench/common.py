"""What every benchmark script shares: the output folder, the table, the machine's figures.

Figures go to ``.state/bench/`` (git ignores ``.state/``): one JSON file per invocation of
``bench/run.py`` plus the plot; the table is printed as figure | goal | measured | verdict.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("IBMI_RESYNC_BENCH_DIR") or ROOT / ".state" / "bench")


@dataclass
class Figure:
    """One row of the table: ``ok`` None means no goal (a figure reported for context)."""

    name: str
    goal: str
    measured: str
    ok: bool | None = None
    value: float | None = None
    note: str = ""


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# Steps of the loop that times the machine (`python_loop_s`).
LOOP_STEPS = 10_000_000


def python_loop_s(steps: int = LOOP_STEPS, repeats: int = 3) -> float:
    """Seconds a `steps`-step Python loop takes on one core, the best of `repeats`.

    Why: the same 2-core machine has run the same code at twice the CPU cost from one day to
    the next (docs/benchmarks.md), so a figure means little without the machine's speed at
    the time. Most of a run's CPU is Python (Airflow's services, the task processes, the
    simulator), so a loop of plain Python is the yardstick between runs.
    """
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for step in range(steps):
            total += step
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def machine() -> dict[str, Any]:
    """What the figures were measured on: the machine is shared, and its speed varies (the
    load average and `python_loop_s` say how)."""
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average": load_average(),
        "python_loop_s": python_loop_s(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def speed_line(payload: dict[str, Any]) -> str:
    """The machine's speed at the start and end of a run, for comparing runs between days."""
    start = payload["machine_start"]["python_loop_s"]
    end = payload["machine_end"]["python_loop_s"]
    return (
        f"machine speed: a {LOOP_STEPS:,}-step Python loop took {start} s at the start, "
        f"{end} s at the end (compare runs of different days by it)"
    )


def table(figures: list[Figure]) -> str:
    rows = [("figure", "goal", "measured", "")] + [
        (f.name, f.goal, f.measured, {True: "ok", False: "MISSED", None: ""}[f.ok]) for f in figures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["notes:", *notes] if notes else []))


def write_json(name: str, payload: dict[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    figures = payload.get("figures")
    if figures and isinstance(figures[0], Figure):
        payload = {**payload, "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(payload, indent=1, default=str))
    return path


def pss_mib(pids: list[int]) -> float:
    """Proportional set size of ``pids`` together (shared pages counted once overall)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024
