"""The critical path of the IBM i work in an interval, from the simulator's job records.

Why (issue 3 item 9, issue 7): the benchmarks subtract from a run's wall time the time the IBM i
work itself needed; what is left is what the orchestrator added. Both nodes record every job's
start and end (table ``jobs``: each PASE ``system`` call is a BCI job, each SBMJOB a BCH job,
DMMRKPOS and DMSTRSC run as BCH jobs), plus work that runs without a job of its own (a
subsystem ending after ENDSBS) in ``work_spans``.

Definition (simple and stated, not derived from the DAG): the critical path of an interval is
the longest chain of IBM i work spans, clipped to the interval, in which each span starts no
earlier than the previous one ended; its length is the sum of the chain's durations. Spans of
both nodes share one clock (the same PostgreSQL server). A chain of the run's real dependencies
is such a chain, so this is never shorter than the dependency critical path; it can be longer
when independent jobs happened to run one after the other (the orchestrator serialised them),
which makes the overhead computed from it an underestimate in that case, never an
overestimate of the orchestrator's waste from idle gaps.

Not IBM i work: application jobs (they run as long as their subsystem, started by it) and the
lock holder of the lock-on-save fault; both are BCH jobs without a submitter that run
``CALL PGM(...)``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Rows of one node's database: the jobs that are IBM i work, and the spans without a job.
# Parameters: since, until (timestamptz; a job still active counts as running until `until`).
SPANS_SQL = """
SELECT 'job' AS source, job_type AS kind, qualified_name AS name, command,
       started_at AS started, COALESCE(ended_at, %(until)s) AS ended
  FROM jobs
 WHERE started_at IS NOT NULL
   AND started_at < %(until)s
   AND COALESCE(ended_at, %(until)s) > %(since)s
   AND job_type IN ('BCI', 'BCH')
   AND NOT (job_type = 'BCH' AND submitted_by IS NULL AND command LIKE 'CALL PGM(%%')
UNION ALL
SELECT 'span', kind, name, detail, started_at, ended_at
  FROM work_spans
 WHERE started_at < %(until)s AND ended_at > %(since)s
"""


@dataclass(frozen=True)
class Span:
    """A piece of IBM i work: a job, or work without a job (``kind`` SBSEND)."""

    node: str
    kind: str
    name: str
    command: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def clipped(self, since: datetime | None, until: datetime | None) -> Span:
        start = self.start if since is None else max(self.start, since)
        end = self.end if until is None else min(self.end, until)
        return Span(self.node, self.kind, self.name, self.command, start, end)

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "kind": self.kind,
            "name": self.name,
            "command": self.command,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seconds": round(self.seconds, 3),
        }


def spans_from_rows(node: str, rows: Iterable[Mapping[str, Any] | tuple[Any, ...]]) -> list[Span]:
    """Spans from rows of :data:`SPANS_SQL` (mappings or tuples in its column order)."""
    spans = []
    for row in rows:
        if isinstance(row, Mapping):
            kind, name, command, started, ended = (
                row["kind"],
                row["name"],
                row["command"],
                row["started"],
                row["ended"],
            )
        else:
            _, kind, name, command, started, ended = row
        spans.append(Span(node, str(kind), str(name), str(command or ""), started, ended))
    return spans


def critical_path(
    spans: Iterable[Span], since: datetime | None = None, until: datetime | None = None
) -> tuple[float, list[Span]]:
    """Length in seconds and the spans of the longest chain of non-overlapping spans, each
    clipped to [since, until]; (0.0, []) when there is none.

    A longest path in the interval order, O(n log n): spans are taken by start time; every
    span that ended by then is a possible predecessor, and only the best of those matters.
    """
    clipped = [s.clipped(since, until) for s in spans]
    ordered = sorted((s for s in clipped if s.end > s.start), key=lambda s: (s.start, s.end))
    best: list[float] = []  # best[i]: longest chain ending with ordered[i]
    previous: list[int] = []  # predecessor of ordered[i] in that chain, -1 for none
    ended: list[tuple[datetime, int]] = []  # heap of (end, index) not yet released
    top, top_index = 0.0, -1  # best chain among spans that ended before the current start
    for index, span in enumerate(ordered):
        while ended and ended[0][0] <= span.start:
            _, done = heapq.heappop(ended)
            if best[done] > top:
                top, top_index = best[done], done
        best.append(top + span.seconds)
        previous.append(top_index)
        heapq.heappush(ended, (span.end, index))
    if not ordered:
        return 0.0, []
    last = max(range(len(ordered)), key=best.__getitem__)
    length = best[last]
    chain: list[Span] = []
    while last >= 0:
        chain.append(ordered[last])
        last = previous[last]
    chain.reverse()
    return length, chain


def busy_seconds(spans: Iterable[Span], since: datetime | None, until: datetime | None) -> float:
    """Total duration of all spans in the interval (the work done if nothing ran in parallel)."""
    return sum(max(0.0, s.clipped(since, until).seconds) for s in spans)
