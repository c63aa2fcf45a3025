"""The operator of the network-sync DAG: the resync operator on another program.

Why a subclass and not a new executor: the network sync (icluster.md §9) is the same kind of
work as the save/restore resync (CL over SSH, SQL over ODBC, deferred waits, guards, batch
jobs with deterministic names), only a different ordered program
(`ibmi_resync.program.network_sync_program`). Everything else (deferral, failure messages for
the report, what earlier tasks learned, dry run) is `ResyncTaskOperator`'s.
"""

from __future__ import annotations

from ibmi_resync.program import network_sync_program
from icluster_resync.operators import ResyncTaskOperator


class NetworkSyncTaskOperator(ResyncTaskOperator):
    """Run the network-sync program steps of `resync_task` (a key of ibmi_resync.tasks.TASKS:
    the network sync reuses the resync's phases and task slices)."""

    ui_color = "#dcefe2"
    program = staticmethod(network_sync_program)
