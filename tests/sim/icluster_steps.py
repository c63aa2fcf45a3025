"""What an administrator does by hand on the simulated pair, for the iCluster tests.

Only the product's protocols: CL through SSH `system`, save-file bytes through SFTP, iCluster
state through the SQL views of the site profile (config/site-profiles/simulator.yaml), read
with pyodbc through each node's SQL front, as the product reads them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ibmi_sim.testing import (
    CommandResult,
    SimPair,
    fast_test_config,
    start_pair,
    stop_pair,
    unique_tag,
)

# The site profile's patterns (config/site-profiles/simulator.yaml `messages`).
DIFFERENCES = re.compile(r"(?P<differences>[0-9]+) objects? out of sync")
MARKED = re.compile(r"receiver (?P<receiver>[A-Z0-9$#@_./]+) sequence (?P<sequence>[0-9]+)")
GROUPS = {"GRP01": ["APPLIB1"], "GRP02": ["APPLIB2", "APPLIB3"]}
LIBRARIES = [lib for libs in GROUPS.values() for lib in libs]
APP_SUBSYSTEM = "APPSBS"


def icluster_config(tag: str) -> dict[str, Any]:
    """fast_test_config with an application job in APPSBS, so the workload runs on PRIMARY."""
    cfg = fast_test_config(tag)
    cfg["icluster"] = {"sync_check_base_s": 60.0}  # 0.6 s: long enough to meet a second one
    cfg["ifs"] = [{"path": "/home/orders/exports", "files": 4, "data_mb": 1}]
    cfg["dlo_folders"] = [{"name": "INVOICES", "documents": 3, "data_mb": 1}]
    cfg["replication_groups"] = [
        {"name": "GRP01", "libraries": ["APPLIB1"], "ifs_paths": ["/home/orders/exports"]},
        {"name": "GRP02", "libraries": ["APPLIB2", "APPLIB3"], "dlo_folders": ["INVOICES"]},
    ]
    for sbs in cfg["subsystems"]:
        if sbs["name"] == APP_SUBSYSTEM:
            sbs["jobs"] = [{"name": "ORDENTRY", "user": "APPUSER", "locks": ["APPLIB1", "APPLIB2"]}]
    return cfg


@contextmanager
def throwaway_pair(tmp_path: Path) -> Iterator[SimPair]:
    pair = start_pair(tmp_path, icluster_config(unique_tag("r")))
    try:
        yield pair
    finally:
        stop_pair(pair, drop_databases=True)


def cl(pair: SimPair, node: str, command: str, *, ok: bool = True) -> CommandResult:
    """``system '<command>'`` on ``node`` (single quotes, as the product sends it)."""
    result = pair.run(node, f"system '{command}'")
    if ok:
        assert result.rc == 0, f"{command}: {result.stderr}"
    return result


def sql(pair: SimPair, node: str, statement: str, *params: Any) -> list[dict[str, Any]]:
    """Rows (upper-case column names) of ``statement`` through the node's ODBC front."""
    conn = pair.odbc(node)
    try:
        cursor = conn.cursor()
        cursor.execute(statement, *params)
        names = [d[0].upper() for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


def now(pair: SimPair) -> datetime:
    """The PRIMARY's clock (event-log timestamps come from it)."""
    return pair.query("primary", "SELECT clock_timestamp()")[0][0]


def poll(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def group_status(pair: SimPair, group: str, node: str = "primary") -> dict[str, Any]:
    rows = sql(
        pair,
        node,
        "SELECT GROUP_NAME, STATUS, SYNC_CHECK_ACTIVE, CONTINUOUS_SYNC_CHECK"
        " FROM ICSIM.GROUP_STATUS WHERE GROUP_NAME = ?",
        group,
    )
    assert len(rows) == 1, rows
    return rows[0]


def latency(pair: SimPair, group: str) -> dict[str, Any]:
    return sql(
        pair,
        "primary",
        "SELECT GROUP_NAME, SOURCE_LATENCY_SECONDS, APPLY_LATENCY_SECONDS, BACKLOG_ENTRIES,"
        " LAST_APPLIED_SEQUENCE FROM ICSIM.GROUP_LATENCY WHERE GROUP_NAME = ?",
        group,
    )[0]


def wait_group(pair: SimPair, group: str, status: str) -> None:
    poll(lambda: group_status(pair, group)["STATUS"] == status)


def wait_event(pair: SimPair, group: str, since: datetime, ids: set[str]) -> dict[str, Any]:
    """The first event-log message of ``group`` with an id in ``ids`` written after ``since``."""

    def found() -> dict[str, Any] | None:
        rows = sql(
            pair,
            "primary",
            "SELECT MESSAGE_TIMESTAMP, NODE, GROUP_NAME, MESSAGE_ID, SEVERITY, MESSAGE_TEXT"
            " FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND MESSAGE_TIMESTAMP >= ?"
            " ORDER BY MESSAGE_TIMESTAMP",
            group,
            since,
        )
        return next((r for r in rows if r["MESSAGE_ID"] in ids), None)

    return poll(found)


def wait_subsystem(pair: SimPair, node: str, name: str, status: str) -> None:
    def reached() -> bool:
        rows = sql(
            pair,
            node,
            "SELECT STATUS FROM QSYS2.SUBSYSTEM_INFO WHERE SUBSYSTEM_DESCRIPTION = ?",
            name,
        )
        return bool(rows) and rows[0]["STATUS"] == status

    poll(reached)


def wait_latency_resolved(pair: SimPair, group: str, polls: int = 3) -> None:
    """Backlog 0 and both latencies under 5 s for ``polls`` polls in a row (the product's rule)."""
    streak = 0
    deadline = time.monotonic() + 60
    while streak < polls:
        row = latency(pair, group)
        good = (
            float(row["SOURCE_LATENCY_SECONDS"]) <= 5.0
            and float(row["APPLY_LATENCY_SECONDS"]) <= 5.0
        )
        streak = streak + 1 if good else 0
        assert time.monotonic() < deadline, f"latency of {group} not resolved: {row}"
        time.sleep(0.1)


def wait_drained(pair: SimPair, group: str) -> dict[str, Any]:
    """Application ended: every journal entry applied (BACKLOG_ENTRIES 0)."""
    return poll(lambda: (row := latency(pair, group)) and row["BACKLOG_ENTRIES"] == 0 and row)


def sync_check(pair: SimPair, group: str, *extra: str) -> int:
    """DMSTRSC as the runbook says (step 8); the number of differences from SIM1201."""
    since = now(pair)
    cl(
        pair,
        "primary",
        f"ICLUSTER/DMSTRSC GROUP({group}) SCTYPE(*OBJATTR) REPAIR(*AUTH *CBU *CRD)"
        + "".join(f" {e}" for e in extra),
    )
    done = wait_event(pair, group, since, {"SIM1201", "SIM1202"})
    assert done["MESSAGE_ID"] == "SIM1201", done
    poll(lambda: group_status(pair, group)["SYNC_CHECK_ACTIVE"] == "N")
    match = DIFFERENCES.search(done["MESSAGE_TEXT"])
    assert match is not None, done
    return int(match.group("differences"))


def by_hand_runbook(
    pair: SimPair, *, clear: bool = True, use_marked: bool = True
) -> dict[str, tuple[str, int]]:
    """The save/restore resync of every group, typed by hand (runbook steps 1-10).

    Returns the marked position (receiver, sequence) per group. ``clear=False`` skips step 5
    (CLRLIB on BACKUP); ``use_marked=False`` starts the groups without USEMARKED(*YES).
    """
    # 1. End the application and its subsystem on PRIMARY.
    cl(pair, "primary", f"QSYS/ENDSBS SBS({APP_SUBSYSTEM}) OPTION(*IMMED)")
    wait_subsystem(pair, "primary", APP_SUBSYSTEM, "INACTIVE")
    # 2. End each group, then mark its position on PRIMARY; completion in the event log.
    marks: dict[str, tuple[str, int]] = {}
    for group in GROUPS:
        if group_status(pair, group)["STATUS"] != "*INACTIVE":
            cl(pair, "primary", f"ICLUSTER/DMENDGRP GROUP({group}) OPTION(*CNTRLD) DELAY(120)")
            wait_group(pair, group, "*INACTIVE")
        since = now(pair)
        cl(pair, "primary", f"ICLUSTER/DMMRKPOS GROUP({group})")
        done = wait_event(pair, group, since, {"SIM1001", "SIM1002"})
        assert done["MESSAGE_ID"] == "SIM1001", done
        match = MARKED.search(done["MESSAGE_TEXT"])
        assert match is not None, done
        marks[group] = (match.group("receiver"), int(match.group("sequence")))
    # 3. Save the libraries to save files, then restart the application.
    for lib in LIBRARIES:
        for node in ("primary", "backup"):
            made = cl(pair, node, f"QSYS/CRTSAVF FILE(SAVFLIB/{lib})", ok=False)
            if made.rc != 0:
                assert "CPF5813" in made.stderr, made
                cl(pair, node, f"QSYS/CLRSAVF FILE(SAVFLIB/{lib})")
        cl(pair, "primary", f"QSYS/SAVLIB LIB({lib}) DEV(*SAVF) SAVF(SAVFLIB/{lib})")
    cl(pair, "primary", f"QSYS/STRSBS SBSD(QGPL/{APP_SUBSYSTEM})")
    # 4. Transport the save files to BACKUP (SFTP, bytes as they are).
    with pair.sftp("primary") as src, pair.sftp("backup") as dst:
        for lib in LIBRARIES:
            path = f"/QSYS.LIB/SAVFLIB.LIB/{lib}.FILE"
            with src.open(path, "rb") as reader, dst.open(path, "wb") as writer:
                writer.write(reader.read())
    # 5. Clear the target libraries on BACKUP. 6. Restore them.
    for lib in LIBRARIES:
        if clear:
            cl(pair, "backup", f"QSYS/CLRLIB LIB({lib})")
        cl(
            pair,
            "backup",
            f"QSYS/RSTLIB SAVLIB({lib}) DEV(*SAVF) SAVF(SAVFLIB/{lib}) ALWOBJDIF(*ALL)",
        )
    # 7./9. iCluster subsystem and nodes active.
    cl(pair, "backup", "ICLUSTER/DMSTRCST")
    for node in ("SIMPRIM", "SIMBACK"):
        poll(
            lambda node=node: (
                sql(
                    pair,
                    "primary",
                    "SELECT NODE, STATUS FROM ICSIM.NODE_STATUS WHERE NODE = ?",
                    node,
                )[0]["STATUS"]
                == "*ACTIVE"
            )
        )
    # 10. Start replication at the marked position.
    marked = " USEMARKED(*YES)" if use_marked else ""
    for group in GROUPS:
        cl(pair, "primary", f"ICLUSTER/DMSTRGRP GROUP({group}) STRAPY(*YES){marked}")
        wait_group(pair, group, "*ACTIVE")
    for group in GROUPS:
        wait_latency_resolved(pair, group)
    return marks


def quiesce(pair: SimPair) -> None:
    """End the application and wait until every entry is applied (to compare the nodes)."""
    cl(pair, "primary", f"QSYS/ENDSBS SBS({APP_SUBSYSTEM}) OPTION(*IMMED)")
    wait_subsystem(pair, "primary", APP_SUBSYSTEM, "INACTIVE")
    for group in GROUPS:
        wait_drained(pair, group)


def application_active(pair: SimPair) -> bool:
    rows = sql(
        pair,
        "primary",
        "SELECT STATUS FROM QSYS2.SUBSYSTEM_INFO WHERE SUBSYSTEM_DESCRIPTION = ?",
        APP_SUBSYSTEM,
    )
    return bool(rows) and rows[0]["STATUS"] == "ACTIVE"


def restart_application(pair: SimPair) -> None:
    cl(pair, "primary", f"QSYS/STRSBS SBSD(QGPL/{APP_SUBSYSTEM})")


def in_sync(pair: SimPair, library: str) -> bool:
    return pair.objects("primary", library) == pair.objects("backup", library)


def last_sync_detail(pair: SimPair, group: str) -> str:
    """Second-level text of the group's last SIM1201 (LIB/OBJ TYPE REASON lines), for messages."""
    rows = sql(
        pair,
        "primary",
        "SELECT MESSAGE_SECOND_LEVEL_TEXT FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ?"
        " AND MESSAGE_ID = 'SIM1201' ORDER BY MESSAGE_TIMESTAMP DESC",
        group,
    )
    return str(rows[0]["MESSAGE_SECOND_LEVEL_TEXT"]) if rows else ""
