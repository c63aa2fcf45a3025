"""SSH and SFTP server of one node (asyncssh), with IBM i exec and path semantics.

Exec (ibmi.md §2): the command line goes to ``/bin/sh -c`` with the node's ``system`` first on
PATH, exactly as the IBM i SSH daemon hands it to a PASE shell. SFTP (§6): ``/QSYS.LIB/L.LIB/
F.FILE`` is the bytes of save file F, readable and writable once CRTSAVF made it (method A; a put
to a save file that does not exist is refused, the pre-create rule of §6 and gap 8 [G]); names
under /QSYS.LIB are case-insensitive; other paths are a scratch tree; nothing escapes the root.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import posixpath
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import asyncssh

from ibmi_sim import faults
from ibmi_sim.bridge import shell_environment
from ibmi_sim.commands import refresh_savf_object
from ibmi_sim.messages import render

if TYPE_CHECKING:
    from ibmi_sim.node import Node

QSYS = b"QSYS.LIB"


def ensure_key(path: Path, algorithm: str) -> asyncssh.SSHKey:
    """Load the key at ``path``, generating it once (host keys must persist, issue 3 item 2)."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key(algorithm)
    fmt = "pkcs1-pem" if algorithm == "ssh-rsa" else "openssh"
    key.write_private_key(str(path), fmt)
    path.chmod(0o600)
    key.write_public_key(str(path) + ".pub")
    return key


class _Server(asyncssh.SSHServer):
    """Password and public-key authentication of the one automation user."""

    def __init__(self, node: Node, client_key: asyncssh.SSHKey) -> None:
        self.node = node
        self.client_key = client_key

    def _user_ok(self, username: str) -> bool:
        return username.lower() == self.node.cfg.ssh_user.lower()

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._expired = False

    async def begin_auth(self, username: str) -> bool:
        # Fault password_expired (issue 3 item 10) [G]: password and key sign-on both fail;
        # the reason, naming the profile, goes to the client as the auth banner (SIM2001).
        if await faults.peek(self.node, "password_expired"):
            self._expired = True
            self._conn.send_auth_banner("SIM2001: " + render("SIM2001", username.upper()) + "\n")
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = self._user_ok(username) and password == self.node.cfg.ssh_password
        return ok and not self._expired

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        ok = self._user_ok(username) and key.public_data == self.client_key.public_data
        return ok and not self._expired


