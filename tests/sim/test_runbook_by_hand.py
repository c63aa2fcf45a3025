"""The runbook typed by hand on a simulated pair (issue 3 "Done when").

runbook-icluster-sync-all-groups.txt, in order: end the application, end and mark each group,
save, restart the application, transport, clear and restore on BACKUP, start iCluster, start
the groups at the marked position, wait for latency, sync check. Done right, the sync check
finds nothing and the nodes match object for object; with the clear step skipped while BACKUP
holds objects PRIMARY does not have, the sync check reports them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ibmi_sim.testing import SimPair
from tests.sim.icluster_steps import (
    GROUPS,
    LIBRARIES,
    by_hand_runbook,
    cl,
    in_sync,
    latency,
    quiesce,
    restart_application,
    sync_check,
)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    from tests.sim.icluster_steps import throwaway_pair

    with throwaway_pair(tmp_path_factory.mktemp("runbook_pair")) as running:
        yield running


def test_runbook_by_hand_leaves_the_pair_in_sync(pair: SimPair) -> None:
    # BACKUP has drifted: an object PRIMARY does not have (CLRLIB removes it).
    cl(pair, "backup", "QSYS/CRTSAVF FILE(APPLIB2/OLDSAVF)")
    marks = by_hand_runbook(pair)
    # Entries journaled after the marks (the application ran again after the save) were applied.
    for group, (_receiver, sequence) in marks.items():
        assert int(latency(pair, group)["LAST_APPLIED_SEQUENCE"]) > sequence, group
    for group in GROUPS:
        assert sync_check(pair, group) == 0, group
    quiesce(pair)
    for lib in LIBRARIES:
        assert in_sync(pair, lib), lib
    for group in GROUPS:
        assert sync_check(pair, group) == 0, group
    restart_application(pair)


def test_runbook_without_the_clear_step_is_reported(pair: SimPair) -> None:
    cl(pair, "backup", "QSYS/CRTSAVF FILE(APPLIB2/OLDSAVF)")
    cl(pair, "backup", "QSYS/CRTSAVF FILE(APPLIB3/OLDSAVF2)")
    by_hand_runbook(pair, clear=False)
    assert sync_check(pair, "GRP01") == 0  # nothing stale in APPLIB1
    assert sync_check(pair, "GRP02") == 2  # the two objects only BACKUP has (reason OBS)
    quiesce(pair)
    assert in_sync(pair, "APPLIB1")
    assert not in_sync(pair, "APPLIB2")
    restart_application(pair)
