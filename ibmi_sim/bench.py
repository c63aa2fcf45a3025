"""Benchmark a running pair: ``system`` latency, concurrent sessions, SFTP throughput, memory.

Why a script and not timed tests (issue 3, Performance): the figures depend on the machine, so
they are measured and reported, not asserted. Run against a pair started with ``up``:
``python -m ibmi_sim bench [--sessions 50] [--mib 200]``. It creates save files named BENCH*
in SAVFLIB on the BACKUP node (and deletes them afterwards).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncssh

from ibmi_sim.testing import SimPair

_CHECK = "CHKOBJ OBJ(QSYS/QGPL) OBJTYPE(*LIB)"


def _latency(pair: SimPair, calls: int) -> dict[str, float]:
    pair.run("backup", "true")
    started = time.perf_counter()
    for _ in range(calls):
        pair.run("backup", "true")
    plain = (time.perf_counter() - started) / calls
    started = time.perf_counter()
    for _ in range(calls):
        done = pair.system("backup", _CHECK)
        if done.rc != 0:
            raise RuntimeError(done.stderr)
    system = (time.perf_counter() - started) / calls
    return {"exec_ms": plain * 1000, "system_ms": system * 1000}


def _sessions(pair: SimPair, sessions: int, calls_each: int) -> dict[str, float]:
    def one(_: int) -> int:
        client = pair.connect("backup")
        failures = 0
        try:
            for _ in range(calls_each):
                _, stdout, _ = client.exec_command(f'system "{_CHECK}"')
                failures += stdout.channel.recv_exit_status() != 0
        finally:
            client.close()
        return failures

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        failures = sum(pool.map(one, range(sessions)))
    elapsed = time.perf_counter() - started
    return {
        "sessions": sessions,
        "calls": sessions * calls_each,
        "seconds": elapsed,
        "calls_per_s": sessions * calls_each / elapsed,
        "failures": failures,
    }


def _sftp_paramiko(pair: SimPair, local: Path, mib: int) -> dict[str, float]:
    remote = "/QSYS.LIB/SAVFLIB.LIB/BENCHP.FILE"
    pair.system("backup", "CRTSAVF FILE(SAVFLIB/BENCHP)")
    with pair.sftp("backup") as sftp:
        started = time.perf_counter()
        sftp.put(str(local), remote)
        put = time.perf_counter() - started
        started = time.perf_counter()
        sftp.get(remote, str(local) + ".back")
        get = time.perf_counter() - started
    pair.system("backup", "DLTF FILE(SAVFLIB/BENCHP)")
    Path(str(local) + ".back").unlink()
    return {"put_mb_s": mib * 1.048576 / put, "get_mb_s": mib * 1.048576 / get}


async def _sftp_asyncssh(info: dict[str, Any], local: Path, mib: int) -> dict[str, float]:
    node = info["nodes"]["backup"]
    remote = "/QSYS.LIB/SAVFLIB.LIB/BENCHA.FILE"
    async with asyncssh.connect(
        node["host"],
        port=node["ssh_port"],
        username=node["user"],
        password=node["password"],
        known_hosts=info["known_hosts_path"],
    ) as conn:
        await conn.run('system "CRTSAVF FILE(SAVFLIB/BENCHA)"')
        async with conn.start_sftp_client() as sftp:
            started = time.perf_counter()
            await sftp.put(str(local), remote)
            put = time.perf_counter() - started
            started = time.perf_counter()
            await sftp.get(remote, str(local) + ".back")
            get = time.perf_counter() - started
        await conn.run('system "DLTF FILE(SAVFLIB/BENCHA)"')
    Path(str(local) + ".back").unlink()
    return {"put_mb_s": mib * 1.048576 / put, "get_mb_s": mib * 1.048576 / get}


def openssh_options(info: dict[str, Any]) -> list[str]:
    """OpenSSH client options for the pair of ``info``: its client key, its host keys checked
    (never accepted blindly), no prompt."""
    return [
        "-i",
        info["nodes"]["primary"]["private_key_path"],
        "-o",
        f"UserKnownHostsFile={info['known_hosts_path']}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
    ]


def _sftp_openssh(pair: SimPair, local: Path, mib: int) -> dict[str, float] | None:
    """OpenSSH's ``sftp`` client (C) against the simulator: the server's own throughput, with
    no Python on the client side; None when the client is not installed."""
    sftp = shutil.which("sftp")
    if sftp is None:
        return None
    info = pair.info
    node = info["nodes"]["backup"]
    remote = "/QSYS.LIB/SAVFLIB.LIB/BENCHO.FILE"
    pair.system("backup", "CRTSAVF FILE(SAVFLIB/BENCHO)")
    command = [
        sftp,
        "-q",
        "-b",
        "-",
        "-P",
        str(node["ssh_port"]),
        *openssh_options(info),
        f"{node['user']}@{node['host']}",
    ]
    seconds = []
    for batch in (f"put {local} {remote}\n", f"get {remote} {local}.back\n"):
        started = time.perf_counter()
        subprocess.run(command, input=batch.encode(), check=True, capture_output=True, timeout=600)
        seconds.append(time.perf_counter() - started)
    pair.system("backup", "DLTF FILE(SAVFLIB/BENCHO)")
    Path(f"{local}.back").unlink()
    return {"put_mb_s": mib * 1.048576 / seconds[0], "get_mb_s": mib * 1.048576 / seconds[1]}


def _memory_mib(pid: int) -> float | None:
    """Resident memory of the simulator process (VmRSS), None when not readable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(state_dir: Path, *, sessions: int = 50, calls_each: int = 5, mib: int = 200) -> dict:
    """Measure everything against the pair whose state is in ``state_dir``."""
    info = json.loads((state_dir / "connections.json").read_text())
    pair = SimPair(info, state_dir)
    report: dict[str, Any] = {}
    try:
        report["latency"] = _latency(pair, 30)
        report["concurrency"] = _sessions(pair, sessions, calls_each)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "payload.bin"
            with local.open("wb") as out:
                for _ in range(mib):
                    out.write(os.urandom(1 << 20))
            report["sftp_paramiko"] = _sftp_paramiko(pair, local, mib)
            report["sftp_asyncssh"] = asyncio.run(_sftp_asyncssh(info, local, mib))
            report["sftp_openssh"] = _sftp_openssh(pair, local, mib)
        report["simulator_rss_mib"] = _memory_mib(int(info["pid"]))
    finally:
        pair.close()
    return report
