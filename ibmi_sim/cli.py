"""Command line: one command starts the pair, one stops it (issue 3 item 2).

``up`` daemonises by re-running itself with ``--foreground`` in a new session, and returns once
``connections.json`` names the child's pid (so callers can connect at once); ``down`` sends
SIGTERM to the pid in the pid file and waits. ``down --drop-databases`` also drops both node
databases (tests use it to leave nothing behind).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ibmi_sim import db
from ibmi_sim.config import DEFAULT_STATE_DIR, SimConfig, load_config
from ibmi_sim.pair import CONFIG_COPY, CONNECTIONS_FILE, PID_FILE, serve

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone (the daemon's parent is init, which
    may reap it late)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _read_pid(state: Path) -> int | None:
    try:
        return int((state / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _up(args: argparse.Namespace) -> int:
    state: Path = args.state
    pid = _read_pid(state)
    if pid is not None and _alive(pid):
        print(f"ibmi_sim already running (pid {pid}); run 'python -m ibmi_sim down' first")
        return 1
    cfg = load_config(args.config)
    state.mkdir(parents=True, exist_ok=True)
    if args.foreground:
        return _run_foreground(cfg, state, args.reset)
    (state / CONNECTIONS_FILE).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "ibmi_sim", "up", "--foreground", "--state", str(state)]
    if args.config:
        cmd += ["--config", str(args.config)]
    if args.reset:
        cmd.append("--reset")
    log_file = (state / "sim.log").open("ab")
    child = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(f"ibmi_sim failed to start (exit {child.returncode}); see {state / 'sim.log'}")
            return 1
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((state / CONNECTIONS_FILE).read_text())
            if info.get("pid") == child.pid:
                print(state / CONNECTIONS_FILE)
                return 0
        time.sleep(0.1)
    child.terminate()
    print(f"ibmi_sim did not start within {START_TIMEOUT_S:.0f} s; see {state / 'sim.log'}")
    return 1


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it is, with Airflow's api-server): the pair serves every SSH,
    SFTP and SQL byte of both nodes from this one event loop, and libuv's socket handling is
    the larger part of the SFTP throughput figure (issue 3, Performance). IBMI_SIM_LOOP=asyncio
    keeps the standard loop."""
    if os.environ.get("IBMI_SIM_LOOP") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _run_foreground(cfg: SimConfig, state: Path, reset: bool) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    pid_file = state / PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(cfg, state, reset=reset))
    finally:
        if _read_pid(state) == os.getpid():
            pid_file.unlink(missing_ok=True)
    return 0


def _down(args: argparse.Namespace) -> int:
    state: Path = args.state
    pid = _read_pid(state)
    status = 0
    if pid is None or not _alive(pid):
        print("ibmi_sim is not running")
        (state / PID_FILE).unlink(missing_ok=True)
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            status = 1
            print(f"ibmi_sim (pid {pid}) did not stop in time; killed")
        (state / PID_FILE).unlink(missing_ok=True)
        (state / CONNECTIONS_FILE).unlink(missing_ok=True)
    if args.drop_databases:
        copy = state / CONFIG_COPY
        cfg = SimConfig.model_validate_json(copy.read_text()) if copy.exists() else SimConfig()
        for node_cfg in cfg.nodes.values():
            asyncio.run(db.drop_database(cfg.maintenance_url(), node_cfg.database))
    return status


def _status(args: argparse.Namespace) -> int:
    pid = _read_pid(args.state)
    if pid is None or not _alive(pid):
        print("ibmi_sim is not running")
        return 1
    print((args.state / CONNECTIONS_FILE).read_text())
    return 0


def _guesses(args: argparse.Namespace) -> int:
    from ibmi_sim.guesses import report

    print(report())
    return 0


def _bench(args: argparse.Namespace) -> int:
    from ibmi_sim.bench import run

    if not (args.state / CONNECTIONS_FILE).exists():
        print("ibmi_sim is not running; start it with 'python -m ibmi_sim up'")
        return 1
    report = run(args.state, sessions=args.sessions, calls_each=args.calls, mib=args.mib)
    print(json.dumps(report, indent=2))
    return 0


def _db_urls(state: Path) -> dict[str, str]:
    info = json.loads((state / CONNECTIONS_FILE).read_text())
    return {key: node["database_url"] for key, node in info["nodes"].items()}


