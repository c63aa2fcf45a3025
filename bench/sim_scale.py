"""Simulator figures at scale (issue 3, Performance): a pair with 200 groups, 2,000 libraries
and 200,000 objects, its start-up time and memory, then the running-pair benchmark (50
concurrent SSH sessions, SFTP throughput) from ``python -m ibmi_sim bench``.

Prints one JSON document. Run: ``PYTHONPATH=. .venv/bin/python bench/sim_scale.py``
(``--groups``, ``--libraries-per-group``, ``--objects-per-library``, ``--mib`` to change it).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ibmi_sim import bench
from ibmi_sim.testing import fast_test_config, start_pair, stop_pair


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scale_config(groups: int, per_group: int, objects: int) -> dict[str, Any]:
    config = fast_test_config(f"t{os.getpid()}")
    libraries = [
        {"name": f"L{g:03d}{i:02d}", "objects": objects, "data_mb": 10}
        for g in range(groups)
        for i in range(per_group)
    ]
    config["libraries"] = [*libraries, {"name": "SAVFLIB", "objects": 0, "data_mb": 0}]
    config["replication_groups"] = [
        {"name": f"G{g:03d}", "libraries": [f"L{g:03d}{i:02d}" for i in range(per_group)]}
        for g in range(groups)
    ]
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--libraries-per-group", type=int, default=10)
    parser.add_argument("--objects-per-library", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--mib", type=int, default=200)
    args = parser.parse_args()
    config = scale_config(args.groups, args.libraries_per_group, args.objects_per_library)
    state = Path(tempfile.mkdtemp(prefix="ibmi-sim-scale-"))
    started = time.perf_counter()
    pair = start_pair(state, config, timeout=1800)
    figures: dict[str, Any] = {
        "groups": args.groups,
        "libraries": args.groups * args.libraries_per_group,
        "objects_per_node": args.groups * args.libraries_per_group * args.objects_per_library,
        "start_seconds": round(time.perf_counter() - started, 1),
    }
    try:
        pid = int(pair.info["pid"])
        figures["simulator_rss_mib_idle"] = round(_rss_mib(pid), 1)
        figures.update(bench.run(state, sessions=args.sessions, mib=args.mib))
        figures["simulator_rss_mib_after_bench"] = round(_rss_mib(pid), 1)
        sizes = {
            key: pair.query(key, "SELECT pg_database_size(current_database())")[0][0]
            for key in ("primary", "backup")
        }
        figures["database_mib"] = {key: round(size / 2**20, 1) for key, size in sizes.items()}
    finally:
        stop_pair(pair, drop_databases=True)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
