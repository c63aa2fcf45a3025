"""The network-sync DAG end to end (issue 8 item 5): `dag.test` against a simulated pair.

One group (ORDERS: two libraries and an IFS path) is made to differ on BACKUP, then synced
over the network with the applications running; the assertions read the simulator's own
records: the pair object for object, the command logs, the invariants (nothing destructive
on PRIMARY), and the report the DAG wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ibmi_sim.invariants import check_invariants
from ibmi_sim.testing import SimPair, unique_tag
from tests.e2e.conftest import ROOT, running_pair
from tests.e2e.test_resync_e2e import _commands, _in_sync, _last_id, _report, _states, _verb
from tests.sim.icluster_steps import poll

pytestmark = pytest.mark.integration

ORDERS = ["ORDLIB", "ORDHIST"]
IFS = "/home/orders/exports"


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    """A pair of its own: BACKUP is made to differ on purpose below."""
    with running_pair(tmp_path_factory.mktemp("netsync_sim_state"), unique_tag("n")) as pair:
        yield pair


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(tmp_path / "reports"))
    return tmp_path / "reports"


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags["icluster_network_sync"]


def _ifs(pair: SimPair, node: str) -> list[tuple]:
    return pair.query(
        node,
        "SELECT path, obj_type, size_bytes, version, content_hash FROM ifs_objects"
        " WHERE path LIKE %s ORDER BY path",
        IFS + "/%",
    )


def _app_status(pair: SimPair) -> str:
    return str(pair.query("primary", "SELECT status FROM subsystems WHERE name = 'APPSBS'")[0][0])


def _quiesced_in_sync(pair: SimPair) -> tuple[dict, bool]:
    """End the application, let the apply drain, compare the nodes, start it again."""
    assert pair.system("primary", "QSYS/ENDSBS SBS(APPSBS) OPTION(*IMMED)").rc == 0
    try:
        poll(lambda: _app_status(pair) == "INACTIVE", timeout=60)
        poll(
            lambda: pair.query(
                "primary",
                "SELECT last_sequence = applied_sequence FROM icluster_groups"
                " WHERE group_name = 'ORDERS'",
            )[0][0],
            timeout=60,
        )
        return _in_sync(pair, ORDERS), _ifs(pair, "primary") == _ifs(pair, "backup")
    finally:
        assert pair.system("primary", "QSYS/STRSBS SBSD(APPLIB/APPSBS)").rc == 0


def test_a_network_sync_of_one_group_leaves_it_in_sync(demo_pair: SimPair, reports: Path) -> None:
    # BACKUP differs: a library cleared, an IFS file gone (as after a lost replication).
    assert demo_pair.system("backup", "QSYS/CLRLIB LIB(ORDHIST)").rc == 0
    demo_pair.query(
        "backup",
        "DELETE FROM ifs_objects WHERE path = (SELECT max(path) FROM ifs_objects"
        " WHERE path LIKE %s AND obj_type = '*STMF')",
        IFS + "/%",
    )
    assert _in_sync(demo_pair, ["ORDHIST"]) != {}
    since = datetime.now(UTC)
    before = {key: _last_id(demo_pair, key) for key in ("primary", "backup")}

    run = _dag().test(run_conf={"groups": ["ORDERS"]})
    states = _states(run)
    failed = sorted(f"{t}[{i}]" for (t, i), s in states.items() if s == "failed")
    assert str(run.state) == "success", failed
    assert sorted(i for (t, i) in states if t == "network_sync.start_with_refresh") == [0]

    report = _report(reports, run.run_id)
    assert report["status"] == "OK", report["reasons"]
    assert report["dag_id"] == "icluster_network_sync"
    (group,) = report["groups"]
    assert group["group"] == "ORDERS" and "Refresh of group ORDERS complete" in group["refresh"]
    assert [(c["phase"], c["differences"]) for c in group["sync_checks"]] == [(11, 0)]
    assert report["outage"]["seconds"] is None  # the applications never stopped

    primary = [c[1] for c in _commands(demo_pair, "primary", before["primary"])]
    refreshes = [c for c in primary if _verb(c) == "SBMJOB" and "REFRESH(*YES)" in c]
    assert len(refreshes) == 1 and "DMSTRGRP GROUP(ORDERS)" in refreshes[0], primary
    assert not {_verb(c) for c in primary} & {"ENDSBS", "SAVLIB", "SAV", "STRSBS"}
    backup = [c[1] for c in _commands(demo_pair, "backup", before["backup"])]
    assert {_verb(c) for c in backup} <= {"CHKOBJ"}  # BACKUP is only read
    assert not [c for c in primary + backup if "BILLING" in c or "SYSTEM" in c]
    assert check_invariants(demo_pair, since=since) == []

    libraries, ifs_same = _quiesced_in_sync(demo_pair)
    assert libraries == {} and ifs_same


def test_a_dry_run_sends_only_reads(demo_pair: SimPair, reports: Path) -> None:
    before = {key: _last_id(demo_pair, key) for key in ("primary", "backup")}
    run = _dag().test(run_conf={"groups": ["ORDERS"], "dry_run": True})
    assert str(run.state) == "success"
    for key in ("primary", "backup"):
        sent = [_verb(c[1]) for c in _commands(demo_pair, key, before[key])]
        assert sent == ["CHKOBJ"], (key, sent)


def test_no_group_chosen_is_refused_before_any_node_is_touched(
    demo_pair: SimPair, reports: Path
) -> None:
    before = {key: _last_id(demo_pair, key) for key in ("primary", "backup")}
    run = _dag().test(run_conf={"groups": []})
    assert str(run.state) == "failed"
    assert _states(run)[("select_groups", -1)] == "failed"
    assert all(_last_id(demo_pair, key) == before[key] for key in before)
