"""Closing figure of issue 8: a forecast next to the run it predicted.

Against a simulated pair of its own (config/sim-pair.yaml, the e2e clock), through the real
DAGs under ``dag.test()``:

1. a resync (the history a forecast needs: the forecast never predicts from nothing);
2. the rehearsal (runbook step a): DMMRKPOS per group, timed, groups started again;
3. the forecast of the next resync from that history, the rehearsal and the plan's volumes;
4. the next resync, measured: its outage and each phase's share, printed next to the
   forecast with how far off each figure was.

Run: ``PYTHONPATH=include:plugins:. .venv/bin/python bench/rehearsal_forecast.py`` (about
4-6 minutes on an idle 2-core machine; it needs the local PostgreSQL the simulator uses).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HOME = tempfile.mkdtemp(prefix="rehearsal-forecast-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["IBMI_RESYNC_REPORTS"] = str(Path(_HOME) / "reports")


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags[dag_id]


def _run(dag_id: str, conf: dict | None = None):
    started = time.monotonic()
    run = _dag(dag_id).test(run_conf=conf or {})
    elapsed = time.monotonic() - started
    print(f"{dag_id}: {run.run_id} {run.state} in {elapsed:.0f} s", flush=True)
    if str(run.state) != "success":
        raise SystemExit(f"{dag_id} did not succeed: {run.state}")
    return run


def _pct(forecast: float | None, measured: float | None) -> str:
    if forecast is None or not measured:
        return "   n/a"
    return f"{(forecast - measured) / measured * 100:+6.0f}%"


def main() -> int:
    sys.path[:0] = [str(ROOT / "include"), str(ROOT / "plugins"), str(ROOT)]
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)

    from ibmi_resync.forecast import forecast_from_folder, load_reports, phase_shares
    from ibmi_resync.plan import load_plan
    from ibmi_sim.testing import drop_stale_test_databases
    from tests.e2e.conftest import running_pair

    reports = Path(os.environ["IBMI_RESYNC_REPORTS"])
    plan = load_plan(ROOT / "config" / "demo-plan.yaml")
    drop_stale_test_databases()
    with running_pair(Path(_HOME) / "sim", f"f{os.getpid()}"):
        _run("icluster_resync", {"approvals_required": False})
        rehearsal = _run("icluster_rehearsal")
        predicted = forecast_from_folder(plan, reports)
        measured_run = _run("icluster_resync", {"approvals_required": False})
    resyncs, _ = load_reports(reports)
    measured = next(r for r in resyncs if r["run_id"] == measured_run.run_id)
    shares = phase_shares(measured)
    outage = measured["outage"]["seconds"]
    total = sum(shares.values())

    print()
    print(f"Forecast made after rehearsal {rehearsal.run_id} (history: {predicted.history})")
    print(f"  outage source: {predicted.outage_source}")
    print(f"{'':4}{'figure':<58}{'forecast':>10}{'measured':>10}{'off':>8}")
    print(
        f"{'':4}{'OUTAGE (applications down to up)':<58}"
        f"{predicted.outage_seconds or 0:>9.1f}s{outage:>9.1f}s"
        f"{_pct(predicted.outage_seconds, outage):>8}"
    )
    print(
        f"{'':4}{'WHOLE RUN (sum of the phases)':<58}"
        f"{predicted.total_seconds or 0:>9.1f}s{total:>9.1f}s"
        f"{_pct(predicted.total_seconds, total):>8}"
    )
    for phase in predicted.phases:
        actual = shares.get(phase.phase)
        shown = "" if phase.seconds is None else f"{phase.seconds:>9.1f}s"
        real = "" if actual is None else f"{actual:>9.1f}s"
        print(
            f"{phase.phase:>3} {phase.title[:57]:<58}{shown:>10}{real:>10}"
            f"{_pct(phase.seconds, actual):>8}  {phase.source}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
