"""Move a save file PRIMARY -> BACKUP over two SFTP sessions, streamed through the worker.

The bytes pass through a fixed number of fixed-size blocks: nothing is written to the worker's
disk and the worker's memory does not grow with the file (issue 7: a 2 GiB save file, < 64 MiB
of growth). Method A of ibmi.md §6: the target save file exists (CRTSAVF ran before this step)
and the bytes are written to its /QSYS.LIB path; both ends are checksummed by the next steps.

Why the provider's asyncssh hook (SFTPHookAsync) and not the paramiko one: a relay is two
streams that must both be kept full. asyncssh keeps many SFTP requests in flight per read and
per write, and the relay keeps blocks in flight on both connections; paramiko relayed at
0.30x of OpenSSH's ``scp -3`` in the transfer benchmark (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio

from airflow.providers.sftp.hooks.sftp import SFTPHook, SFTPHookAsync

from ibmi_resync.plan import Plan
from icluster_resync.transport import HostKeyNotVerified

# Bytes per read and write (asyncssh splits what a server limits into parallel requests of its
# own) and blocks being read or written at once: at most 4 MiB of the file in the worker. Fewer,
# larger blocks cost the worker less CPU per byte: relaying 1 GiB in the transfer benchmark's
# set-up (2026-12-03, alternated runs) took 6.2-6.3 s and 3.9-4.0 s of the worker's CPU at
# 512 KiB x 8, against 7.2 s and 5.3-5.9 s at 256 KiB x 32; on 2 cores that CPU is taken from
# the SFTP servers.
BLOCK = 512 * 1024
IN_FLIGHT = 8


def _verified(ssh_conn_id: str) -> str:
    """The connection id, once its extras are known to keep host-key checking on."""
    hook = SFTPHook(ssh_conn_id=ssh_conn_id)
    if hook.no_host_key_check or hook.allow_host_key_change:
        raise HostKeyNotVerified(f"connection {ssh_conn_id!r} disables host-key checking")
    return ssh_conn_id


class SftpSaveFileMover:
    """`SaveFileMover` for the executor, over the plan's two SSH connections."""

    def __init__(self, plan: Plan, *, block_size: int = BLOCK, in_flight: int = IN_FLIGHT) -> None:
        self.connections = {"PRIMARY": plan.primary.ssh_conn_id, "BACKUP": plan.backup.ssh_conn_id}
        self.block_size = block_size
        self.in_flight = in_flight

    def __call__(self, source: str, target: str, path: str) -> int:
        reader = SFTPHookAsync(sftp_conn_id=_verified(self.connections[source]))
        writer = SFTPHookAsync(sftp_conn_id=_verified(self.connections[target]))
        return asyncio.run(self._relay(reader, writer, path))

    async def _relay(self, reader: SFTPHookAsync, writer: SFTPHookAsync, path: str) -> int:
        """`in_flight` copiers take the file's blocks in order, each reading one block from the
        source and writing it at the same offset on the target, so both connections always
        have requests outstanding (what OpenSSH's ``scp -3`` and asyncssh's own copier do)."""
        async with (
            reader.get_managed_conn() as source_sftp,
            writer.get_managed_conn() as target_sftp,
            source_sftp.open(path, "rb") as incoming,
            target_sftp.open(path, "wb") as outgoing,
        ):
            size = (await incoming.stat()).size or 0
            offsets = iter(range(0, size, self.block_size))

            async def copier() -> int:
                moved = 0
                for offset in offsets:  # shared: each copier takes the next block
                    wanted = min(self.block_size, size - offset)
                    block = await incoming.read(wanted, offset)
                    while 0 < len(block) < wanted:  # a server may answer a read in part
                        more = await incoming.read(wanted - len(block), offset + len(block))
                        if not more:
                            break
                        block += more
                    if len(block) != wanted:
                        raise OSError(f"{path}: {wanted - len(block)} bytes at {offset} unread")
                    await outgoing.write(block, offset)
                    moved += len(block)
                return moved

            # A failed read or write cancels the other copiers; the step moves the file again.
            async with asyncio.TaskGroup() as copiers:
                tasks = [copiers.create_task(copier()) for _ in range(self.in_flight)]
            return sum(task.result() for task in tasks)
