"""Shared helpers for the plan, site-profile, program and dry-run tests.

The committed demo plan and simulator profile are the base of every case: a test copies
their YAML data, changes one field and writes the result under `tmp_path`, so each failing
case differs from a known-good file by exactly the value under test.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from ibmi_resync.plan import Plan, load_plan
from ibmi_resync.program import Step
from ibmi_resync.site_profile import load_site_profile

ROOT = Path(__file__).resolve().parents[2]
DEMO_PLAN = ROOT / "config" / "demo-plan.yaml"
SIM_PROFILE = ROOT / "config" / "site-profiles" / "simulator.yaml"

PROFILE_RELATIVE = "site-profiles/site.yaml"
DELETE = object()  # `set_at(..., DELETE)` removes the key

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def demo_data() -> dict[str, Any]:
    """The demo plan as plain YAML data (site_profile is the relative path string)."""
    return yaml.safe_load(DEMO_PLAN.read_text(encoding="utf-8"))


def profile_data() -> dict[str, Any]:
    """The simulator site profile as plain YAML data."""
    return yaml.safe_load(SIM_PROFILE.read_text(encoding="utf-8"))


def _tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    for key, index in _TOKEN.findall(path):
        tokens.append(int(index) if index else key)
    return tokens


def set_at(data: Any, path: str, value: Any) -> Any:
    """Set (or with DELETE remove) `groups[1].libraries[0]`-style paths in nested data."""
    tokens = _tokens(path)
    cursor = data
    for token in tokens[:-1]:
        cursor = cursor[token]
    last = tokens[-1]
    if value is DELETE:
        del cursor[last]
    elif isinstance(cursor, list) and isinstance(last, int) and last == len(cursor):
        cursor.append(value)
    else:
        cursor[last] = value
    return data


def write_files(
    folder: Path,
    plan: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
) -> Path:
    """Write `plan.yaml` and `site-profiles/site.yaml` under `folder`; return the plan path.

    A plan whose `site_profile` is a string is pointed at the written profile, relative to
    the plan file, as the committed demo plan does.
    """
    plan = demo_data() if plan is None else plan
    profile = profile_data() if profile is None else profile
    (folder / "site-profiles").mkdir(parents=True, exist_ok=True)
    (folder / PROFILE_RELATIVE).write_text(yaml.safe_dump(profile, sort_keys=False), "utf-8")
    plan = copy.deepcopy(plan)
    if isinstance(plan.get("site_profile"), str):
        plan["site_profile"] = PROFILE_RELATIVE
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def build_plan(data: dict[str, Any] | None = None) -> Plan:
    """A Plan from YAML data, with the simulator profile loaded in memory (no files)."""
    data = copy.deepcopy(demo_data() if data is None else data)
    if isinstance(data.get("site_profile"), str):
        data["site_profile"] = load_site_profile(SIM_PROFILE)
    return Plan.model_validate(data)


def demo_plan() -> Plan:
    return load_plan(DEMO_PLAN)


# ---- reading steps -------------------------------------------------------------------------

_CL_HEAD = re.compile(r"(?:[A-Z0-9$#@_.]+/)?([A-Z][A-Z0-9]*)")
_SBMJOB_CMD = re.compile(r"CMD\((?:[A-Z0-9$#@_.]+/)?([A-Z][A-Z0-9]*)")


def command_of(step: Step) -> str | None:
    """The CL command a CL or SBMJOB step runs (`RSTLIB` for a submitted RSTLIB), else None.

    A checksum line (`sha256sum /QSYS.LIB/...`) is a CL-kind step but no CL command: it gives
    the program name in lower case, so it never matches a CL command name.
    """
    if step.kind == "SBMJOB":
        match = _SBMJOB_CMD.search(step.text)
        assert match, step.text
        return match.group(1)
    if step.kind == "CL":
        head = step.text.split(" ", 1)[0]
        match = _CL_HEAD.fullmatch(head)
        return match.group(1) if match else head
    return None


def parameter(step: Step, keyword: str) -> str:
    """The value of `KEYWORD(...)` in a step's (innermost) CL text, parentheses balanced."""
    text = step.text
    start = text.rindex(f" {keyword}(") + len(keyword) + 2
    depth, cursor = 1, start
    while depth:
        depth += {"(": 1, ")": -1}.get(text[cursor], 0)
        cursor += 1
    return text[start : cursor - 1]
