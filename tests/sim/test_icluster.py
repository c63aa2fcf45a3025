"""Rocket iCluster on the simulated pair: the product's contract, marks, groups, sync checks.

The contract is the site profile (config/site-profiles/simulator.yaml): CL qualified with
ICLUSTER through PASE `system`, the ICSIM views through each node's SQL front, synthetic
message ids SIM1001/1002/1101/1201/1202 with the two text patterns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ibmi_sim.config import ICluster
from ibmi_sim.icluster import mark_seconds, receiver_name
from ibmi_sim.testing import SimPair
from tests.sim.icluster_steps import (
    GROUPS,
    MARKED,
    application_active,
    cl,
    group_status,
    last_sync_detail,
    latency,
    now,
    poll,
    quiesce,
    restart_application,
    sql,
    sync_check,
    wait_event,
    wait_group,
    wait_latency_resolved,
    wait_subsystem,
)

# --- the contract, on the session pair ---------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "name", "role"), [("primary", "SIMPRIM", "PRIMARY"), ("backup", "SIMBACK", "BACKUP")]
)
def test_local_node_and_product_library_on_both_nodes(
    sim_pair: SimPair, node: str, name: str, role: str
) -> None:
    assert sql(sim_pair, node, "SELECT NODE, ROLE FROM ICSIM.LOCAL_NODE") == [
        {"NODE": name, "ROLE": role}
    ]
    assert cl(sim_pair, node, "QSYS/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)").stdout == ""
    rows = sql(
        sim_pair,
        node,
        "SELECT STATUS, CURRENT_ACTIVE_JOBS FROM QSYS2.SUBSYSTEM_INFO"
        " WHERE SUBSYSTEM_DESCRIPTION_LIBRARY = ? AND SUBSYSTEM_DESCRIPTION = ?",
        "ICLUSTER",
        "XDMCLUSTER",
    )
    assert rows[0]["STATUS"] == "ACTIVE"


@pytest.mark.parametrize("node", ["primary", "backup"])
def test_views_of_the_site_profile_on_both_nodes(sim_pair: SimPair, node: str) -> None:
    nodes = sql(
        sim_pair, node, "SELECT NODE, STATUS FROM ICSIM.NODE_STATUS WHERE NODE = ?", "SIMBACK"
    )
    assert nodes == [{"NODE": "SIMBACK", "STATUS": "*ACTIVE"}]
    poll(lambda: group_status(sim_pair, "GRP01", node)["STATUS"] == "*ACTIVE")
    status = group_status(sim_pair, "GRP02", node)
    assert status["SYNC_CHECK_ACTIVE"] in ("Y", "N")
    assert status["CONTINUOUS_SYNC_CHECK"] in ("Y", "N")
    rows = sql(
        sim_pair,
        node,
        "SELECT GROUP_NAME, SOURCE_LATENCY_SECONDS, APPLY_LATENCY_SECONDS, BACKLOG_ENTRIES,"
        " LAST_APPLIED_SEQUENCE FROM ICSIM.GROUP_LATENCY WHERE GROUP_NAME = ?",
        "GRP01",
    )
    assert len(rows) == 1 and rows[0]["BACKLOG_ENTRIES"] >= 0
    events = sql(
        sim_pair,
        node,
        "SELECT MESSAGE_TIMESTAMP, NODE, GROUP_NAME, MESSAGE_ID, SEVERITY, MESSAGE_TEXT"
        " FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND MESSAGE_TIMESTAMP >= ?"
        " ORDER BY MESSAGE_TIMESTAMP",
        "GRP01",
        now(sim_pair),
    )
    assert isinstance(events, list)


@pytest.mark.parametrize(
    ("command", "stderr"),
    [
        (
            "QSYS/DMMRKPOS GROUP(GRP01)",
            "CPD0030: Command DMMRKPOS in library QSYS not found.\n"
            "CPF0001: Error found on DMMRKPOS command.\n",
        ),
        (
            "DMSTRCST",
            "CPD0030: Command DMSTRCST in library *LIBL not found.\n"
            "CPF0001: Error found on DMSTRCST command.\n",
        ),
        (
            "ICLUSTER/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)",
            "CPD0030: Command CHKOBJ in library ICLUSTER not found.\n"
            "CPF0001: Error found on CHKOBJ command.\n",
        ),
        (
            "ICLUSTER/DMMRKPOS GROUP(GRP01) JRN(X)",
            "CPD0043: Keyword JRN not valid for this command.\n"
            "CPF0001: Error found on DMMRKPOS command.\n",
        ),
        (
            "ICLUSTER/DMSTRSC GROUP(GRP01) SCTYPE(*BOGUS)",
            "CPD0086: Value '*BOGUS' for parameter SCTYPE not valid.\n"
            "CPF0001: Error found on DMSTRSC command.\n",
        ),
        ("ICLUSTER/DMMRKPOS GROUP(NOGROUP)", "SIM1010: Replication group NOGROUP not found.\n"),
        (
            "ICLUSTER/DMMRKPOS GROUP(GRP02)",
            "SIM1006: Group GRP02 is *ACTIVE; end it before marking positions.\n",
        ),
        ("ICLUSTER/DMSTRNODE NODE(NONODE)", "SIM1307: Node NONODE not found in the cluster.\n"),
        ("ICLUSTER/ENDHASC GROUP(GRP02)", "SIM1204: No sync check is running for group GRP02.\n"),
        (
            "ICLUSTER/DMSTRGRP GROUP(GRP02)",
            "SIM1011: Group GRP02 is *ACTIVE; it cannot be started.\n",
        ),
    ],
)
def test_refused_commands(sim_pair: SimPair, command: str, stderr: str) -> None:
    poll(lambda: group_status(sim_pair, "GRP02")["STATUS"] == "*ACTIVE")
    result = cl(sim_pair, "primary", command, ok=False)
    assert (result.rc, result.stdout, result.stderr) == (255, "", stderr)


def test_one_sync_check_per_group(sim_pair: SimPair) -> None:
    """A continuous sync check holds the slot until ENDHASC (icluster.md §4.1 [V])."""
    assert cl(sim_pair, "primary", "ICLUSTER/STRCNSC GROUP(GRP02)").stdout == (
        "SIM1207: Continuous sync check for group GRP02 started.\n"
    )
    assert group_status(sim_pair, "GRP02")["CONTINUOUS_SYNC_CHECK"] == "Y"
    refused = cl(sim_pair, "primary", "ICLUSTER/DMSTRSC GROUP(GRP02) SCTYPE(*OBJATTR)", ok=False)
    assert refused.stderr == "SIM1203: A sync check is already running for group GRP02.\n"
    cl(sim_pair, "primary", "ICLUSTER/ENDHASC GROUP(GRP02)")
    assert group_status(sim_pair, "GRP02")["CONTINUOUS_SYNC_CHECK"] == "N"
    since = now(sim_pair)
    first = cl(sim_pair, "primary", "ICLUSTER/DMSTRSC GROUP(GRP02) SCTYPE(*OBJATTR)")
    assert first.stdout == "SIM1205: Sync check *OBJATTR for group GRP02 submitted.\n"
    done = wait_event(sim_pair, "GRP02", since, {"SIM1201", "SIM1202"})
    assert (done["MESSAGE_ID"], done["SEVERITY"], done["NODE"]) == ("SIM1201", 0, "SIMPRIM")
    assert "0 objects out of sync" in done["MESSAGE_TEXT"]
    poll(lambda: group_status(sim_pair, "GRP02")["SYNC_CHECK_ACTIVE"] == "N")


def test_dmstrcst_on_backup_starts_the_subsystem_and_nodes(sim_pair: SimPair) -> None:
    result = cl(sim_pair, "backup", "ICLUSTER/DMSTRCST")
    assert result.stdout == "SIM1310: iCluster processes started on SIMBACK.\n"
    result = cl(sim_pair, "primary", "ICLUSTER/DMSTRNODE NODE(SIMBACK)")
    assert result.stdout == "SIM1305: Start of node SIMBACK submitted.\n"


# --- pure figures ------------------------------------------------------------------------------


def test_mark_duration_grows_with_size_and_locks() -> None:
    ic = ICluster()
    small = mark_seconds(ic, objects=10, data_bytes=10_000_000, locks=0)
    assert mark_seconds(ic, objects=100, data_bytes=10_000_000, locks=0) > small
    assert mark_seconds(ic, objects=10, data_bytes=10_000_000_000, locks=0) > small
    assert mark_seconds(ic, objects=10, data_bytes=10_000_000, locks=3) > small + 5


def test_receiver_names_are_ibm_names() -> None:
    assert receiver_name("ORDERS", 1, 10_000) == "ORDERSR001"
    assert receiver_name("BILLING", 10_001, 10_000) == "BILLINR002"
    assert MARKED.search(f"receiver {receiver_name('GRP01', 5, 100)} sequence 5")


# --- replication, on a throw-away pair with a running application ------------------------------


@pytest.fixture(scope="module")
def module_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    from tests.sim.icluster_steps import throwaway_pair

    with throwaway_pair(tmp_path_factory.mktemp("icluster_pair")) as running:
        yield running


@pytest.fixture
def pair(module_pair: SimPair) -> Iterator[SimPair]:
    """The module's pair, with the application running again after each test, so that one
    failing test (which stops before its own restart) does not fail the ones after it."""
    yield module_pair
    if not application_active(module_pair):
        restart_application(module_pair)


def _end_and_mark(pair: SimPair, group: str) -> int:
    cl(pair, "primary", f"ICLUSTER/DMENDGRP GROUP({group}) OPTION(*CNTRLD) DELAY(120)")
    assert group_status(pair, group)["STATUS"] in ("*ENDING", "*INACTIVE")
    wait_group(pair, group, "*INACTIVE")
    since = now(pair)
    assert cl(pair, "primary", f"ICLUSTER/DMMRKPOS GROUP({group})").stdout == (
        f"SIM1005: Mark positions for group {group} submitted.\n"
    )
    done = wait_event(pair, group, since, {"SIM1001", "SIM1002"})
    assert done["MESSAGE_ID"] == "SIM1001"
    match = MARKED.search(done["MESSAGE_TEXT"])
    assert match is not None
    return int(match.group("sequence"))


def test_workload_is_applied_while_the_group_is_active(pair: SimPair) -> None:
    first = int(latency(pair, "GRP01")["LAST_APPLIED_SEQUENCE"])
    poll(lambda: int(latency(pair, "GRP01")["LAST_APPLIED_SEQUENCE"]) > first + 20)
    wait_latency_resolved(pair, "GRP01")


def test_backlog_rises_while_ended_and_falls_after_start_at_the_mark(pair: SimPair) -> None:
    # Runbook order: the application ends before the mark (changes between the end of the
    # group and the mark would be in no save and after no mark), and runs again afterwards.
    quiesce(pair)
    mark = _end_and_mark(pair, "GRP01")
    restart_application(pair)
    before = latency(pair, "GRP01")
    poll(lambda: int(latency(pair, "GRP01")["BACKLOG_ENTRIES"]) > 50)
    stuck = latency(pair, "GRP01")
    assert stuck["LAST_APPLIED_SEQUENCE"] == before["LAST_APPLIED_SEQUENCE"]  # nothing applied
    assert float(stuck["SOURCE_LATENCY_SECONDS"]) > 0
    time.sleep(0.3)
    assert float(latency(pair, "GRP01")["SOURCE_LATENCY_SECONDS"]) > float(
        stuck["SOURCE_LATENCY_SECONDS"]
    )
    since = now(pair)
    cl(pair, "primary", "ICLUSTER/DMSTRGRP GROUP(GRP01) STRAPY(*YES) USEMARKED(*YES)")
    assert group_status(pair, "GRP01")["STATUS"] in ("*STARTING", "*ACTIVE")
    wait_group(pair, "GRP01", "*ACTIVE")
    started = wait_event(pair, "GRP01", since, {"SIM1101"})
    assert started["MESSAGE_TEXT"].endswith(f"sequence {mark}.")
    wait_latency_resolved(pair, "GRP01")
    assert int(latency(pair, "GRP01")["LAST_APPLIED_SEQUENCE"]) > mark
    quiesce(pair)
    assert sync_check(pair, "GRP01") == 0  # nothing lost: the entries after the mark applied
    restart_application(pair)


def test_start_without_usemarked_loses_entries(pair: SimPair) -> None:
    quiesce(pair)
    mark = _end_and_mark(pair, "GRP01")
    restart_application(pair)
    poll(lambda: int(latency(pair, "GRP01")["BACKLOG_ENTRIES"]) > 30)
    cl(pair, "primary", "ICLUSTER/DMSTRGRP GROUP(GRP01) STRAPY(*YES)")
    wait_group(pair, "GRP01", "*ACTIVE")
    assert int(latency(pair, "GRP01")["LAST_APPLIED_SEQUENCE"]) > mark + 30
    quiesce(pair)
    lost = sync_check(pair, "GRP01")
    assert lost > 0
    # ACTOOS(*YES) sends PRIMARY's version of each out-of-sync object: in sync again.
    assert sync_check(pair, "GRP01", "ACTOOS(*YES)") == lost
    assert sync_check(pair, "GRP01") == 0
    restart_application(pair)


def test_apply_suspended_keeps_last_applied_fixed(pair: SimPair) -> None:
    quiesce(pair)
    _end_and_mark(pair, "GRP01")
    restart_application(pair)
    cl(pair, "primary", "ICLUSTER/DMSTRGRP GROUP(GRP01) STRAPY(*NO) USEMARKED(*YES)")
    wait_group(pair, "GRP01", "*ACTIVE")
    fixed = latency(pair, "GRP01")["LAST_APPLIED_SEQUENCE"]
    poll(lambda: int(latency(pair, "GRP01")["BACKLOG_ENTRIES"]) > 30)
    assert latency(pair, "GRP01")["LAST_APPLIED_SEQUENCE"] == fixed
    cl(pair, "primary", "ICLUSTER/DMENDGRP GROUP(GRP01) OPTION(*IMMED)")
    wait_group(pair, "GRP01", "*INACTIVE")
    cl(pair, "primary", "ICLUSTER/DMSTRGRP GROUP(GRP01) USEMARKED(*YES)")
    wait_group(pair, "GRP01", "*ACTIVE")
    wait_latency_resolved(pair, "GRP01")
    quiesce(pair)
    assert sync_check(pair, "GRP01") == 0, last_sync_detail(pair, "GRP01")
    restart_application(pair)


def test_sync_check_repairs_private_authorities(pair: SimPair) -> None:
    quiesce(pair)
    with pair.db("primary") as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO authorities VALUES ('APPLIB3', 'P00001', '*PGM', 'APPUSER', '*USE')"
            " ON CONFLICT DO NOTHING"
        )
    assert sync_check(pair, "GRP02") == 0  # REPAIR(*AUTH): repaired, not out of sync
    assert pair.query(
        "backup",
        "SELECT authority FROM authorities WHERE library = 'APPLIB3'"
        " AND object_name = 'P00001' AND user_profile = 'APPUSER'",
    ) == [("*USE",)]
    restart_application(pair)


def test_mark_and_sync_check_need_the_backup_node(pair: SimPair) -> None:
    cl(pair, "backup", "QSYS/ENDSBS SBS(XDMCLUSTER) OPTION(*IMMED)")
    poll(
        lambda: (
            sql(pair, "primary", "SELECT STATUS FROM ICSIM.NODE_STATUS WHERE NODE = ?", "SIMBACK")[
                0
            ]["STATUS"]
            == "*INACTIVE"
        )
    )
    since = now(pair)
    cl(pair, "primary", "ICLUSTER/DMSTRSC GROUP(GRP02) SCTYPE(*OBJATTR)")
    failed = wait_event(pair, "GRP02", since, {"SIM1201", "SIM1202"})
    assert failed["MESSAGE_ID"] == "SIM1202" and failed["SEVERITY"] == 40
    wait_subsystem(pair, "backup", "XDMCLUSTER", "INACTIVE")
    cl(pair, "backup", "ICLUSTER/DMSTRCST")
    poll(
        lambda: (
            sql(pair, "primary", "SELECT STATUS FROM ICSIM.NODE_STATUS WHERE NODE = ?", "SIMBACK")[
                0
            ]["STATUS"]
            == "*ACTIVE"
        )
    )


def test_second_sync_check_is_refused_while_one_runs(pair: SimPair) -> None:
    since = now(pair)
    cl(pair, "primary", "ICLUSTER/DMSTRSC GROUP(GRP02) SCTYPE(*OBJATTR)")
    assert group_status(pair, "GRP02")["SYNC_CHECK_ACTIVE"] == "Y"
    again = cl(pair, "primary", "ICLUSTER/DMSTRSC GROUP(GRP02)", ok=False)
    assert (again.rc, again.stderr) == (
        255,
        "SIM1203: A sync check is already running for group GRP02.\n",
    )
    assert wait_event(pair, "GRP02", since, {"SIM1201", "SIM1202"})["MESSAGE_ID"] == "SIM1201"
    poll(lambda: group_status(pair, "GRP02")["SYNC_CHECK_ACTIVE"] == "N")


def test_sync_check_covers_the_groups_ifs_and_dlo_scope(pair: SimPair) -> None:
    quiesce(pair)
    change = (
        "UPDATE ifs_objects SET size_bytes = size_bytes + %s"
        " WHERE path = '/home/orders/exports/EXP00001.CSV'",
        "UPDATE dlo_objects SET owner = %s WHERE folder = 'INVOICES' AND name = 'D00001.PDF'",
    )
    pair.query("backup", change[0], 1)
    pair.query("backup", change[1], "QDFTOWN")
    assert sync_check(pair, "GRP01") == 1, last_sync_detail(pair, "GRP01")
    assert sync_check(pair, "GRP02") == 1, last_sync_detail(pair, "GRP02")
    pair.query("backup", change[0], -1)
    owner = pair.query(
        "primary", "SELECT owner FROM dlo_objects WHERE folder = 'INVOICES' AND name = 'D00001.PDF'"
    )[0][0]
    pair.query("backup", change[1], owner)
    assert sync_check(pair, "GRP01") == 0
    assert sync_check(pair, "GRP02") == 0
    restart_application(pair)


def test_stale_objects_seeded_on_backup_only() -> None:
    from ibmi_sim.config import LibrarySeed
    from ibmi_sim.seed import stale_objects

    rows = stale_objects(LibrarySeed(name="ORDLIB", stale_on_backup=2))
    assert [(r.library, r.name, r.obj_type) for r in rows] == [
        ("ORDLIB", "OLD00001", "*FILE"),
        ("ORDLIB", "OLD00002", "*FILE"),
    ]


def test_library_differences_wait_for_apply_and_keep_a_real_difference(pair: SimPair) -> None:
    # GRP02's libraries: the tests above lose entries of GRP01 on purpose, and an entry that
    # changed only an object's data stays lost (*OBJATTR compares no data, so no repair).
    libraries = GROUPS["GRP02"]
    # The workload changes APPLIB2 hundreds of times a second while this reads: once apply
    # has caught up with what PRIMARY journalled, the nodes read the same.
    for _ in range(5):
        assert pair.library_differences(libraries) == {}
    # A real difference (one object's data on BACKUP, as a lost entry leaves it) in each
    # library stays, with both nodes' objects and only that object differing, APPLIB2's
    # although the workload keeps changing its physical files while it is read again (the
    # object changed here is not one of them, so putting its data back puts the pair back).
    sql_get = (
        "SELECT name, content_hash FROM objects WHERE library = %s"
        " AND NOT (obj_type = '*FILE' AND attribute = 'PF') ORDER BY name LIMIT 1"
    )
    sql_set = "UPDATE objects SET content_hash = %s WHERE library = %s AND name = %s"
    changed = {library: pair.query("backup", sql_get, library)[0] for library in libraries}
    for library, (name, digest) in changed.items():
        pair.query("backup", sql_set, "0" * len(digest.strip()), library, name)
    try:
        differ = pair.library_differences(libraries, settle_s=1)
        assert sorted(differ) == sorted(libraries)
        for library, (primary, backup) in differ.items():
            names = [p[0] for p, b in zip(primary, backup, strict=True) if p != b]
            assert names == [changed[library][0]]
    finally:
        for library, (name, digest) in changed.items():
            pair.query("backup", sql_set, digest, library, name)
    assert pair.library_differences(libraries) == {}
