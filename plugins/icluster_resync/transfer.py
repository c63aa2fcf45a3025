"""Move a save file PRIMARY -> BACKUP over two SFTP sessions, streamed through the worker.

The bytes pass through a fixed number of fixed-size chunks: nothing is written to the worker's
disk and the worker's memory does not grow with the file (issue 7: a 2 GiB save file, < 64 MiB
of growth). Method A of ibmi.md §6: the target save file exists (CRTSAVF ran before this step)
and the bytes are written to its /QSYS.LIB path; both ends are checksummed by the next steps.

Why the provider's asyncssh hook (SFTPHookAsync) and not the paramiko one: a relay is two
streams that must both be kept full. asyncssh keeps many SFTP requests in flight per read and
per write, and the next chunk is read while the last one is written; paramiko relayed at
0.30x of OpenSSH's ``scp -3`` in the transfer benchmark (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio

from airflow.providers.sftp.hooks.sftp import SFTPHook, SFTPHookAsync

from ibmi_resync.plan import Plan
from icluster_resync.transport import HostKeyNotVerified

CHUNK = 8 * 1024 * 1024  # bytes per read and write; two chunks are in the worker at most


def _verified(ssh_conn_id: str) -> str:
    """The connection id, once its extras are known to keep host-key checking on."""
    hook = SFTPHook(ssh_conn_id=ssh_conn_id)
    if hook.no_host_key_check or hook.allow_host_key_change:
        raise HostKeyNotVerified(f"connection {ssh_conn_id!r} disables host-key checking")
    return ssh_conn_id


class SftpSaveFileMover:
    """`SaveFileMover` for the executor, over the plan's two SSH connections."""

    def __init__(self, plan: Plan, *, chunk_size: int = CHUNK) -> None:
        self.connections = {"PRIMARY": plan.primary.ssh_conn_id, "BACKUP": plan.backup.ssh_conn_id}
        self.chunk_size = chunk_size

    def __call__(self, source: str, target: str, path: str) -> int:
        reader = SFTPHookAsync(sftp_conn_id=_verified(self.connections[source]))
        writer = SFTPHookAsync(sftp_conn_id=_verified(self.connections[target]))
        return asyncio.run(self._relay(reader, writer, path))

    async def _relay(self, reader: SFTPHookAsync, writer: SFTPHookAsync, path: str) -> int:
        async with (
            reader.get_managed_conn() as source_sftp,
            writer.get_managed_conn() as target_sftp,
            source_sftp.open(path, "rb") as incoming,
            target_sftp.open(path, "wb") as outgoing,
        ):
            offset = 0
            writing: asyncio.Future[int] | None = None
            try:
                while True:
                    chunk = await incoming.read(self.chunk_size, offset)
                    if writing is not None:
                        await writing  # the chunk before this one is on the target
                    if not chunk:
                        return offset
                    writing = asyncio.ensure_future(outgoing.write(chunk, offset))
                    offset += len(chunk)
            finally:
                if writing is not None and not writing.done():
                    writing.cancel()  # a failed read: the file is moved again as a whole
