"""Run the PRIMARY/BACKUP pair in one asyncio process and publish how to reach it.

Why one process: both nodes share one event loop, so a later session can inject faults and
compute critical paths across the pair without inter-process plumbing. The outside world only
sees two SSH ports, two databases and ``<state>/connections.json`` (schema in
:func:`connection_info`), which the lead turns into Airflow connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncssh

from ibmi_sim import faults, icluster
from ibmi_sim.airflow_conns import AIRFLOW_CONNECTIONS_FILE, airflow_connections
from ibmi_sim.bridge import SystemBridge, write_scripts
from ibmi_sim.config import NODE_KEYS, SimConfig
from ibmi_sim.node import Node
from ibmi_sim.odbc import DEFAULT_DRIVER, connection_string, psqlodbc_options
from ibmi_sim.sql_endpoint import NodeSqlEndpoint
from ibmi_sim.sshd import ensure_key, start_ssh_server

log = logging.getLogger(__name__)

CONNECTIONS_FILE = "connections.json"
PID_FILE = "sim.pid"
CONFIG_COPY = "config.json"
SCHEMA_VERSION = 1


class Pair:
    """Both nodes with their SSH servers and ``system`` bridges."""

    def __init__(self, cfg: SimConfig, state_dir: Path) -> None:
        self.cfg = cfg
        self.state_dir = state_dir
        self.nodes = {key: Node(cfg, key, state_dir) for key in NODE_KEYS}
        self._acceptors: dict[str, asyncssh.SSHAcceptor] = {}
        self._bridges: dict[str, SystemBridge] = {}
        self.ports: dict[str, int] = {}
        self.host_keys: dict[str, asyncssh.SSHKey] = {}
        self.client_key_path = state_dir / "keys" / "client_key"
        self.sql: dict[str, NodeSqlEndpoint] = {}  # the SQL front per node (issue 3 item 5)
        self._client_key: asyncssh.SSHKey | None = None
        self._fault_watch: asyncio.Task[Any] | None = None  # ibmi_sim.faults.watch

    async def start(self, *, reset: bool) -> None:
        """Open databases, write scripts, start bridges and SSH servers, publish connections."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Ed25519, as the README advises for a real pair: paramiko loads the key at every
        # connection, and an RSA key's load (validated each time) costs ~45 ms of CPU.
        client_key = ensure_key(self.client_key_path, "ssh-ed25519")
        for key, node in self.nodes.items():
            await node.open(reset=reset)
            write_scripts(node.bin_dir)
            bridge = SystemBridge(node)
            await bridge.start()
            self._bridges[key] = bridge
            host_key = ensure_key(self.state_dir / "keys" / f"{key}_host_key", "ssh-ed25519")
            self.host_keys[key] = host_key
            node_cfg = self.cfg.nodes[key]
            acceptor = await start_ssh_server(
                node, node_cfg.host, node_cfg.ssh_port, host_key, client_key
            )
            self._acceptors[key] = acceptor
            self.ports[key] = acceptor.sockets[0].getsockname()[1]
            endpoint = NodeSqlEndpoint(node, host=node_cfg.host, port=node_cfg.sql_port)
            await endpoint.start()
            self.sql[key] = endpoint
        primary, backup = self.nodes["primary"], self.nodes["backup"]
        primary.peer, backup.peer = backup, primary
        for node in self.nodes.values():
            icluster.start(node)  # journal, workload, apply (issue 3 items 7, 8)
        self._client_key = client_key
        self._fault_watch = faults.start(self)  # state faults (issue 3 item 10)
        (self.state_dir / CONFIG_COPY).write_text(self.cfg.model_dump_json(indent=2))
        self._write_known_hosts()
        info = self.connection_info()
        tmp = self.state_dir / (CONNECTIONS_FILE + ".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        os.replace(tmp, self.state_dir / CONNECTIONS_FILE)
        airflow = self.state_dir / AIRFLOW_CONNECTIONS_FILE
        airflow.with_suffix(".tmp").write_text(json.dumps(airflow_connections(info), indent=2))
        os.replace(airflow.with_suffix(".tmp"), airflow)

    async def set_reachable(self, key: str, reachable: bool) -> None:
        """Fault "node unreachable" (issue 3 item 10): the node's SSH port and SQL front refuse
        new connections (open SQL connections are dropped); True serves again on the same ports.
        """
        acceptor = self._acceptors.get(key)
        if not reachable and acceptor is not None:
            acceptor.close()
            await acceptor.wait_closed()
            del self._acceptors[key]
        elif reachable and acceptor is None and self._client_key is not None:
            node_cfg = self.cfg.nodes[key]  # type: ignore[index]
            self._acceptors[key] = await start_ssh_server(
                self.nodes[key],
                node_cfg.host,
                self.ports[key],
                self.host_keys[key],
                self._client_key,
            )
        await self.sql[key].set_reachable(reachable)

    def _host_key_line(self, key: str) -> str:
        return self.host_keys[key].export_public_key("openssh").decode().strip()

    def _known_hosts_line(self, key: str) -> str:
        host = self.cfg.nodes[key].host  # type: ignore[index]
        return f"[{host}]:{self.ports[key]} {self._host_key_line(key)}"

    def _write_known_hosts(self) -> None:
        lines = [self._known_hosts_line(key) for key in self.nodes]
        (self.state_dir / "known_hosts").write_text("\n".join(lines) + "\n")

    def connection_info(self) -> dict[str, Any]:
        """The ``connections.json`` document (schema version 1).

        ``{"version", "pid", "state_dir", "known_hosts_path", "nodes": {"primary"|"backup":
        {"system_name", "role", "host", "ssh_port", "user", "password", "private_key_path",
        "public_key_path", "host_key", "known_hosts_line", "database", "database_url",
        "sql_host", "sql_port", "odbc_login", "odbc_password", "odbc_driver", "odbc_options",
        "odbc_connection_string"}}}`` (the ``sql_*``/``odbc_*`` keys were added to version 1:
        additions only, so the version stays). ``airflow-connections.json`` next to it holds
        the same as Airflow connections (:mod:`ibmi_sim.airflow_conns`).
        ``host_key`` is ``"ssh-ed25519 AAAA..."`` (Airflow SSH extra ``host_key`` takes it).
        """
        nodes: dict[str, Any] = {}
        for key, node in self.nodes.items():
            node_cfg = self.cfg.nodes[key]  # type: ignore[index]
            nodes[key] = {
                "system_name": node_cfg.system_name,
                "role": node_cfg.role,
                "host": node_cfg.host,
                "ssh_port": self.ports[key],
                "user": self.cfg.ssh_user,
                "password": self.cfg.ssh_password,
                "private_key_path": str(self.client_key_path),
                "public_key_path": str(self.client_key_path) + ".pub",
                "host_key": self._host_key_line(key),
                "known_hosts_line": self._known_hosts_line(key),
                "database": node_cfg.database,
                "database_url": node.database_url,
                **self._sql_info(key),
            }
        return {
            "version": SCHEMA_VERSION,
            "pid": os.getpid(),
            "state_dir": str(self.state_dir),
            "known_hosts_path": str(self.state_dir / "known_hosts"),
            "nodes": nodes,
        }

    def _sql_info(self, key: str) -> dict[str, Any]:
        """The SQL front of node ``key`` as connections.json describes it."""
        node_cfg = self.cfg.nodes[key]  # type: ignore[index]
        server = urlsplit(self.cfg.server_url)
        login, password = server.username or "postgres", server.password or ""
        port = self.sql[key].port
        return {
            "sql_host": node_cfg.host,
            "sql_port": port,
            "odbc_login": login,
            "odbc_password": password,
            "odbc_driver": DEFAULT_DRIVER,
            "odbc_options": psqlodbc_options(),
            "odbc_connection_string": connection_string(
                port, node_cfg.database, host=node_cfg.host, user=login, password=password
            ),
        }

    async def stop(self) -> None:
        """Stop servers and bridges, close nodes, withdraw connections.json."""
        await faults.stop(self._fault_watch)  # first: it could reopen a port
        self._fault_watch = None
        for endpoint in self.sql.values():
            await endpoint.stop()
        for acceptor in self._acceptors.values():
            acceptor.close()
        for acceptor in self._acceptors.values():
            await acceptor.wait_closed()
        for bridge in self._bridges.values():
            await bridge.stop()
        for node in self.nodes.values():
            await node.close()
        (self.state_dir / CONNECTIONS_FILE).unlink(missing_ok=True)
        (self.state_dir / AIRFLOW_CONNECTIONS_FILE).unlink(missing_ok=True)


async def serve(cfg: SimConfig, state_dir: Path, *, reset: bool) -> None:
    """Run the pair until SIGTERM or SIGINT."""
    pair = Pair(cfg, state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await pair.start(reset=reset)
        log.info("pair up: ports %s", pair.ports)
        await stop.wait()
    finally:
        await pair.stop()
