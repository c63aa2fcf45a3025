"""A resync of N groups on the real deployment (scripts/deployment.py), measured.

Issue 7 figures 1, 2, 5 and 6: the deployment is the one ``make demo`` runs (same settings,
same components), in a state folder, metadata database and ports of its own so it never meets a
demo. The run is triggered through the REST API and followed in the metadata database
(`RunWatch`); while it runs, task-instance states and the components' memory are sampled.
Afterwards the simulator's job records give the critical path of the IBM i work
(ibmi_sim.critical_path):

- outage overhead = (applications restarted - applications ended) - critical path inside it;
  ended = ENDSBS of the application subsystem accepted on PRIMARY, restarted = STRSBS done,
  both from the simulator's command log (the node's clock, the one the job records use);
- whole-run overhead = run wall time (the DAG run's start and end) - critical path of all its
  IBM i work.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bench import scenario
from bench.common import OUT
from scripts import deployment as d

PORTS = {"api_port": 8091, "worker_log_port": 8795, "trigger_log_port": 8796}
METADATA_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/icluster_resync_bench"
# The same database for psycopg2 (RunWatch, bench/profile.py).
METADATA_DSN = METADATA_URL.replace("postgresql+psycopg2://", "postgresql://")
# Tasks that contain WAIT steps (they defer); a running instance of one of them is either
# sending its commands or, if something were wrong, waiting in a worker slot.
WAITING_STATES = ("deferred",)


def settings_for(
    groups: int, folder: Path, time_scale: float = 0.05, per_group: int = 2
) -> d.Settings:
    sim_path, plan_path = scenario.write(
        folder / "config", groups, time_scale=time_scale, per_group=per_group
    )
    return d.Settings.from_env(
        state=folder / "state",
        metadata_url=METADATA_URL,
        plan=plan_path,
        sim_config=sim_path,
        **PORTS,
    )


def dag_parse_seconds(settings: d.Settings) -> float:
    """Seconds the DAG file takes to parse (DagBag's own per-file figure), in a fresh process
    with the deployment's environment (the plan of this benchmark)."""
    code = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        "import json, sys\n"
        f"bag = DagBag(dag_folder={str(d.ROOT / 'dags' / 'icluster_resync.py')!r})\n"
        "stats = [s.duration.total_seconds() if hasattr(s.duration, 'total_seconds')"
        " else float(s.duration) for s in bag.dagbag_stats]\n"
        "print(json.dumps({'seconds': stats, 'errors': list(bag.import_errors)}))\n"
    )
    done = subprocess.run(
        [settings.python, "-c", code],
        env=d.env(settings),
        cwd=d.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = f"{done.stdout[-500:]} {done.stderr[-2000:]}"
        raise RuntimeError(f"DAG parse failed: {detail}") from None
    if answer["errors"]:
        raise RuntimeError(f"DAG import errors: {answer['errors']}")
    return max(answer["seconds"])


class RunWatch:
    """Follows the run in the metadata database: every `interval` seconds the task-instance
    states (a progress line when they change, at least every 15 s), every 10 s the
    components' memory.

    Why not the REST API as ``make demo`` does: each of its polls lists every task instance,
    100 a page (at 200 groups 18 pages every 2 s), and that load on the api-server would be
    counted as the orchestrator's overhead. One grouped query costs PostgreSQL a few ms.
    """

    STATES = """
    SELECT coalesce(ti.state, 'none'), count(*) FROM task_instance ti
     WHERE ti.dag_id = %(dag)s AND ti.run_id = %(run)s GROUP BY 1
    """

    def __init__(self, run_id: str, settings: d.Settings, out: TextIO | None) -> None:
        self.run_id, self.settings, self.out = run_id, settings, out
        self.samples: list[dict[str, Any]] = []
        self.peak_pss: dict[str, float] = {}

    def follow(self, *, timeout: float, interval: float = 2.0) -> str:
        """Sample until the run ends; its final state."""
        import psycopg2

        started = last_memory = time.monotonic()
        last_line, last_print = "", 0.0
        conn = psycopg2.connect(METADATA_DSN)
        conn.autocommit = True
        try:
            while True:
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s",
                        (d.DAG_ID, self.run_id),
                    )
                    state = str(cur.fetchone()[0])
                    cur.execute(self.STATES, {"dag": d.DAG_ID, "run": self.run_id})
                    states = {str(name): int(count) for name, count in cur.fetchall()}
                now = time.monotonic()
                self.samples.append({"t": time.time(), "states": states})
                if now - last_memory >= 10:
                    last_memory = now
                    memory = d.memory_pss_mb(self.settings)
                    if sum(memory.values()) > sum(self.peak_pss.values()):
                        self.peak_pss = memory
                line = f"{state}: " + ", ".join(f"{n} {k}" for k, n in sorted(states.items()))
                if line != last_line or now - last_print >= 15:
                    elapsed = int(now - started)
                    d._say(self.out, f"[{elapsed // 60}:{elapsed % 60:02d}] {line}")
                    last_line, last_print = line, now
                if state in d.TERMINAL_RUN_STATES:
                    return state
                if now - started > timeout:
                    raise d.DeploymentError(
                        f"run {self.run_id} did not end within {timeout:.0f} s ({line})"
                    )
                time.sleep(interval)
        finally:
            conn.close()


