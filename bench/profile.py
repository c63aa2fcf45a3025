"""Where a benchmark run's time went, per task, from the metadata database.

    python bench/profile.py [run_id]     # default: the latest run of the bench deployment

For each task (all map indexes together): how many instances, the median and maximum time
from scheduled to queued and queued to running (scheduler and executor), and from the first
start to the end (the task's own work plus its deferrals: a deferred wait shows here, the IBM i
work it waited for is in the simulator's job records). The run's wall time is then compared
with the sum of each phase's span.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.deployed import METADATA_DSN  # noqa: E402

QUERY = """
SELECT task_id, map_index, scheduled_dttm, queued_dttm, start_date, end_date, try_number, state
  FROM task_instance WHERE dag_id = 'icluster_resync' AND run_id = %s
 ORDER BY start_date NULLS LAST
"""


def profile(run_id: str | None = None) -> dict[str, Any]:
    with psycopg2.connect(METADATA_DSN) as conn, conn.cursor() as cur:
        if run_id is None:
            cur.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = 'icluster_resync'"
                " ORDER BY start_date DESC NULLS LAST LIMIT 1"
            )
            run_id = cur.fetchone()[0]
        cur.execute(
            "SELECT start_date, end_date FROM dag_run WHERE dag_id = 'icluster_resync'"
            " AND run_id = %s",
            (run_id,),
        )
        run_start, run_end = cur.fetchone()
        cur.execute(QUERY, (run_id,))
        rows = cur.fetchall()
    tasks: dict[str, list[dict[str, float]]] = {}
    for task_id, _, scheduled, queued, start, end, tries, _state in rows:
        entry: dict[str, float] = {"tries": float(tries)}
        if scheduled and queued:
            entry["scheduled_to_queued"] = (queued - scheduled).total_seconds()
        if queued and start and start <= queued:
            pass  # resumed after a deferral: queued again after the first start
        elif queued and start:
            entry["queued_to_start"] = (start - queued).total_seconds()
        if start and end:
            entry["start_to_end"] = (end - start).total_seconds()
            entry["start"] = (start - run_start).total_seconds()
            entry["end"] = (end - run_start).total_seconds()
        tasks.setdefault(task_id, []).append(entry)

    def stat(entries: list[dict[str, float]], key: str) -> dict[str, float]:
        values = [e[key] for e in entries if key in e]
        if not values:
            return {}
        return {"median": round(statistics.median(values), 1), "max": round(max(values), 1)}

    by_task = {
        task_id: {
            "instances": len(entries),
            "first_start_s": round(
                min((e["start"] for e in entries if "start" in e), default=0), 1
            ),
            "last_end_s": round(max((e["end"] for e in entries if "end" in e), default=0), 1),
            "queued_to_start_s": stat(entries, "queued_to_start"),
            "start_to_end_s": stat(entries, "start_to_end"),
            "retries": sum(1 for e in entries if e["tries"] > 1),
        }
        for task_id, entries in tasks.items()
    }
    return {
        "run_id": run_id,
        "wall_s": round((run_end - run_start).total_seconds(), 1) if run_end else None,
        "tasks": by_task,
    }


def main() -> int:
    result = profile(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"run {result['run_id']}: {result['wall_s']} s")
    print(f"{'task':<36} {'n':>4} {'from':>7} {'to':>7} {'queue med':>9} {'run med':>8} {'max':>6}")
    for task_id, t in sorted(result["tasks"].items(), key=lambda kv: kv[1]["first_start_s"]):
        queued, ran = t["queued_to_start_s"], t["start_to_end_s"]
        print(
            f"{task_id:<36} {t['instances']:>4} {t['first_start_s']:>7} {t['last_end_s']:>7}"
            f" {queued.get('median', ''):>9} {ran.get('median', ''):>8} {ran.get('max', ''):>6}"
        )
    out = ROOT / ".state" / "bench" / "profile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
