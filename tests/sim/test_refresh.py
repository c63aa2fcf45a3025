"""DMSTRGRP REFRESH(*YES) on the simulated pair: Rocket's network sync (icluster.md §3.1, §9).

Driven as an administrator (or the network-sync DAG) drives it: CL through SSH ``system``,
iCluster state through the site profile's ICSIM views. The nodes' own tables are read only to
prove the result object for object, and written only to make BACKUP diverge beforehand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ibmi_sim.testing import SimPair, start_pair, stop_pair, unique_tag
from tests.sim.icluster_steps import (
    GROUPS,
    application_active,
    cl,
    group_status,
    icluster_config,
    in_sync,
    now,
    quiesce,
    restart_application,
    sql,
    sync_check,
    wait_event,
    wait_group,
    wait_latency_resolved,
)

IFS_ROOT = "/home/orders/exports"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    """A pair of its own whose refresh takes about a real second (the application keeps
    writing meanwhile)."""
    cfg = icluster_config(unique_tag("f"))
    cfg["icluster"].update({"refresh_mb_per_s": 0.5, "refresh_batches": 5})
    running = start_pair(tmp_path_factory.mktemp("refresh_pair"), cfg)
    try:
        yield running
    finally:
        stop_pair(running, drop_databases=True)


def _journal_end(pair: SimPair, group: str) -> int:
    return int(
        pair.query(
            "primary", "SELECT last_sequence FROM icluster_groups WHERE group_name = %s", group
        )[0][0]
    )


def _ifs(pair: SimPair, node: str) -> list[tuple[Any, ...]]:
    return pair.query(
        node,
        "SELECT path, obj_type, size_bytes, version, content_hash FROM ifs_objects"
        " WHERE path = %s OR path LIKE %s ORDER BY path",
        IFS_ROOT,
        IFS_ROOT + "/%",
    )


def _dlo(pair: SimPair, node: str) -> list[tuple[Any, ...]]:
    return pair.query(
        node,
        "SELECT folder, name, obj_type, size_bytes, version, content_hash FROM dlo_objects"
        " WHERE folder = 'INVOICES' OR (folder = '' AND name = 'INVOICES') ORDER BY 1, 2",
    )


def test_refresh_of_an_active_group_is_refused(pair: SimPair) -> None:
    wait_group(pair, "GRP01", "*ACTIVE")
    refused = cl(pair, "primary", "ICLUSTER/DMSTRGRP GROUP(GRP01) REFRESH(*YES)", ok=False)
    assert refused.rc != 0 and "SIM1015" in refused.stderr, refused
    assert group_status(pair, "GRP01")["STATUS"] == "*ACTIVE"
    mixed = cl(
        pair, "primary", "ICLUSTER/DMSTRGRP GROUP(GRP01) REFRESH(*YES) USEMARKED(*YES)", ok=False
    )
    assert mixed.rc != 0 and "SIM1015" in mixed.stderr  # the state is checked first


def test_refresh_makes_backup_match_primary_while_the_application_runs(pair: SimPair) -> None:
    assert application_active(pair)
    for group in GROUPS:
        cl(pair, "primary", f"ICLUSTER/DMENDGRP GROUP({group}) OPTION(*CNTRLD) DELAY(30)")
    for group in GROUPS:
        wait_group(pair, group, "*INACTIVE")
    # BACKUP diverges the ways a resync has to repair: a library cleared, an IFS file and a
    # document missing, an IFS file that PRIMARY never had, and the entries journaled while the
    # groups were ended (the application keeps running).
    cl(pair, "backup", "QSYS/CLRLIB LIB(APPLIB3)")
    pair.query(
        "backup",
        "DELETE FROM ifs_objects WHERE path = (SELECT max(path) FROM"
        " ifs_objects WHERE path LIKE %s)",
        IFS_ROOT + "/%",
    )
    pair.query(
        "backup",
        "INSERT INTO ifs_objects (path, obj_type, content_hash) VALUES (%s, '*STMF', %s)",
        IFS_ROOT + "/stale.csv",
        "0" * 64,
    )
    pair.query(
        "backup",
        "DELETE FROM dlo_objects WHERE folder = 'INVOICES' AND obj_type = '*DOC'"
        " AND name = (SELECT min(name) FROM dlo_objects WHERE folder = 'INVOICES')",
    )
    assert _ifs(pair, "primary") != _ifs(pair, "backup")
    assert not in_sync(pair, "APPLIB3")

    since = now(pair)
    started = {group: _journal_end(pair, group) for group in GROUPS}
    for group in GROUPS:
        # As the DAG sends it: one batch job per group.
        cl(
            pair,
            "primary",
            f"QSYS/SBMJOB CMD(ICLUSTER/DMSTRGRP GROUP({group}) REFRESH(*YES) STRAPY(*YES))"
            f" JOB(RF{group}) LOG(4 00 *SECLVL) LOGCLPGM(*YES)",
        )
    # A second refresh of a group already refreshing is refused.
    again = cl(pair, "primary", "ICLUSTER/DMSTRGRP GROUP(GRP01) REFRESH(*YES)", ok=False)
    assert "SIM1015" in again.stderr, again
    for group in GROUPS:
        done = wait_event(pair, group, since, {"SIM1108", "SIM1109"})
        assert done["MESSAGE_ID"] == "SIM1108", done
        # The application wrote while the refresh copied (APPSBS locks APPLIB1 and APPLIB2).
        assert _journal_end(pair, group) > started[group], group
    assert application_active(pair)
    for group in GROUPS:
        wait_group(pair, group, "*ACTIVE")
        wait_latency_resolved(pair, group)
        assert sync_check(pair, group) == 0, group
    quiesce(pair)  # nothing in transit: compare the nodes themselves
    try:
        for libraries in GROUPS.values():
            for library in libraries:
                assert in_sync(pair, library), library
        assert _ifs(pair, "primary") == _ifs(pair, "backup")
        assert _dlo(pair, "primary") == _dlo(pair, "backup")
        events = sql(
            pair,
            "primary",
            "SELECT MESSAGE_ID FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ?"
            " AND MESSAGE_TIMESTAMP >= ? ORDER BY MESSAGE_TIMESTAMP",
            "GRP01",
            since,
        )
        ids = [row["MESSAGE_ID"] for row in events]
        assert ids.index("SIM1108") < ids.index("SIM1101"), ids
    finally:
        restart_application(pair)
