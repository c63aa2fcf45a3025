"""Rocket iCluster commands (library ICLUSTER): cluster, nodes, groups, marks, sync checks.

The state and the background work are in :mod:`ibmi_sim.icluster`; here the commands check
their preconditions, send their completion (or escape) to the job log and start that work.
Group commands act on the group's primary node (PRIMARY), wherever they run [G].
Parameters: :data:`ibmi_sim.cl_specs.ICLUSTER_SPECS`; message ids: messages.py (synthetic).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ibmi_sim import icluster, refresh
from ibmi_sim.cl_parser import CLCommand
from ibmi_sim.commands._base import handler, pause
from ibmi_sim.icluster import ACTIVE, ENDING, INACTIVE, PRODUCT_SUBSYSTEM, STARTING
from ibmi_sim.jobs import Escape, Job

if TYPE_CHECKING:
    from ibmi_sim.node import Node


async def _group(node: Node, cmd: CLCommand) -> tuple[Node, str, str]:
    """(primary node, group, status) of GROUP(); SIM1010 when no such group."""
    primary = icluster.primary_of(node)
    group = cmd.text("GROUP") or ""
    if group == "*ALL":
        raise Escape("SIM0001", f"{cmd.name} GROUP(*ALL)")
    row = await icluster.group_row(primary, group)
    if row is None:
        raise Escape("SIM1010", group)
    return primary, group, str(row["status"])


async def _require_nodes(node: Node) -> None:
    down = await icluster.inactive_node(node)
    if down is not None:
        raise Escape("SIM1013", down)


def _node_name(node: Node, cmd: CLCommand) -> tuple[str, Node]:
    name = cmd.text("NODE") or ""
    name = node.system_name if name == "*CURRENT" else name
    target = icluster.node_by_name(node, name)
    if target is None:
        raise Escape("SIM1307", name)
    return name, target


# --- cluster and nodes (icluster.md §3.3, §5) ---------------------------------------------------


@handler("DMSTRCST")
async def dmstrcst(node: Node, job: Job, cmd: CLCommand) -> None:
    """Start XDMCLUSTER here if needed, then the nodes; waits for them (icluster.md §3.3 [V]).

    [G] A node whose XDMCLUSTER is not active is not started (diagnostic SIM1303, no escape);
    auto-start groups are not modelled.
    """
    # [G] An XDMCLUSTER still ending is waited for (STRSBS of an ending subsystem fails).
    while (
        await node.pool.fetchval("SELECT status FROM subsystems WHERE name = $1", PRODUCT_SUBSYSTEM)
        == "ENDING"
    ):
        await asyncio.sleep(node.cfg.replication.tick_s)
    if not await icluster.subsystem_active(node):
        await node.set_subsystem_status(PRODUCT_SUBSYSTEM, "ACTIVE")
    await pause(node, node.cfg.icluster.node_start_s)
    # icluster.md §3.3 [V]: the metadata-owning node (here PRIMARY [G]), this node, the others.
    order = [icluster.primary_of(node), node, node.peer]
    for target in [t for i, t in enumerate(order) if t is not None and t not in order[:i]]:
        status = await node.pool.fetchval(
            "SELECT status FROM icluster_nodes WHERE node = $1", target.system_name
        )
        if status == ACTIVE:
            continue
        if not await icluster.subsystem_active(target):
            await job.send("SIM1303", target.system_name)
            continue
        await icluster.set_node_status(node, target.system_name, ACTIVE)
        await icluster.event(node, "SIM1301", target.system_name)
    await job.send("SIM1310", node.system_name)


@handler("DMENDCST")
async def dmendcst(node: Node, job: Job, cmd: CLCommand) -> None:
    """End this node (ENDNODES(*YES/*ALL): every node) and, with ENDSBS(*YES), XDMCLUSTER [G]."""
    ends = cmd.text("ENDNODES", "*CURRENT")
    targets = [node] if ends in ("*CURRENT", "*NO") else [node, node.peer]
    await pause(node, node.cfg.icluster.node_start_s)
    for target in targets:
        if target is not None:
            await icluster.set_node_status(node, target.system_name, INACTIVE)
            await icluster.event(node, "SIM1302", target.system_name)
    if cmd.text("ENDSBS", "*NO") == "*YES" and await icluster.subsystem_active(node):
        await node.set_subsystem_status(PRODUCT_SUBSYSTEM, "INACTIVE")
    await job.send("SIM1311", node.system_name)


@handler("DMSTRNODE")
async def dmstrnode(node: Node, job: Job, cmd: CLCommand) -> None:
    """Start cluster operations at a node; *ACTIVE after ``node_start_s`` [G].

    The node's XDMCLUSTER must be active (DMCHATL listens there, icluster.md §1 [V]): else
    diagnostic SIM1303 and escape SIM1013 [G].
    """
    name, target = _node_name(node, cmd)
    if not await icluster.subsystem_active(target):
        raise Escape("SIM1013", name, diagnostics=[("SIM1303", (name,))])
    node.spawn(_finish_node(node, name, ACTIVE))
    await job.send("SIM1305", name)


@handler("DMENDNODE")
async def dmendnode(node: Node, job: Job, cmd: CLCommand) -> None:
    """End cluster operations at a node; *INACTIVE after ``node_start_s`` [G]."""
    name, _target = _node_name(node, cmd)
    node.spawn(_finish_node(node, name, INACTIVE))
    await job.send("SIM1306", name)


async def _finish_node(node: Node, name: str, status: str) -> None:
    await pause(node, node.cfg.icluster.node_start_s)
    await icluster.set_node_status(node, name, status)
    await icluster.event(node, "SIM1301" if status == ACTIVE else "SIM1302", name)


# --- groups (icluster.md §2, §3) --------------------------------------------------------------


@handler("DMENDGRP")
async def dmendgrp(node: Node, job: Job, cmd: CLCommand) -> None:
    """*ENDING now, *INACTIVE later (*CNTRLD: apply drains for up to DELAY) [G]; SIM1012 unless
    the group is *ACTIVE or *STARTING."""
    primary, group, status = await _group(node, cmd)
    if status not in (ACTIVE, STARTING):
        raise Escape("SIM1012", group, status)
    state = icluster.state_of(primary)
    controlled = cmd.text("OPTION", "*CNTRLD") == "*CNTRLD"
    delay = cmd.text("DELAY")
    delay_s = float(delay) if delay and delay.isdigit() else 60.0  # DMENDCST default [V]
    await icluster.update_group(primary, group, status=ENDING)
    state.enders[group] = primary.spawn(icluster.finish_end(primary, group, controlled, delay_s))
    await job.send("SIM1106", group)


@handler("DMMRKPOS")
async def dmmrkpos(node: Node, job: Job, cmd: CLCommand) -> None:
    """Mark the group's journal positions: returns at once; SIM1001 in the event log later.

    The group must be *INACTIVE (icluster.md §2 [I]): else SIM1006. The time grows with the
    group's objects, data and locks held by active jobs (config ``icluster``) [G].
    """
    primary, group, status = await _group(node, cmd)
    state = icluster.state_of(primary)
    if status != INACTIVE:
        raise Escape("SIM1006", group, status)
    running = state.marks.get(group)
    if running is not None and not running.done():
        raise Escape("SIM1006", group, "marking")
    seconds = await icluster.mark_duration(primary, group)
    state.marks[group] = primary.spawn(icluster.run_mark(primary, group, seconds))
    await job.send("SIM1005", group)


@handler("DMSTRGRP")
async def dmstrgrp(node: Node, job: Job, cmd: CLCommand) -> None:
    """*STARTING now, *ACTIVE after ``group_start_s``, SIM1101 in the event log [G].

    USEMARKED(*YES) starts at the marked position (SIM1014 if none); otherwise at the current
    end of the journal, so entries written since the group ended are never applied [G].
    STRAPY(*NO) sends but does not apply. Both nodes must be *ACTIVE (SIM1013).
    REFRESH(*YES) copies the group's objects to BACKUP first (ibmi_sim.refresh).
    """
    primary, group, status = await _group(node, cmd)
    refresh = cmd.text("REFRESH", "*NO") == "*YES"
    if status != INACTIVE:
        raise Escape("SIM1015" if refresh else "SIM1011", group, status)
    await _require_nodes(primary)
    row = await icluster.group_row(primary, group)
    assert row is not None
    if refresh:
        await _start_with_refresh(primary, job, cmd, group)
        return
    if cmd.text("USEMARKED", "*NO") == "*YES":
        if row["marked_sequence"] is None:
            raise Escape("SIM1014", group)
        position = int(row["marked_sequence"])
    else:
        position = int(row["last_sequence"])
    receiver = icluster.receiver_name(group, position, primary.cfg.replication.receiver_entries)
    async with icluster.state_of(primary).lock(group):
        await icluster.update_group(
            primary,
            group,
            status=STARTING,
            sent_sequence=position,
            applied_sequence=position,
            apply_enabled=cmd.text("STRAPY", "*YES") != "*NO",
        )
    primary.spawn(icluster.finish_start(primary, group, receiver, position))
    await job.send("SIM1105", group)


async def _start_with_refresh(primary: Node, job: Job, cmd: CLCommand, group: str) -> None:
    """DMSTRGRP REFRESH(*YES) (icluster.md §3.1, §9 [I/G]): *STARTING now, the copy in the
    background, SIM1108 then *ACTIVE in the event log (ibmi_sim.refresh). A refresh starts
    from its own copy, so a marked position is meaningless with it: SIM1016 [G]."""
    if cmd.text("USEMARKED", "*NO") == "*YES":
        raise Escape("SIM1016")
    state = icluster.state_of(primary)
    running = state.refreshes.get(group)
    if running is not None and not running.done():
        raise Escape("SIM1015", group, "refreshing")
    await icluster.update_group(primary, group, status=STARTING)
    apply_enabled = cmd.text("STRAPY", "*YES") != "*NO"
    state.refreshes[group] = primary.spawn(
        refresh.run_refresh(primary, group, apply_enabled=apply_enabled)
    )
    await job.send("SIM1107", group)


# --- sync checks (icluster.md §4) ---------------------------------------------------------------


@handler("DMSTRSC")
async def dmstrsc(node: Node, job: Job, cmd: CLCommand) -> None:
    """Submit a sync check: SIM1205 now, SIM1201 (or SIM1202) in the event log later.

    One sync check per group at a time, a continuous one included (icluster.md §4.1 [V]):
    SIM1203. SCTYPE defaults to *FULL [V]; REPAIR(*AUTH) copies private authorities [G];
    *CBU, *CRD, *JRN are accepted and do nothing [G]; ACTOOS(*YES) refreshes out-of-sync
    objects on BACKUP [G].
    """
    primary, group, _status = await _group(node, cmd)
    row = await icluster.group_row(primary, group)
    assert row is not None
    if row["sync_check_active"] or row["continuous_sync_check"]:
        raise Escape("SIM1203", group)
    sctype = cmd.text("SCTYPE", "*FULL") or "*FULL"
    repair = cmd.texts("REPAIR")
    activate = cmd.text("ACTOOS", "*NO") == "*YES"
    await icluster.update_group(primary, group, sync_check_active=True)
    state = icluster.state_of(primary)
    state.sync_checks[group] = primary.spawn(
        icluster.run_sync_check(primary, group, sctype, repair, activate)
    )
    await job.send("SIM1205", group, sctype)


@handler("ENDHASC")
async def endhasc(node: Node, job: Job, cmd: CLCommand) -> None:
    """End the group's sync check, continuous or not (icluster.md §4.1 [V]); SIM1204 if none."""
    primary, group, _status = await _group(node, cmd)
    row = await icluster.group_row(primary, group)
    assert row is not None
    task = icluster.state_of(primary).sync_checks.get(group)
    running = task is not None and not task.done()
    if not (row["continuous_sync_check"] or running):
        raise Escape("SIM1204", group)
    if running and task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await icluster.update_group(
        primary, group, continuous_sync_check=False, sync_check_active=False
    )
    await job.send("SIM1206", group)


@handler("STRCNSC")
async def strcnsc(node: Node, job: Job, cmd: CLCommand) -> None:
    """Start a continuous sync check (icluster.md §4.1 [V]); SIM1203 when one runs.

    [G] It only holds the group's sync-check slot (CONTINUOUS_SYNC_CHECK = Y); it compares
    nothing and writes nothing.
    """
    primary, group, _status = await _group(node, cmd)
    row = await icluster.group_row(primary, group)
    assert row is not None
    if row["sync_check_active"] or row["continuous_sync_check"]:
        raise Escape("SIM1203", group)
    await icluster.update_group(primary, group, continuous_sync_check=True)
    await job.send("SIM1207", group)
