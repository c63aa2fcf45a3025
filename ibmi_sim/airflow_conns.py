"""Airflow connection definitions for a running pair, built from its ``connections.json``.

Why: the product reaches each node through four Airflow connections named in its plan
(``config/demo-plan.yaml``: ``ibmi_primary_ssh``, ``ibmi_backup_ssh``, ``ibmi_primary_odbc``,
``ibmi_backup_odbc``). ``python -m ibmi_sim up`` writes them to
``<state>/airflow-connections.json`` in the format ``airflow connections import`` reads (a dict
conn_id -> {conn_type, host, port, login, password, schema, extra}); :func:`airflow_env` gives
the same as ``AIRFLOW_CONN_<ID>`` JSON values for tests and ad-hoc runs. Nothing here imports
Airflow.

SSH: key authentication (``extra.key_file``, an Ed25519 key: README says why), host-key checking on
(``extra.host_key`` is the node's "ssh-ed25519 AAAA...", ``no_host_key_check`` false).
ODBC: psqlODBC to the node's SQL front (``host``/``port``), ``schema`` = the node database,
``extra.driver`` "PostgreSQL Unicode" (OdbcHook uses it only with
``[providers.odbc] allow_driver_in_extra``; pass ``driver=`` to the hook otherwise),
``extra.connect_kwargs`` {"autocommit": true}, plus :func:`ibmi_sim.odbc.psqlodbc_options`.
"""

from __future__ import annotations

import json
from typing import Any

from ibmi_sim.odbc import DEFAULT_DRIVER

__all__ = [
    "AIRFLOW_CONNECTIONS_FILE",
    "airflow_connections",
    "airflow_env",
    "odbc_conn_id",
    "ssh_conn_id",
]

AIRFLOW_CONNECTIONS_FILE = "airflow-connections.json"


def ssh_conn_id(node: str) -> str:
    """``ibmi_primary_ssh`` / ``ibmi_backup_ssh``."""
    return f"ibmi_{node}_ssh"


def odbc_conn_id(node: str) -> str:
    """``ibmi_primary_odbc`` / ``ibmi_backup_odbc``."""
    return f"ibmi_{node}_odbc"


def airflow_connections(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """conn_id -> connection dict (``airflow connections import`` format) for every node."""
    connections: dict[str, dict[str, Any]] = {}
    for key, node in info["nodes"].items():
        connections[ssh_conn_id(key)] = {
            "conn_type": "ssh",
            "description": f"ibmi_sim {node['role']} {node['system_name']} (SSH, SFTP)",
            "host": node["host"],
            "port": node["ssh_port"],
            "login": node["user"],
            "password": None,
            "extra": {
                "key_file": node["private_key_path"],
                "host_key": node["host_key"],
                "no_host_key_check": False,
            },
        }
        connections[odbc_conn_id(key)] = {
            "conn_type": "odbc",
            "description": f"ibmi_sim {node['role']} {node['system_name']} (SQL front)",
            "host": node["sql_host"],
            "port": node["sql_port"],
            "schema": node["database"],
            "login": node["odbc_login"],
            "password": node["odbc_password"] or None,
            "extra": {
                "driver": DEFAULT_DRIVER,
                "connect_kwargs": {"autocommit": True},
                **node["odbc_options"],
            },
        }
    return connections


def airflow_env(info: dict[str, Any]) -> dict[str, str]:
    """``AIRFLOW_CONN_<CONN_ID>`` -> JSON value, one per connection (tests, shells)."""
    return {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(
            {k: v for k, v in conn.items() if v is not None and k != "description"}
        )
        for conn_id, conn in airflow_connections(info).items()
    }
