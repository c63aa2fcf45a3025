"""Client-side helpers for tests, demos and benchmarks: start/stop a pair, talk to it.

Why here and not in tests/: the lead's end-to-end tests and the benchmark script need the same
"start a throw-away pair, run a command the way Airflow's SSHHook does, compare the two nodes"
helpers. The server side never imports this module (it pulls in paramiko and psycopg2).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paramiko
import psycopg2
import yaml

from ibmi_sim.airflow_conns import airflow_env
from ibmi_sim.config import load_config
from ibmi_sim.critical_path import SPANS_SQL, Span, critical_path, spans_from_rows
from ibmi_sim.pair import CONNECTIONS_FILE


@dataclass(frozen=True)
class CommandResult:
    """Exit status and decoded streams of one SSH exec."""

    rc: int
    stdout: str
    stderr: str


def fast_test_config(tag: str) -> dict[str, Any]:
    """Small libraries, a fast clock (time_scale 0.01), subsystems reserved for tests.

    Databases are named ``ibmi_sim_<tag>_primary`` / ``_backup`` so parallel sessions do not
    collide and ``down --drop-databases`` removes exactly them.
    """
    system_sbs = [{"name": n} for n in ("QCTL", "QBATCH", "QINTER", "QUSRWRK", "QSYSWRK")]
    return {
        "time_scale": 0.01,
        "size_scale": 1e-3,
        "timing": {"endsbs_immed_s": 100.0, "endsbs_cntrld_s": 200.0, "job_start_s": 1.0},
        "nodes": {
            "primary": {
                "system_name": "SIMPRIM",
                "role": "PRIMARY",
                "database": f"ibmi_sim_{tag}_primary",
            },
            "backup": {
                "system_name": "SIMBACK",
                "role": "BACKUP",
                "database": f"ibmi_sim_{tag}_backup",
            },
        },
        "libraries": [
            {"name": "APPLIB1", "objects": 30, "data_mb": 40},
            {"name": "APPLIB2", "objects": 12, "data_mb": 10},
            {"name": "APPLIB3", "objects": 8, "data_mb": 5},
            {"name": "SAVFLIB", "objects": 0, "data_mb": 0},
            {"name": "QGPL", "objects": 0, "data_mb": 0},
        ],
        "subsystems": [
            *system_sbs,
            {"name": "APPSBS", "library": "QGPL", "active_on": ["primary"]},
            {"name": "TSTSBS1", "library": "QGPL", "active_on": ["primary", "backup"]},
            {"name": "TSTSBS2", "library": "QGPL", "active_on": ["primary", "backup"]},
            {"name": "TSTJOBQ", "library": "QGPL", "active_on": []},
        ],
        "replication_groups": [
            {"name": "GRP01", "libraries": ["APPLIB1"]},
            {"name": "GRP02", "libraries": ["APPLIB2", "APPLIB3"]},
        ],
    }


class SimPair:
    """A running pair, as described by its ``connections.json``."""

    def __init__(self, info: dict[str, Any], state_dir: Path) -> None:
        self.info = info
        self.state_dir = state_dir
        self._clients: dict[str, paramiko.SSHClient] = {}

    def node(self, key: str) -> dict[str, Any]:
        return dict(self.info["nodes"][key])

    def connect(self, key: str, *, use_key: bool = False) -> paramiko.SSHClient:
        """A new paramiko client with host-key checking on (RejectPolicy + known_hosts)."""
        node = self.node(key)
        client = paramiko.SSHClient()
        client.load_host_keys(self.info["known_hosts_path"])
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        auth: dict[str, Any] = (
            {"key_filename": node["private_key_path"]}
            if use_key
            else {"password": node["password"]}
        )
        client.connect(
            node["host"],
            node["ssh_port"],
            username=node["user"],
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
            **auth,
        )
        return client

    def client(self, key: str) -> paramiko.SSHClient:
        """A cached client per node (one connection, many commands, as SSHHook keeps one)."""
        if key not in self._clients:
            self._clients[key] = self.connect(key)
        return self._clients[key]

    def run(self, key: str, line: str, timeout: float = 60) -> CommandResult:
        """Exec ``line`` like Airflow's ``SSHHook.exec_ssh_client_command``: close stdin first."""
        stdin, stdout, stderr = self.client(key).exec_command(line, timeout=timeout)
        stdin.close()
        stdout.channel.shutdown_write()
        out = stdout.read().decode()
        err = stderr.read().decode()
        return CommandResult(stdout.channel.recv_exit_status(), out, err)

    def system(self, key: str, cl: str) -> CommandResult:
        """``system "<cl>"`` with the CL in double quotes (caller avoids ``"`` and ``$``)."""
        return self.run(key, f'system "{cl}"')

    @contextmanager
    def sftp(self, key: str) -> Iterator[paramiko.SFTPClient]:
        client = self.connect(key)
        try:
            with client.open_sftp() as sftp:
                yield sftp
        finally:
            client.close()

    @contextmanager
    def db(self, key: str) -> Iterator[Any]:
        """A psycopg2 connection (autocommit) to the node's database."""
        conn = psycopg2.connect(self.node(key)["database_url"])
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def query(self, key: str, sql: str, *params: Any, conn: Any = None) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on the node's database: on ``conn`` (one of `db`'s, for many
        queries in a row) or on a connection of its own."""
        if conn is None:
            with self.db(key) as own:
                return self.query(key, sql, *params, conn=own)
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall()) if cur.description else []

    def objects(
        self, key: str, library: str, *, conn: Any = None
    ) -> list[tuple[str, str, str, int, int, str]]:
        """(name, type, attribute, size, version, content hash) of a library, sorted."""
        return [
            (r[0], r[1], r[2], int(r[3]), int(r[4]), r[5].strip())
            for r in self.query(
                key,
                "SELECT name, obj_type, attribute, size_bytes, version, content_hash"
                " FROM objects WHERE library = %s ORDER BY name, obj_type",
                library,
                conn=conn,
            )
        ]

    def library_differences(
        self, libraries: list[str], *, settle_s: float = 10.0
    ) -> dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """Libraries whose objects differ between the nodes (name, type, size, content):
        library -> (PRIMARY's objects, BACKUP's objects). Empty when the pair is in sync.

        Why not one read of each node: while an application subsystem is active the
        workload keeps changing PRIMARY's objects and BACKUP gets each change a tick later,
        so the two reads can fall on either side of a change or of its apply. So BACKUP is
        read once its group has applied what PRIMARY had journalled when PRIMARY was read,
        and the libraries that differ are read again until ``settle_s`` has passed after
        the first pass (one window for all of them: a broken restore of 2,000 libraries
        costs ``settle_s`` once, not 2,000 times). That cannot hide a real difference:
        apply chains each object's hash (``H(hash + token)``), so after an entry lost or
        applied twice, or a library left unrestored, the nodes never read the same again
        (ibmi_sim.icluster)."""
        # one connection to each node for the whole comparison (2,000 libraries are
        # thousands of queries)
        with self.db("primary") as on_primary, self.db("backup") as on_backup:
            return self._differences(libraries, settle_s, on_primary, on_backup)

    def _differences(
        self, libraries: list[str], settle_s: float, on_primary: Any, on_backup: Any
    ) -> dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        sql = "SELECT library, group_name FROM replication_group_libraries"
        groups = dict(self.query("primary", sql, conn=on_primary))
        differ: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
        pending = list(libraries)
        window_end = time.monotonic() + settle_s
        first_pass = True
        while pending:
            stalled: set[str] = set()  # groups whose apply did not catch up in this pass
            for library in pending:
                primary = self._compared("primary", library, on_primary)
                group = groups.get(library)
                # a group waits at least a second even after the window (so a last read
                # follows an apply too), and once a pass (a frozen apply costs that second
                # once per group, not per library)
                until = max(window_end, time.monotonic() + 1.0)
                if (
                    group
                    and group not in stalled
                    and not self._wait_applied(group, until, on_primary)
                ):
                    stalled.add(group)
                backup = self._compared("backup", library, on_backup)
                if primary == backup:
                    differ.pop(library, None)
                else:
                    differ[library] = (primary, backup)
            pending = [library for library in pending if library in differ]
            if first_pass:
                window_end, first_pass = time.monotonic() + settle_s, False
            elif time.monotonic() > window_end:
                break
            if pending:
                time.sleep(0.1)
        return {library: differ[library] for library in libraries if library in differ}

    def _compared(self, key: str, library: str, conn: Any) -> list[tuple[Any, ...]]:
        """What the comparison looks at of each object: name, type, size, content hash."""
        return [(o[0], o[1], o[3], o[5]) for o in self.objects(key, library, conn=conn)]

    def _wait_applied(self, group: str, deadline: float, on_primary: Any) -> bool:
        """Wait until ``group`` has applied on BACKUP every entry journalled on PRIMARY so
        far: True then, False at ``deadline`` (apply ended, suspended or behind)."""
        sql = "SELECT last_sequence, applied_sequence FROM icluster_groups WHERE group_name = %s"
        rows = self.query("primary", sql, group, conn=on_primary)
        if not rows:
            return True
        end = rows[0][0]
        while self.query("primary", sql, group, conn=on_primary)[0][1] < end:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def airflow_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_IBMI_PRIMARY_SSH`` ... -> JSON: the pair's four Airflow connections
        (:mod:`ibmi_sim.airflow_conns`), for ``monkeypatch.setenv`` or a subprocess env."""
        return airflow_env(self.info)

    def odbc(self, key: str, *, timeout: int = 10) -> Any:
        """A new pyodbc connection (autocommit) to the node's SQL front; close it yourself."""
        import pyodbc  # only tests that use SQL need the ODBC stack

        return pyodbc.connect(
            self.node(key)["odbc_connection_string"], autocommit=True, timeout=timeout
        )

    def add_fault(
        self,
        key: str,
        kind: str,
        target: str | None = None,
        count: int = 1,
        seconds: float | None = None,
    ) -> int:
        """Inject a fault on node ``key`` (:mod:`ibmi_sim.faults`, issue 3 item 10); its id."""
        from ibmi_sim import faults

        with self.db(key) as conn:
            return faults.add_sync(conn, kind, target, count, seconds)

    def faults(self, key: str) -> list[dict[str, Any]]:
        """The fault rows of node ``key`` (with ``active`` and ``fired``)."""
        from ibmi_sim import faults

        with self.db(key) as conn:
            return faults.list_sync(conn)

    def clear_faults(self, key: str | None = None) -> None:
        """Remove every fault (of both nodes, or of ``key``); state faults end within 0.2 s."""
        from ibmi_sim import faults

        for node in [key] if key else list(self.info["nodes"]):
            with self.db(node) as conn:
                faults.clear_sync(conn)

    def work_spans(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[Span]:
        """The IBM i work of both nodes that overlaps [since, until] (default: all of it, up
        to now), unclipped (:mod:`ibmi_sim.critical_path`)."""
        since = since or datetime(1970, 1, 1, tzinfo=UTC)
        until = until or datetime.now(UTC)
        spans: list[Span] = []
        for key in self.info["nodes"]:
            with self.db(key) as conn, conn.cursor() as cur:
                cur.execute(SPANS_SQL, {"since": since, "until": until})
                spans.extend(spans_from_rows(key, cur.fetchall()))
        return spans

    def critical_path(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[float, list[Span]]:
        """Seconds and spans of the critical path of both nodes' IBM i work in [since, until]
        (:func:`ibmi_sim.critical_path.critical_path`: the longest chain of spans, each
        starting after the previous ended, clipped to the interval)."""
        until = until or datetime.now(UTC)
        return critical_path(self.work_spans(since, until), since, until)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ibmi_sim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


def start_pair(state_dir: Path, config: dict[str, Any], *, timeout: float = 90) -> SimPair:
    """Write ``config`` to the state dir and run ``python -m ibmi_sim up --reset``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config_file = state_dir / "test-config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    done = _cli(
        "up", "--state", str(state_dir), "--config", str(config_file), "--reset", timeout=timeout
    )
    if done.returncode != 0:
        log = (state_dir / "sim.log").read_text() if (state_dir / "sim.log").exists() else ""
        raise RuntimeError(f"ibmi_sim up failed: {done.stdout}{done.stderr}\n{log[-3000:]}")
    info = json.loads((state_dir / CONNECTIONS_FILE).read_text())
    return SimPair(info, state_dir)


def stop_pair(pair: SimPair, *, drop_databases: bool = True, timeout: float = 60) -> None:
    """``python -m ibmi_sim down`` (and drop both databases)."""
    pair.close()
    args = ["down", "--state", str(pair.state_dir)]
    if drop_databases:
        args.append("--drop-databases")
    done = _cli(*args, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"ibmi_sim down failed: {done.stdout}{done.stderr}")


# Tags of test pairs: a letter, the pytest pid, optionally a serial and a letter
# (`unique_tag`, the deployment tests' d<pid>c).
_TEST_DB_RE = re.compile(r"^ibmi_sim_[a-z](\d+)(?:x\d+)?[a-z]?_(primary|backup)$")
_SERIALS = itertools.count(1)


def unique_tag(prefix: str = "t") -> str:
    """A database tag no other pair of this process has used: prefix, pid and a serial.

    Why: two pairs on the same tag share their databases, and each one's iCluster loop then
    applies the other's journal; a session-scoped pair stays up while module pairs come
    and go, so the tag must differ per pair, not only per process.
    """
    return f"{prefix}{os.getpid()}x{next(_SERIALS)}"


def drop_stale_test_databases(server_url: str | None = None) -> list[str]:
    """Drop databases of earlier test sessions whose pytest process is gone.

    Why: a session killed before its teardown leaves ``ibmi_sim_t<pid>_*`` behind; the next
    session removes them, and only those (names of :func:`fast_test_config` with a dead pid).
    """
    cfg = load_config(None)  # honours IBMI_SIM_SERVER_URL like `up` does
    if server_url is not None:
        cfg = cfg.model_copy(update={"server_url": server_url})
    conn = psycopg2.connect(cfg.maintenance_url())
    conn.autocommit = True
    dropped: list[str] = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database")
            for (name,) in cur.fetchall():
                match = _TEST_DB_RE.match(name)
                if match and not Path(f"/proc/{match.group(1)}").exists():
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    dropped.append(name)
    finally:
        conn.close()
    return dropped


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)
