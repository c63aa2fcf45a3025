"""Move a save file PRIMARY -> BACKUP over two SFTP sessions, streamed through the worker.

The bytes pass through a fixed-size buffer: nothing is written to the worker's disk and the
worker's memory does not grow with the file (issue: a 2 GiB save file, < 64 MiB of growth).
Method A of ibmi.md §6: the target save file exists (CRTSAVF ran before this step) and the
bytes are written to its /QSYS.LIB path; both ends are checksummed by the next steps.
"""

from __future__ import annotations

from airflow.providers.sftp.hooks.sftp import SFTPHook

from ibmi_resync.plan import Plan
from icluster_resync.transport import HostKeyNotVerified

CHUNK = 1024 * 1024


def _hook(ssh_conn_id: str) -> SFTPHook:
    hook = SFTPHook(ssh_conn_id=ssh_conn_id)
    if hook.no_host_key_check or hook.allow_host_key_change:
        raise HostKeyNotVerified(f"connection {ssh_conn_id!r} disables host-key checking")
    return hook


class SftpSaveFileMover:
    """`SaveFileMover` for the executor, over the plan's two SSH connections."""

    def __init__(self, plan: Plan, *, chunk_size: int = CHUNK) -> None:
        self.connections = {"PRIMARY": plan.primary.ssh_conn_id, "BACKUP": plan.backup.ssh_conn_id}
        self.chunk_size = chunk_size

    def __call__(self, source: str, target: str, path: str) -> int:
        reader, writer = _hook(self.connections[source]), _hook(self.connections[target])
        moved = 0
        with (
            reader.get_managed_conn() as source_sftp,
            writer.get_managed_conn() as target_sftp,
            source_sftp.open(path, "rb") as incoming,
            target_sftp.open(path, "wb") as outgoing,
        ):
            incoming.prefetch()
            outgoing.set_pipelined(True)
            while chunk := incoming.read(self.chunk_size):
                outgoing.write(chunk)
                moved += len(chunk)
        return moved