def _fault(args: argparse.Namespace) -> int:
    """``fault add|list|clear``: rows of a node's ``faults`` table (ibmi_sim.faults)."""
    import psycopg2

    from ibmi_sim import faults

    if not (args.state / CONNECTIONS_FILE).exists():
        print("ibmi_sim is not running; start it with 'python -m ibmi_sim up'")
        return 1
    urls = _db_urls(args.state)
    nodes = [args.node] if args.node else list(urls)
    out: dict[str, object] = {}
    for key in nodes:
        conn = psycopg2.connect(urls[key])
        conn.autocommit = True
        try:
            if args.fault_action == "add":
                try:
                    out[key] = faults.add_sync(
                        conn, args.kind, args.target, args.count, args.seconds
                    )
                except ValueError as exc:
                    print(exc)
                    return 2
            elif args.fault_action == "list":
                out[key] = faults.list_sync(conn)
            else:
                out[key] = faults.clear_sync(conn, args.kind)
        finally:
            conn.close()
    print(json.dumps(out, indent=2, default=str))
    return 0


def _invariants(args: argparse.Namespace) -> int:
    """``invariants``: JSON of the violations (ibmi_sim.invariants); exit 1 when any."""
    from datetime import datetime

    from ibmi_sim.invariants import as_json, check_invariants

    if not (args.state / CONNECTIONS_FILE).exists():
        print("ibmi_sim is not running; start it with 'python -m ibmi_sim up'")
        return 2
    since = datetime.fromisoformat(args.since) if args.since else None
    found = check_invariants(_db_urls(args.state), since=since, libraries=args.library)
    print(as_json(found))
    return 1 if found else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ibmi_sim", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start the PRIMARY/BACKUP pair")
    up.add_argument("--config", type=Path, help="YAML config (defaults built in)")
    up.add_argument("--reset", action="store_true", help="drop and recreate the node databases")
    up.add_argument("--foreground", action="store_true", help="do not daemonise")
    down = sub.add_parser("down", help="stop the pair")
    down.add_argument("--drop-databases", action="store_true", help="also drop both databases")
    status = sub.add_parser("status", help="print connections.json when running")
    sub.add_parser("guesses", help="list every guessed behaviour and message text")
    bench = sub.add_parser("bench", help="measure a running pair (latency, sessions, SFTP)")
    bench.add_argument("--sessions", type=int, default=50, help="concurrent SSH sessions")
    bench.add_argument("--calls", type=int, default=5, help="system calls per session")
    bench.add_argument("--mib", type=int, default=200, help="SFTP transfer size in MiB")
    fault = sub.add_parser("fault", help="inject, list or clear faults (issue 3 item 10)")
    fault_sub = fault.add_subparsers(dest="fault_action", required=True)
    f_add = fault_sub.add_parser("add", help="add a fault on one node")
    f_add.add_argument("kind", help="lock_on_save, restore_fails, corrupt_transfer, ...")
    f_add.add_argument("--target", help="library, group or LIB/SAVF the fault applies to")
    f_add.add_argument("--count", type=int, default=1, help="objects or uses (default 1)")
    f_add.add_argument("--seconds", type=float, help="duration (unreachable) or delay")
    f_list = fault_sub.add_parser("list", help="print the fault rows (JSON)")
    f_clear = fault_sub.add_parser("clear", help="remove faults (all, or --kind)")
    f_clear.add_argument("--kind", help="only this kind")
    for p in (f_add, f_list, f_clear):
        p.add_argument("--node", choices=["primary", "backup"], required=p is f_add)
        p.add_argument("--state", type=Path, default=DEFAULT_STATE_DIR, help="state directory")
    inv = sub.add_parser("invariants", help="check the invariants (JSON; exit 1 on violations)")
    inv.add_argument("--since", help="ISO timestamp: only commands and saves from then on")
    inv.add_argument("--library", action="append", help="only this library (repeatable)")
    for p in (up, down, status, bench, inv):
        p.add_argument("--state", type=Path, default=DEFAULT_STATE_DIR, help="state directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "guesses":
        return _guesses(args)
    args.state = args.state.resolve()
    actions = {
        "up": _up,
        "down": _down,
        "status": _status,
        "bench": _bench,
        "fault": _fault,
        "invariants": _invariants,
    }
    return actions[args.action](args)