class QsysSFTPServer(asyncssh.SFTPServer):
    """SFTP over the node's root, mapping /QSYS.LIB names to upper case."""

    def __init__(self, chan: asyncssh.SSHServerChannel, node: Node) -> None:
        self._node = node
        self._root = os.fsencode(node.root)
        self._written: dict[int, tuple[str, str]] = {}
        user = str(chan.get_extra_info("username") or node.cfg.ssh_user).lower()
        self._home = b"/home/" + os.fsencode(user)  # relative paths start here [I]
        self._channel = chan
        super().__init__(chan, chroot=self._root)

    def exit(self) -> None:
        """The session ended: exit status 0, as OpenSSH's sftp-server gives (a client such as
        ``scp -3`` fails a transfer whose session ends without one)."""
        super().exit()
        with contextlib.suppress(OSError, asyncssh.Error):
            self._channel.exit(0)

    def map_path(self, path: bytes) -> bytes:
        normal = posixpath.normpath(posixpath.join(self._home, path)).lstrip(b"/")
        parts = [p for p in normal.split(b"/") if p]
        if parts and parts[0].upper() == QSYS:
            parts = [p.upper() for p in parts]
        return posixpath.join(self._root, *parts) if parts else self._root

    def _in_qsys(self, local: bytes) -> bool:
        qsys = posixpath.join(self._root, QSYS)
        return local == qsys or local.startswith(qsys + b"/")

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        local = self.map_path(path)
        if self._in_qsys(local):
            if not local.endswith(b".FILE") or not os.path.isfile(local):
                raise asyncssh.SFTPNoSuchFile("Save file not found (create it with CRTSAVF)")
            if pflags & asyncssh.FXF_EXCL:
                raise asyncssh.SFTPFileAlreadyExists("File exists")
        file_obj = _rebuffered(super().open(path, pflags, attrs))
        if self._in_qsys(local) and pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND):
            lib_dir, file_name = local.split(b"/")[-2:]
            self._written[id(file_obj)] = (
                os.fsdecode(lib_dir).removesuffix(".LIB"),
                os.fsdecode(file_name).removesuffix(".FILE"),
            )
        return file_obj

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        """As asyncssh reads, without a seek when the client reads on in order."""
        assert isinstance(file_obj, io.BufferedIOBase)
        if file_obj.tell() != offset:
            file_obj.seek(offset)
        return file_obj.read(size)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        """As asyncssh writes, without a seek when the client writes on in order (a seek
        flushes the buffer)."""
        assert isinstance(file_obj, io.BufferedIOBase)
        if file_obj.tell() != offset:
            file_obj.seek(offset)
        return file_obj.write(data)

    async def close(self, file_obj: object) -> None:
        """Close; a written save file gets its object size and hash refreshed in the DB."""
        super().close(file_obj)
        target = self._written.pop(id(file_obj), None)
        if target is not None:
            # Fault corrupt_transfer (issue 3 item 10): one byte flipped in transit.
            if await faults.take(self._node, "corrupt_transfer", "/".join(target)):
                await asyncio.to_thread(faults.corrupt_file, self._node.savf_path(*target))
            await refresh_savf_object(self._node, *target)

    def _refuse_in_qsys(self, *paths: bytes) -> None:
        if any(self._in_qsys(self.map_path(p)) for p in paths):
            raise asyncssh.SFTPPermissionDenied("Operation not allowed in /QSYS.LIB")

    def remove(self, path: bytes) -> Any:
        self._refuse_in_qsys(path)
        return super().remove(path)

    def rename(self, oldpath: bytes, newpath: bytes) -> Any:
        self._refuse_in_qsys(oldpath, newpath)
        return super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
        self._refuse_in_qsys(oldpath, newpath)
        return super().posix_rename(oldpath, newpath)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> Any:
        self._refuse_in_qsys(path)
        return super().mkdir(path, attrs)

    def rmdir(self, path: bytes) -> Any:
        self._refuse_in_qsys(path)
        return super().rmdir(path)

    def symlink(self, oldpath: bytes, newpath: bytes) -> Any:
        raise asyncssh.SFTPPermissionDenied("Symbolic links are not allowed")

    def link(self, oldpath: bytes, newpath: bytes) -> Any:
        raise asyncssh.SFTPPermissionDenied("Links are not allowed")


_SFTP_BUFFER: Final = 1 << 20  # bytes; SFTP moves save files in order, 32-256 KiB a request


def _rebuffered(raw: io.RawIOBase) -> io.BufferedIOBase:
    """The same open file with a 1 MiB buffer (asyncssh opens it unbuffered, so each 32 KiB
    SFTP request is a system call or two): SFTP throughput on loopback is bounded by this one
    process (issue 3, Performance)."""
    if raw.readable() and raw.writable():
        return io.BufferedRandom(raw, _SFTP_BUFFER)
    if raw.writable():
        return io.BufferedWriter(raw, _SFTP_BUFFER)
    return io.BufferedReader(raw, _SFTP_BUFFER)


async def _pump(source: asyncio.StreamReader, sink: Any) -> None:
    while chunk := await source.read(65536):
        sink.write(chunk)


