"""Transfer (issue 7 figure 4): a 2 GiB save file PRIMARY -> BACKUP, product vs OpenSSH.

The product's mover (plugins/icluster_resync/transfer.py: two SFTP sessions, streamed through
the worker) runs in a process of its own, as a worker would run it; that process reports its
resident memory before and its peak (VmHWM) after, so the growth is the worker's. OpenSSH moves
the same file between the same endpoints with ``scp -3 -s`` (OpenSSH's SFTP client code, the
bytes relayed through this machine, as the product relays them); ``sftp`` itself cannot copy
remote to remote. Both read from and write to the simulator's SFTP servers (ibmi_sim/sshd.py).

Fairness: each side copies three times, in the order of ``ORDER`` (each side has one first copy
into a new save file, and a drift in the machine's speed during the figure weighs on both
alike; single copies varied by 10 % from one to the next on 2026-12-03), and the page
cache's dirty pages are written out before each copy (``sync``): otherwise the 2 GiB just
written to fill the source, or the previous copy's target, are flushed to disk during the next
copy and slow whichever runs then. The ratio is OpenSSH's total time over the product's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ibmi_sim.bench import openssh_options
from ibmi_sim.testing import SimPair

SAVF_LIB = "RSYNCSAVF"
SOURCE, PRODUCT_TARGET, OPENSSH_TARGET = "BIGXFER", "BIGXFER", "BIGXFERO"
ORDER = ("product", "openssh", "openssh", "product", "product", "openssh")

_WORKER = """
import json, sys, time
from pathlib import Path

def status(key):
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(key + ':'):
            return int(line.split()[1]) / 1024
    return 0.0

from ibmi_resync.plan import load_plan
from icluster_resync.transfer import SftpSaveFileMover
plan = load_plan(sys.argv[1])
mover = SftpSaveFileMover(plan)
before = status('VmRSS')
started = time.perf_counter()
moved = mover('PRIMARY', 'BACKUP', sys.argv[2])
seconds = time.perf_counter() - started
print(json.dumps({'bytes': moved, 'seconds': seconds, 'rss_before_mib': before,
                  'rss_after_mib': status('VmRSS'), 'hwm_mib': status('VmHWM')}))
"""


def _fill(path: Path, size: int) -> None:
    """``size`` bytes of incompressible data (a 64 MiB random block repeated)."""
    block = os.urandom(64 << 20)
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


def _savf_path(state: Path, node: str, name: str) -> Path:
    return state / "nodes" / node / "root" / "QSYS.LIB" / f"{SAVF_LIB}.LIB" / f"{name}.FILE"


def _same(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as x, b.open("rb") as y:
        for offset in (0, a.stat().st_size // 2, max(0, a.stat().st_size - (1 << 20))):
            x.seek(offset), y.seek(offset)
            if x.read(1 << 20) != y.read(1 << 20):
                return False
    return True


def _openssh(pair: SimPair, remote: str, target: str) -> float:
    scp = shutil.which("scp")
    if scp is None:
        raise RuntimeError("scp (OpenSSH client) is missing: apt-get install openssh-client")
    info = pair.info
    primary, backup = info["nodes"]["primary"], info["nodes"]["backup"]
    common = openssh_options(info)

    def url(node: dict[str, Any], path: str) -> str:
        # scp://host:port/path is relative to the home directory; a second slash makes it
        # absolute.
        return f"scp://{node['user']}@{node['host']}:{node['ssh_port']}/{path}"

    started = time.perf_counter()
    subprocess.run(
        [scp, "-3", "-s", "-q", *common, url(primary, remote), url(backup, target)],
        check=True,
        timeout=1800,
        capture_output=True,
    )
    return time.perf_counter() - started


def _product(pair: SimPair, plan_path: Path, path: str) -> dict[str, float]:
    """One copy by the product's mover, in a process of its own (a worker)."""
    env = {**os.environ, **pair.airflow_env(), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, str(plan_path), path],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"product transfer failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _reset(pair: SimPair) -> None:
    for node in ("primary", "backup"):
        for name in {SOURCE, PRODUCT_TARGET, OPENSSH_TARGET}:
            pair.system(node, f"DLTF FILE({SAVF_LIB}/{name})")


def run(pair: SimPair, plan_path: Path, size: int = 2 << 30) -> dict[str, Any]:
    """Move ``size`` bytes both ways, three times each; returns throughputs, ratio and the
    worker's memory (the largest growth of the product's copies)."""
    state = pair.state_dir
    _reset(pair)
    assert pair.system("primary", f"CRTSAVF FILE({SAVF_LIB}/{SOURCE})").rc == 0
    for name in (PRODUCT_TARGET, OPENSSH_TARGET):
        assert pair.system("backup", f"CRTSAVF FILE({SAVF_LIB}/{name})").rc == 0
    source = _savf_path(state, "primary", SOURCE)
    _fill(source, size)
    path = f"/QSYS.LIB/{SAVF_LIB}.LIB/{SOURCE}.FILE"
    openssh_target = f"/QSYS.LIB/{SAVF_LIB}.LIB/{OPENSSH_TARGET}.FILE"
    products: list[dict[str, float]] = []
    openssh_runs: list[float] = []
    intact = {"product": True, "openssh": True}
    for who in ORDER:
        os.sync()
        if who == "product":
            products.append(_product(pair, plan_path, path))
            copy = _savf_path(state, "backup", PRODUCT_TARGET)
        else:
            openssh_runs.append(_openssh(pair, path, openssh_target))
            copy = _savf_path(state, "backup", OPENSSH_TARGET)
        intact[who] = intact[who] and _same(source, copy)
    product_s = sum(p["seconds"] for p in products)
    openssh_s = sum(openssh_runs)
    worst = max(products, key=lambda p: p["hwm_mib"] - p["rss_before_mib"])
    mb = size / 1e6
    result = {
        "bytes": size,
        "order": f"{', '.join(ORDER)}; sync before each",
        "product_runs_s": [round(p["seconds"], 2) for p in products],
        "openssh_runs_s": [round(s, 2) for s in openssh_runs],
        "product_mb_s": round(len(products) * mb / product_s, 1),
        "product_intact": intact["product"],
        "openssh_mb_s": round(len(openssh_runs) * mb / openssh_s, 1),
        "openssh_intact": intact["openssh"],
        "ratio": round(openssh_s / product_s, 3),
        "worker_rss_before_mib": round(worst["rss_before_mib"], 1),
        "worker_peak_mib": round(worst["hwm_mib"], 1),
        "worker_growth_mib": round(worst["hwm_mib"] - worst["rss_before_mib"], 1),
    }
    _reset(pair)
    return result
