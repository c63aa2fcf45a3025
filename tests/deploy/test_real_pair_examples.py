"""config/real-pair/: the example plan and connections for two real IBM i nodes stay valid."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ibmi_resync.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config" / "real-pair"


def test_the_example_plan_loads_with_a_complete_site_profile(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "plan.example.yaml").read_text())
    assert data["site_profile"] == "site-profile.yaml"  # the site's own, next to the plan
    data["site_profile"] = str(ROOT / "config" / "site-profiles" / "simulator.yaml")
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(data))
    plan = load_plan(plan_file)
    assert plan.approvals_required is True
    assert [g.name for g in plan.groups if g.system] == ["SYSTEM"]


def test_the_example_connections_match_the_plan_and_keep_host_keys_checked() -> None:
    plan = yaml.safe_load((EXAMPLES / "plan.example.yaml").read_text())
    connections = json.loads((EXAMPLES / "connections.example.json").read_text())
    ids = {
        plan[node][kind]
        for node in ("primary", "backup")
        for kind in ("ssh_conn_id", "odbc_conn_id")
    }
    assert set(connections) == ids
    for conn in connections.values():
        extra = conn["extra"]
        if conn["conn_type"] == "ssh":
            assert extra["no_host_key_check"] is False
            assert extra["host_key"].startswith("ssh-")
            assert extra["key_file"] and "password" not in conn
        else:
            # IBM i Access: the host keyword is SYSTEM (Airflow's Host would become SERVER=),
            # and Airflow's Schema would become DATABASE= (the RDB name): both left out.
            assert conn["conn_type"] == "odbc"
            assert extra["driver"] == "IBM i Access ODBC Driver"
            assert extra["SYSTEM"] and not conn.get("host") and not conn.get("schema")
            assert extra["connect_kwargs"]["autocommit"] is True
