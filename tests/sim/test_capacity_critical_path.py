"""The capacity model (fair share of a node's throughput) and the critical path of job records.

Unit tests on constructed inputs; the critical path of a real run is checked once against a
running pair in :func:`test_critical_path_of_a_real_save_and_restore`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from ibmi_sim.capacity import Capacity, fair_rates
from ibmi_sim.critical_path import Span, busy_seconds, critical_path
from ibmi_sim.testing import SimPair, wait_for

T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def span(start: float, end: float, name: str = "J", node: str = "primary") -> Span:
    return Span(node, "BCH", name, "", T0 + timedelta(seconds=start), T0 + timedelta(seconds=end))


# --- fair share ------------------------------------------------------------------------------


def test_fair_rates_share_equally_below_the_job_limit() -> None:
    assert fair_rates([200, 200, 200, 200], 600) == [150, 150, 150, 150]


def test_fair_rates_cap_each_job_at_its_own_limit() -> None:
    assert fair_rates([200, 200], 600) == [200, 200]


def test_fair_rates_give_what_a_slow_job_leaves_to_the_others() -> None:
    assert fair_rates([50, 400, 400], 600) == [50, 275, 275]


def _run_jobs(capacity: Capacity, jobs: list[tuple[float, float, float]]) -> list[float]:
    """Start each (delay real s, MB, per-job MB/s) job; real seconds from 0 until each ends."""

    async def main() -> list[float]:
        started = time.monotonic()

        async def one(delay: float, mb: float, limit: float) -> float:
            await asyncio.sleep(delay)
            await capacity.move(mb, limit)
            return time.monotonic() - started

        return list(await asyncio.gather(*(one(*job) for job in jobs)))

    return asyncio.run(main())


def test_one_job_runs_at_its_own_limit() -> None:
    # 100 MB at 200 MB/s = 0.5 nominal s; time_scale 0.4 -> 0.2 real s
    (ended,) = _run_jobs(Capacity(600, 0.4), [(0, 100, 200)])
    assert ended == pytest.approx(0.2, abs=0.05)


def test_parallel_jobs_take_max_of_job_and_node_bound() -> None:
    # 6 x 100 MB, per job 200, per node 400: max(100/200, 600/400) = 1.5 nominal s -> 0.3 real
    ends = _run_jobs(Capacity(400, 0.2), [(0, 100, 200)] * 6)
    assert max(ends) == pytest.approx(0.3, abs=0.06)
    assert min(ends) == pytest.approx(0.3, abs=0.06)  # equal shares: they end together


def test_parallel_jobs_below_the_node_limit_do_not_slow_each_other() -> None:
    # 2 x 100 MB, per job 200, per node 600: 0.5 nominal s each -> 0.1 real
    ends = _run_jobs(Capacity(600, 0.2), [(0, 100, 200)] * 2)
    assert max(ends) == pytest.approx(0.1, abs=0.04)


def test_a_job_that_ends_gives_its_share_back() -> None:
    # node 200, per job 200, time_scale 1. A: 100 MB; B: 20 MB. Both at 100 MB/s; B ends
    # after 0.2 s (20 MB); A then has 80 MB left at 200 MB/s -> 0.4 s more: A ends at 0.6 s
    # (alone it would take 0.5 s).
    capacity = Capacity(200, 1.0)
    a, b = _run_jobs(capacity, [(0, 100, 200), (0, 20, 200)])
    assert b == pytest.approx(0.2, abs=0.05)
    assert a == pytest.approx(0.6, abs=0.06)
    assert capacity.active_jobs == 0


def test_a_cancelled_job_leaves_the_node() -> None:
    capacity = Capacity(100, 1.0)

    async def main() -> float:
        hog = asyncio.ensure_future(capacity.move(1000, 100))
        await asyncio.sleep(0.05)
        hog.cancel()
        started = time.monotonic()
        await capacity.move(10, 100)  # alone again: 0.1 s
        return time.monotonic() - started

    assert asyncio.run(main()) == pytest.approx(0.1, abs=0.04)
    assert capacity.active_jobs == 0


def test_no_data_takes_no_time() -> None:
    assert asyncio.run(Capacity(100, 1.0).move(0, 100)) == 0.0


# --- critical path ---------------------------------------------------------------------------


def test_critical_path_of_nothing_is_zero() -> None:
    assert critical_path([]) == (0.0, [])


def test_a_chain_adds_up() -> None:
    jobs = [span(0, 2, "A"), span(2, 5, "B"), span(6, 7, "C")]
    seconds, chain = critical_path(jobs)
    assert seconds == pytest.approx(6)
    assert [s.name for s in chain] == ["A", "B", "C"]


def test_overlapping_parallel_jobs_count_once() -> None:
    # Four parallel saves 0-10, 1-9, 0-4, 2-8; then a restore 10-15 after the longest.
    jobs = [span(0, 10, "S1"), span(1, 9, "S2"), span(0, 4, "S3"), span(2, 8, "S4")]
    jobs.append(span(10, 15, "R1"))
    seconds, chain = critical_path(jobs)
    assert seconds == pytest.approx(15)
    assert [s.name for s in chain] == ["S1", "R1"]


def test_short_jobs_in_sequence_beat_one_long_overlapping_job() -> None:
    jobs = [span(0, 3, "A"), span(3, 6, "B"), span(6, 9, "C"), span(1, 8, "LONG")]
    seconds, chain = critical_path(jobs)
    assert seconds == pytest.approx(9)
    assert [s.name for s in chain] == ["A", "B", "C"]


def test_gaps_are_not_work() -> None:
    seconds, _ = critical_path([span(0, 1, "A"), span(100, 101, "B")])
    assert seconds == pytest.approx(2)


def test_a_job_may_start_the_instant_the_previous_ended_across_nodes() -> None:
    jobs = [span(0, 4, "SAVE", "primary"), span(4, 9, "RST", "backup")]
    seconds, chain = critical_path(jobs)
    assert seconds == pytest.approx(9)
    assert [s.node for s in chain] == ["primary", "backup"]


def test_spans_are_clipped_to_the_interval() -> None:
    jobs = [span(0, 10, "BEFORE"), span(10, 20, "INSIDE"), span(20, 30, "AFTER")]
    seconds, chain = critical_path(jobs, T0 + timedelta(seconds=5), T0 + timedelta(seconds=25))
    assert seconds == pytest.approx(20)
    assert [s.name for s in chain] == ["BEFORE", "INSIDE", "AFTER"]
    assert chain[0].seconds == pytest.approx(5)


def test_spans_outside_the_interval_are_left_out() -> None:
    seconds, chain = critical_path([span(0, 1), span(50, 60)], T0 + timedelta(seconds=10))
    assert seconds == pytest.approx(10)
    assert len(chain) == 1


def test_busy_seconds_sums_everything() -> None:
    assert busy_seconds([span(0, 4), span(1, 3)], None, None) == pytest.approx(6)


# --- a real run ------------------------------------------------------------------------------


def test_critical_path_of_a_real_save_and_restore(sim_pair: SimPair) -> None:
    """Two submitted saves on PRIMARY, a transfer, then a restore on BACKUP: the chain holds
    a save and the restore and no overlapping spans; application jobs (always running) are
    not IBM i work here. (At the tests' time scale the saves end before the next starts.)"""
    pair = sim_pair
    since = datetime.now(UTC)
    for savf in ("CPS1", "CPS2"):
        pair.system("primary", f"CRTSAVF FILE(SAVFLIB/{savf})")
    pair.system("backup", "CRTSAVF FILE(SAVFLIB/CPS1)")
    for lib, savf in (("APPLIB1", "CPS1"), ("APPLIB2", "CPS2")):
        done = pair.system(
            "primary",
            f"SBMJOB CMD(SAVLIB LIB({lib}) DEV(*SAVF) SAVF(SAVFLIB/{savf}) SAVACT(*LIB)"
            f" UPDHST(*NO)) JOB(CP{savf})",
        )
        assert done.rc == 0, done.stderr
    saves = pair.query(
        "primary", "SELECT count(*) FROM jobs WHERE job_name IN ('CPCPS1', 'CPCPS2')"
    )[0][0]
    assert saves == 2

    def ended() -> bool:
        rows = pair.query(
            "primary",
            "SELECT count(*) FROM jobs WHERE job_name IN ('CPCPS1', 'CPCPS2')"
            " AND ended_at IS NOT NULL",
        )
        return rows[0][0] == 2

    wait_for(ended, timeout=30)
    with pair.sftp("primary") as source, pair.sftp("backup") as target:
        with source.open("/QSYS.LIB/SAVFLIB.LIB/CPS1.FILE", "rb") as data:
            payload = data.read()
        with target.open("/QSYS.LIB/SAVFLIB.LIB/CPS1.FILE", "wb") as out:
            out.write(payload)
    done = pair.system(
        "backup", "RSTLIB SAVLIB(APPLIB1) DEV(*SAVF) SAVF(SAVFLIB/CPS1) RSTLIB(CPRST1)"
    )
    assert done.rc == 0, done.stderr
    until = datetime.now(UTC)
    seconds, chain = pair.critical_path(since, until)
    spans = pair.work_spans(since, until)
    assert all("CALL PGM(" not in s.command for s in spans)  # application jobs left out
    longest_save = max(s.seconds for s in spans if s.name.endswith(("CPCPS1", "CPCPS2")))
    restore = next(s for s in spans if s.command.startswith("RSTLIB"))
    assert seconds >= longest_save + restore.seconds - 1e-6
    assert seconds <= (until - since).total_seconds()
    assert restore in chain
    assert any(s.name.endswith(("CPCPS1", "CPCPS2")) for s in chain)
    # chained spans never overlap
    assert all(a.end <= b.start for a, b in itertools.pairwise(chain))
    pair.system("primary", "DLTF FILE(SAVFLIB/CPS1)")
    pair.system("primary", "DLTF FILE(SAVFLIB/CPS2)")
    pair.system("backup", "DLTF FILE(SAVFLIB/CPS1)")
    pair.system("backup", "DLTLIB LIB(CPRST1)")