def _sim_pair(settings: d.Settings) -> Any:
    from ibmi_sim.testing import SimPair

    info = json.loads((settings.sim_state / "connections.json").read_text())
    return SimPair(info, settings.sim_state)


def _outage(pair: Any) -> tuple[datetime | None, datetime | None]:
    """(applications ended, restarted) from PRIMARY's command log."""
    rows = pair.query(
        "primary",
        "SELECT command, ts FROM command_log WHERE exit_status = 0 AND"
        r" command ~ '^(QSYS/)?(ENDSBS SBS\(APPSBS\)|STRSBS SBSD\([^)]*APPSBS\))'"
        " ORDER BY ts",
    )
    ended = next((ts for command, ts in rows if "ENDSBS" in command), None)
    started = [ts for command, ts in rows if "STRSBS" in command]
    return ended, (started[-1] if started else None)


def _ti_profile(tis: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the run's time went per task instance: queued -> running, running time."""

    def parse(value: Any) -> datetime | None:
        return d._parse_time(value)

    waits, runs = [], []
    for ti in tis:
        queued, start, end = (parse(ti.get(k)) for k in ("queued_when", "start_date", "end_date"))
        if queued and start and start >= queued:
            waits.append((start - queued).total_seconds())
        if start and end:
            runs.append((end - start).total_seconds())

    def summary(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        return {
            "median": round(statistics.median(values), 2),
            "max": round(max(values), 2),
            "sum": round(sum(values), 1),
        }

    return {"queued_to_start_s": summary(waits), "start_to_end_s": summary(runs)}


def _cpu_of(pids: list[int], *, children: bool = True) -> float:
    """CPU seconds of ``pids`` and of their children already reaped (utime, stime, cutime,
    cstime): a LocalExecutor worker reaps its task processes, so their CPU is in its figure."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += sum(int(f) for f in fields[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(settings: d.Settings) -> dict[str, float]:
    """CPU seconds so far of each Airflow component (its whole process group: the scheduler's
    includes the LocalExecutor workers and every task process), the simulated pair and the
    machine's PostgreSQL (every postgres process; the postmaster reaps ended backends)."""
    found = {}
    for record in d.recorded(settings):
        group = _cpu_of(d.group_members(int(record["pgid"])))
        if record["name"] == "scheduler":
            # The scheduler's own loop apart from its LocalExecutor workers and their task
            # processes (the rest of its process group): they are tuned by different settings.
            loop = _cpu_of([int(record["pid"])], children=False)
            found["scheduler loop"] = loop
            found["workers and task processes"] = group - loop
        else:
            found[record["name"]] = group
    sim_pid = settings.sim_state / "sim.pid"
    if sim_pid.exists():
        found["simulated pair"] = _cpu_of([int(sim_pid.read_text().split()[0])])
    postgres = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    postgres.append(int(entry.name))
            except OSError:
                continue
    found["postgresql"] = _cpu_of(postgres)
    return found


def postgres_reading() -> dict[str, Any]:
    """PostgreSQL now, per database: its backends connected (pid -> CPU seconds so far) and
    pg_stat_database's sessions and active time (statements executing, ms) so far.

    Why: PostgreSQL was the largest CPU share at 200 groups, and it serves both the Airflow
    metadata database and the simulated nodes' databases (each ODBC connection to a node is
    a backend of its own there, which ends with the connection, so its CPU is not in any
    connected backend's figure; the session counts and active time cover those too). The
    difference of two readings (`postgres_by_database`) says which database it went to."""
    import psycopg2

    conn = psycopg2.connect(METADATA_DSN)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pid, datname FROM pg_stat_activity WHERE datname IS NOT NULL")
            backends = cursor.fetchall()
            cursor.execute(
                "SELECT datname, sessions, active_time FROM pg_stat_database"
                " WHERE datname IS NOT NULL"
            )
            databases = {str(db): (int(n), float(ms)) for db, n, ms in cursor.fetchall()}
    finally:
        conn.close()
    return {
        "backends": {
            int(pid): (str(db), _cpu_of([int(pid)], children=False)) for pid, db in backends
        },
        "databases": databases,
    }


def postgres_by_database(
    before: dict[str, Any], after: dict[str, Any], total: float
) -> dict[str, dict[str, float]]:
    """Per database, between two `postgres_reading`s: sessions opened, seconds of statements
    executing, CPU seconds of the backends connected at the second reading; under
    ``(ended backends, postmaster)`` the rest of ``total`` (PostgreSQL's whole CPU figure)."""
    found: dict[str, dict[str, float]] = {}
    for database, (sessions, active_ms) in after["databases"].items():
        was = before["databases"].get(database, (0, 0.0))
        if sessions - was[0] or active_ms - was[1]:
            found[database] = {
                "sessions": sessions - was[0],
                "active_s": round((active_ms - was[1]) / 1000, 1),
                "cpu_s_connected": 0.0,
            }
    connected = 0.0
    for pid, (database, cpu) in after["backends"].items():
        start = before["backends"].get(pid)
        used = cpu - start[1] if start and start[0] == database else cpu
        connected += used
        entry = found.setdefault(database, {"sessions": 0, "active_s": 0.0, "cpu_s_connected": 0.0})
        entry["cpu_s_connected"] = round(entry["cpu_s_connected"] + used, 1)
    found["(ended backends, postmaster)"] = {"cpu_s": round(total - connected, 1)}
    return found


def run(
    groups: int,
    out: TextIO | None = None,
    *,
    keep_up: bool = False,
    timeout: float = 7200,
    time_scale: float = 0.05,
    per_group: int = 2,
) -> dict[str, Any]:
    """Bring the deployment up for ``groups`` groups of ``per_group`` libraries, run one
    resync, measure, stop it."""
    folder = OUT / "deploy"
    settings = settings_for(groups, folder, time_scale, per_group)
    result: dict[str, Any] = {"groups": groups, "libraries": groups * per_group}
    started = time.monotonic()
    try:  # also a failed or interrupted start-up stops what it started
        api, healthy = d.up(settings, out)
        result["healthy_after_s"] = round(healthy, 1)
        result["dag_parse_s"] = round(dag_parse_seconds(settings), 3)
        cpu_before, postgres_before = cpu_seconds(settings), postgres_reading()
        run_id = d.trigger(api, {"approvals_required": False}, out)
        sampler = RunWatch(run_id, settings, out)
        sampler.follow(timeout=timeout)
        measure(settings, api, run_id, sampler, result, cpu_before, postgres_before)
        result["total_s"] = round(time.monotonic() - started, 1)
        return result
    finally:
        if not keep_up:
            d.stop(settings, out)


# The task log line of a task the triggerer ended: ENDED_HERE of plugins/icluster_resync/
# triggers.py (not imported: this process does not load Airflow; a test keeps them equal).
ENDED_HERE = "the trigger walked the rest of the task: it ends here"


def task_starts(settings: d.Settings, run_id: str) -> dict[str, int]:
    """How often a task started on a worker (first starts and resumes after a wait) and how
    many tasks the triggerer ended without one, from the run's task logs."""
    folder = settings.logs / f"dag_id={d.DAG_ID}" / f"run_id={run_id}"
    starts = ended = 0
    for path in folder.rglob("attempt=*.log*"):
        text = path.read_text(errors="replace")
        if ".trigger." in path.name:
            ended += ENDED_HERE in text
        else:
            starts += text.count("::group::Pre Execute")
    return {"worker_task_starts": starts, "ended_in_triggerer": ended}


def measure(
    settings: d.Settings,
    api: d.Api,
    run_id: str,
    sampler: RunWatch,
    result: dict[str, Any],
    cpu_before: dict[str, float],
    postgres_before: dict[str, Any],
) -> None:
    """The figures of an ended run into ``result``: CPU since ``cpu_before``, the run's task
    instances, memory, the pair's state and the critical paths (the deployment still up)."""
    groups = int(result["groups"])
    cpu_after, postgres_after = cpu_seconds(settings), postgres_reading()
    result["cpu_s"] = {
        name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in cpu_after
    }
    result["postgresql_by_database"] = postgres_by_database(
        postgres_before, postgres_after, result["cpu_s"]["postgresql"]
    )
    summary = d.run_summary(api, settings, run_id)
    result["state"] = summary["state"]
    result["failed_tasks"] = summary["failed_tasks"]
    run_path = f"/api/v2/dags/{d.DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    run_row = api.request("GET", run_path)
    run_start = d._parse_time(run_row["start_date"])
    run_end = d._parse_time(run_row["end_date"])
    tis = d.RunFollower(api, run_id).task_instances()
    result["task_instances"] = len(tis)
    result["task_instances_per_group"] = round(
        sum(1 for ti in tis if ti["map_index"] >= 0) / groups, 2
    )
    result["profile"] = _ti_profile(tis)
    result.update(task_starts(settings, run_id))
    result["memory_pss_mb_end"] = d.memory_pss_mb(settings)
    result["memory_pss_mb_peak"] = sampler.peak_pss or result["memory_pss_mb_end"]
    result["max_running"] = max((s["states"].get("running", 0) for s in sampler.samples), default=0)
    result["max_deferred"] = max(
        (s["states"].get("deferred", 0) for s in sampler.samples), default=0
    )
    result["samples"] = len(sampler.samples)
    pair = _sim_pair(settings)
    try:
        differ = pair.library_differences(d.plan_libraries(settings))
        result["pair_in_sync"] = not differ
        # which objects differ, so a "not in sync" can be followed up (up to 10 a library)
        result["pair_differences"] = {
            library: sorted({o[0] for o in set(primary) ^ set(backup)})[:10]
            for library, (primary, backup) in differ.items()
        }
        assert run_start and run_end
        wall = (run_end - run_start).total_seconds()
        cp_run, chain_run = pair.critical_path(run_start, run_end)
        busy = sum(s.seconds for s in pair.work_spans(run_start, run_end))
        ended, restarted = _outage(pair)
        result["run_wall_s"] = round(wall, 1)
        result["run_critical_path_s"] = round(cp_run, 2)
        result["run_overhead_s"] = round(wall - cp_run, 1)
        result["run_job_seconds_sum"] = round(busy, 1)
        result["run_critical_path_jobs"] = len(chain_run)
        if ended and restarted:
            outage = (restarted - ended).total_seconds()
            cp_outage, chain = pair.critical_path(ended, restarted)
            result["outage_s"] = round(outage, 1)
            result["outage_critical_path_s"] = round(cp_outage, 2)
            result["outage_overhead_s"] = round(outage - cp_outage, 1)
            result["outage_critical_path"] = [s.as_dict() for s in chain]
            gaps = [(b.start - a.end).total_seconds() for a, b in itertools.pairwise(chain)]
            result["outage_chain_gaps_s"] = [round(g, 2) for g in gaps]
    finally:
        pair.close()
    sim_config = json.loads((settings.sim_state / "config.json").read_text())
    result["sim_config"], result["time_scale"] = sim_config["timing"], sim_config["time_scale"]
    result["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
