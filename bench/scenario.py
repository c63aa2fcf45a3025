"""The simulated pair and the resync plan of a benchmark with N replication groups.

Why generated: issue 7 measures 5, 20, 50 and 200 groups; the pair and the plan must describe
the same groups, libraries, subsystem and profiles, so both come from one function. The shape
follows config/sim-pair.yaml and config/demo-plan.yaml (the demo's pair and plan): a SYSTEM
group (the security library), then groups G001... with ``libraries_per_group`` libraries each
(2 by default: 20 groups = 40 libraries), sizes varying from library to library, one
application job holding locks on the first group's first library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_SIM = ROOT / "config" / "sim-pair.yaml"
DEMO_PLAN = ROOT / "config" / "demo-plan.yaml"
SITE_PROFILE = ROOT / "config" / "site-profiles" / "simulator.yaml"
# Library sizes cycle through these (objects, nominal MB): a mix of small and large ones.
SIZES = ((12, 60), (40, 300), (25, 400), (30, 200), (8, 20))


def group_names(groups: int) -> list[str]:
    """SYSTEM first (runbook step 10), then G001, G002, ..."""
    return ["SYSTEM", *(f"G{g:03d}" for g in range(1, groups))]


def libraries_of(group: str, per_group: int) -> list[str]:
    base = "SECLIB" if group == "SYSTEM" else f"L{group[1:]}"
    return [f"{base}{chr(ord('A') + i)}" for i in range(per_group)]


def sim_config(
    groups: int,
    *,
    per_group: int = 2,
    time_scale: float = 0.05,
    database_prefix: str = "ibmi_bench",
) -> dict[str, Any]:
    """The pair's configuration (ibmi_sim.config.SimConfig as a dict)."""
    config = yaml.safe_load(DEMO_SIM.read_text())
    config["time_scale"] = time_scale
    config["nodes"]["primary"]["database"] = f"{database_prefix}_primary"
    config["nodes"]["backup"]["database"] = f"{database_prefix}_backup"
    libraries: list[dict[str, Any]] = []
    index = 0
    for group in group_names(groups):
        for library in libraries_of(group, per_group):
            objects, data_mb = SIZES[index % len(SIZES)]
            index += 1
            libraries.append(
                {
                    "name": library,
                    "objects": objects,
                    "data_mb": data_mb,
                    "owner": "APPOWNER",
                    "authorities": {"APPUSER": "*CHANGE"},
                }
            )
    libraries += [
        {"name": "APPLIB", "objects": 5, "data_mb": 5},
        {"name": "RSYNCSAVF", "objects": 0, "data_mb": 0},
        {"name": "QGPL", "objects": 0, "data_mb": 0},
    ]
    config["libraries"] = libraries
    first = libraries_of(group_names(groups)[min(1, groups - 1)], per_group)[0]
    for subsystem in config["subsystems"]:
        if subsystem["name"] == "APPSBS":
            subsystem["jobs"] = [{"name": "ORDENTRY", "user": "APPUSER", "locks": [first]}]
    for profile in config["user_profiles"]:
        if profile["name"] == "APPUSER":
            profile["library_authorities"] = {}
    config["ifs"] = []
    config["dlo_folders"] = []
    config["replication_groups"] = [
        {"name": g, "libraries": libraries_of(g, per_group)} for g in group_names(groups)
    ]
    return config


def plan(groups: int, *, per_group: int = 2) -> dict[str, Any]:
    """The resync plan for the same pair (config/demo-plan.yaml with the groups replaced)."""
    data = yaml.safe_load(DEMO_PLAN.read_text())
    data["name"] = f"bench-{groups}-groups"
    data["groups"] = [
        {"name": g, **({"system": True} if g == "SYSTEM" else {}), **{"libraries": libs}}
        for g in group_names(groups)
        for libs in [libraries_of(g, per_group)]
    ]
    data["site_profile"] = str(SITE_PROFILE)
    return data


def write(folder: Path, groups: int, **options: Any) -> tuple[Path, Path]:
    """Write ``sim-pair.yaml`` and ``plan.yaml`` for ``groups`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    per_group = int(options.pop("per_group", 2))
    sim_path, plan_path = folder / "sim-pair.yaml", folder / "plan.yaml"
    sim_path.write_text(yaml.safe_dump(sim_config(groups, per_group=per_group, **options)))
    plan_path.write_text(yaml.safe_dump(plan(groups, per_group=per_group), sort_keys=False))
    return sim_path, plan_path
