"""A node's data throughput, shared fairly by the jobs that move data at the same time.

Why (issue 3 item 9): a save or restore takes as long as its data volume needs at the rate it
gets, and on a real system parallel saves compete for the same disk arms and I/O processors. A
plain sleep per job would let 20 parallel saves finish in the time of one; here every job has
its own limit (one save job cannot go faster than ``save_mb_per_s``) and the node has one
(``node_mb_per_s`` for all its jobs together), so N parallel saves of S MB take about
``max(S / per_job, N * S / per_node)``.

How: processor sharing with per-job caps (max-min fair, "water filling"). Each job registers
the megabytes it still has to move; whenever a job starts or finishes, the scheduler settles
what every job moved at its old rate, recomputes the rates and wakes the jobs so they sleep
until their new finish time. Rates are nominal (MB per nominal second); real time follows the
one ``time_scale`` setting (real seconds = nominal seconds * time_scale).

[G] The model itself: real IBM i throughput depends on disk arms, IOPs, compression and object
sizes; a per-job and a per-node limit is the simplest model that keeps parallelism honest.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ibmi_sim.node import Node

# Work left below this many MB is done (float rounding of rate * elapsed).
_EPSILON_MB = 1e-9


@dataclass(eq=False)
class _Share:
    """One job's place in the scheduler: what is left and the rate it gets now."""

    remaining_mb: float
    limit_mb_s: float
    rate_mb_s: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def fair_rates(limits: list[float], node_mb_s: float) -> list[float]:
    """Max-min fair rates: each job gets an equal share of ``node_mb_s``, capped at its own
    limit; what a capped job leaves is shared by the others (water filling)."""
    rates = [0.0] * len(limits)
    left = node_mb_s
    order = sorted(range(len(limits)), key=lambda i: limits[i])
    for position, index in enumerate(order):
        share = left / (len(order) - position)
        rates[index] = min(limits[index], share)
        left -= rates[index]
    return rates


class Capacity:
    """The throughput of one node; jobs call :meth:`move` with the data they move."""

    def __init__(
        self,
        node_mb_s: float,
        time_scale: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node_mb_s = node_mb_s if node_mb_s > 0 else math.inf
        self.time_scale = time_scale
        self._clock = clock
        self._shares: list[_Share] = []
        self._settled_at = clock()

    @property
    def active_jobs(self) -> int:
        """How many jobs move data now."""
        return len(self._shares)

    def _settle(self) -> None:
        """Charge every job what it moved since the last change, at the rate it had."""
        now = self._clock()
        nominal = (now - self._settled_at) / self.time_scale
        self._settled_at = now
        for share in self._shares:
            share.remaining_mb = max(0.0, share.remaining_mb - share.rate_mb_s * nominal)

    def _rebalance(self) -> None:
        """New rates for everyone; wake each job so it sleeps until its new finish time."""
        rates = fair_rates([s.limit_mb_s for s in self._shares], self.node_mb_s)
        for share, rate in zip(self._shares, rates, strict=True):
            share.rate_mb_s = rate
            share.changed.set()

    async def move(self, megabytes: float, job_mb_s: float) -> float:
        """Move ``megabytes`` at no more than ``job_mb_s``, sharing the node; returns the real
        seconds it took. Cancelling the caller gives its share back at once."""
        started = self._clock()
        if megabytes <= 0:
            return 0.0
        share = _Share(remaining_mb=megabytes, limit_mb_s=job_mb_s if job_mb_s > 0 else math.inf)
        self._settle()
        self._shares.append(share)
        self._rebalance()
        try:
            while share.remaining_mb > _EPSILON_MB:
                share.changed.clear()
                if math.isinf(share.rate_mb_s):
                    break  # no limit at all: the work takes no time
                if share.rate_mb_s <= 0:
                    await share.changed.wait()
                else:
                    real = share.remaining_mb / share.rate_mb_s * self.time_scale
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(share.changed.wait(), timeout=real)
                self._settle()
                if 0 < share.remaining_mb < share.rate_mb_s * 1e-6:
                    break  # less than a microsecond (nominal) of work left: done
        finally:
            self._settle()
            self._shares.remove(share)
            self._rebalance()
        return self._clock() - started


_CAPACITIES: weakref.WeakKeyDictionary[Node, Capacity] = weakref.WeakKeyDictionary()


def of(node: Node) -> Capacity:
    """The node's capacity, made on first use from its configuration."""
    capacity = _CAPACITIES.get(node)
    if capacity is None:
        capacity = Capacity(node.cfg.timing.node_mb_per_s, node.cfg.time_scale)
        _CAPACITIES[node] = capacity
    return capacity
