"""The benchmark's machine figures: the speed yardstick that makes runs of different days
comparable (docs/benchmarks.md: the same code has cost twice the CPU from one day to the next)."""

from __future__ import annotations

from bench import common


def test_python_loop_grows_with_its_steps() -> None:
    short = common.python_loop_s(steps=100_000, repeats=2)
    long = common.python_loop_s(steps=2_000_000, repeats=2)
    assert 0 < short < long


def test_machine_records_the_loop_time(monkeypatch) -> None:
    calls: list[tuple[int, int]] = []

    def timed(steps: int = common.LOOP_STEPS, repeats: int = 3) -> float:
        calls.append((steps, repeats))
        return 1.234

    monkeypatch.setattr(common, "python_loop_s", timed)
    figures = common.machine()
    assert figures["python_loop_s"] == 1.234
    assert calls == [(common.LOOP_STEPS, 3)]
    assert figures["cpus"] >= 1 and len(figures["load_average"]) == 3


def test_speed_line_names_both_ends_of_the_run() -> None:
    payload = {"machine_start": {"python_loop_s": 1.46}, "machine_end": {"python_loop_s": 1.7}}
    line = common.speed_line(payload)
    assert "10,000,000-step Python loop took 1.46 s at the start, 1.7 s at the end" in line