async def _feed_stdin(process: asyncssh.SSHServerProcess, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await process.stdin.read(65536):
            sink.write(chunk)
            await sink.drain()
    except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
        pass
    except (ConnectionError, BrokenPipeError):
        return
    with contextlib.suppress(ConnectionError, BrokenPipeError, OSError):
        sink.close()


async def handle_exec(node: Node, process: asyncssh.SSHServerProcess) -> None:
    """Run the client's command line with ``/bin/sh -c`` and relay streams and exit status."""
    line = process.command
    if line is None:
        process.stderr.write(b"Interactive shells are not supported by the simulator.\n")
        process.exit(1)
        return
    user = process.get_extra_info("username") or node.cfg.ssh_user
    env = shell_environment(node, user)
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        line,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=env["HOME"],
        start_new_session=True,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    drop = await faults.take(node, "drop_ssh")
    if drop is not None:
        await _drop_channel(process, proc, drop.seconds)
        return
    late = await faults.take_matching(node, "answer_late", line)
    feeder = asyncio.ensure_future(_feed_stdin(process, proc.stdin))
    finished = asyncio.ensure_future(_relay(proc, process))
    dropped = asyncio.ensure_future(process.wait_closed())
    try:
        await asyncio.wait({finished, dropped}, return_when=asyncio.FIRST_COMPLETED)
        if not finished.done():
            # The client went away mid-command: hang up the shell's process group, as sshd
            # does (SIGHUP). [I] A CL job already handed to the node runs to its end.
            _signal_group(proc.pid, signal.SIGHUP)
            await asyncio.wait({finished}, timeout=5)
            if not finished.done():
                _signal_group(proc.pid, signal.SIGKILL)
            return
        status = finished.result()
        if late is not None:
            # Fault answer_late: the command has run (its job is on the node), but the exit
            # status comes `seconds` later, or never if the client goes away meanwhile.
            await asyncio.wait({dropped}, timeout=faults.delay_of(late))
            if dropped.done():
                return
    except asyncio.CancelledError:
        _signal_group(proc.pid, signal.SIGKILL)
        raise
    finally:
        for task in (feeder, dropped, finished):
            task.cancel()
    # A shell killed by a signal reports 128+n, as sshd shows it to the client [I].
    process.exit(status if status >= 0 else 128 - status)


async def _drop_channel(
    process: asyncssh.SSHServerProcess, proc: asyncio.subprocess.Process, seconds: float | None
) -> None:
    """Fault drop_ssh: the command runs; the channel closes without output or exit status
    after ``seconds`` (default 0.5 s real) or when the command ends, whichever is first [G].
    The shell is left to finish (a CL job handed to the node runs to its end)."""
    assert proc.stdin and proc.stdout and proc.stderr
    with contextlib.suppress(ConnectionError, BrokenPipeError, OSError):
        proc.stdin.close()
    drain = asyncio.ensure_future(
        asyncio.gather(proc.stdout.read(), proc.stderr.read(), proc.wait())
    )
    await asyncio.wait({drain}, timeout=0.5 if seconds is None else seconds)
    process.channel.close()
    if not drain.done():
        await asyncio.wait({drain}, timeout=600)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _relay(proc: asyncio.subprocess.Process, process: asyncssh.SSHServerProcess) -> int:
    """Copy the shell's stdout/stderr to the channel until both end; return its status."""
    assert proc.stdout and proc.stderr
    with contextlib.suppress(ConnectionError, asyncssh.Error):
        await asyncio.gather(_pump(proc.stdout, process.stdout), _pump(proc.stderr, process.stderr))
    return await proc.wait()


async def start_ssh_server(
    node: Node, host: str, port: int, host_key: asyncssh.SSHKey, client_key: asyncssh.SSHKey
) -> asyncssh.SSHAcceptor:
    """Listen on ``host:port`` (0 picks a free port; read it from the acceptor)."""

    async def process_factory(process: asyncssh.SSHServerProcess) -> None:
        await handle_exec(node, process)

    def sftp_factory(chan: asyncssh.SSHServerChannel) -> QsysSFTPServer:
        return QsysSFTPServer(chan, node)

    return await asyncssh.create_server(
        lambda: _Server(node, client_key),
        host,
        port,
        server_host_keys=[host_key],
        process_factory=process_factory,
        sftp_factory=sftp_factory,
        allow_scp=False,
        encoding=None,
        keepalive_interval=30,
        **(_FAST_TRANSPORT if os.environ.get(ALL_CIPHERS_ENV) != "1" else {}),
    )


# SFTP throughput (issue 3 Performance, 200 MB/s on loopback): the pair serves every byte from
# one Python process, so the per-packet cost decides. Profiled during paramiko put/get: the
# HMAC of the *-ctr ciphers (a new hmac object per packet, hmac-sha2-256 being paramiko's and
# the client's first choice) cost more than the encryption itself. Offering only AEAD ciphers
# (AES-GCM first: one AES-NI call per packet, no separate MAC) makes every client that supports
# them (paramiko >= 2.?, asyncssh, OpenSSH) choose one. A larger window and packet size let a
# client keep more in flight. chacha20-poly1305 is not offered: OpenSSH's client asks for it
# first, and asyncssh builds a cipher object per packet for it (profiled with OpenSSH's sftp
# pulling 400 MiB: 80 MB/s, half of the server's time in chacha20/poly1305 set-up). [I] A real
# IBM i sshd (OpenSSH) offers *-ctr and chacha20 too: set IBMI_SIM_ALL_CIPHERS=1 to offer
# asyncssh's full default list.
ALL_CIPHERS_ENV = "IBMI_SIM_ALL_CIPHERS"
_FAST_TRANSPORT: dict[str, Any] = {
    "encryption_algs": ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"],
    "window": 8 * 1024 * 1024,
    "max_pktsize": 256 * 1024,
}
