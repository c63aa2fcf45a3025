"""The dry-run plan as text: per phase, per node, the exact CL and SQL a run would send.

Nothing here connects to anything. The text is built from `program.resync_program`, the same
steps a real run executes, so reviewing this output is reviewing the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from ibmi_resync.plan import Plan, RunOptions
from ibmi_resync.program import Later, Step

__all__ = ["render_json", "render_text"]


def _one_line(sql: str) -> str:
    return " ".join(sql.split())


def _param(value: Any) -> str:
    return repr(value) if isinstance(value, Later) else json.dumps(value)


def _describe(step: Step, *, shell: bool) -> list[str]:
    kind = f"{step.kind:<7} "
    if step.kind in ("CL", "SBMJOB"):
        lines = [f"{kind}{step.shell if shell and step.shell else step.text}"]
    elif step.kind in ("SQL", "WAIT"):
        lines = [f"{kind}{_one_line(step.text)}"]
        if step.params:
            lines.append(" " * 8 + "with (" + ", ".join(_param(p) for p in step.params) + ")")
    else:
        lines = [f"{kind}{step.text}"]
    if step.until:
        lines.append(
            " " * 8
            + f"until {step.until}; every {step.poll_seconds:g} s, timeout {step.timeout_seconds} s"
        )
    if step.condition:
        lines.append(" " * 8 + f"when: {step.condition}")
    lines += [" " * 8 + f"note: {note}" for note in step.notes]
    return lines


def render_text(
    plan: Plan, steps: Sequence[Step], options: RunOptions, *, shell: bool = False
) -> str:
    groups = ", ".join(group.name for group in options.selected_groups(plan))
    changing = sum(1 for step in steps if step.changes_node)
    out = [
        f"Resync plan {plan.name!r}: groups {groups}",
        f"PRIMARY = {plan.primary.name} (ssh {plan.primary.ssh_conn_id}, "
        f"odbc {plan.primary.odbc_conn_id}); BACKUP = {plan.backup.name} "
        f"(ssh {plan.backup.ssh_conn_id}, odbc {plan.backup.odbc_conn_id})",
        f"Site profile {plan.site_profile.name!r}; {len(steps)} steps, {changing} of them "
        "change a node. Dry run: nothing below is sent.",
    ]
    for phase, phase_steps in groupby(steps, key=lambda step: step.phase):
        in_phase = list(phase_steps)
        out += ["", f"Phase {phase.value}: {phase.title}"]
        for node in ("PRIMARY", "BACKUP"):
            on_node = [step for step in in_phase if step.node == node]
            if not on_node:
                continue
            out.append(f"  on {node}:")
            for number, step in enumerate(on_node, start=1):
                where = f"[{step.group}] " if step.group else ""
                label = f"    {number:>3}. {where}"
                lines = _describe(step, shell=shell)
                out.append(label + lines[0])
                out += [" " * len(label) + line for line in lines[1:]]
    return "\n".join(out) + "\n"


def render_json(steps: Sequence[Step]) -> str:
    """Steps as JSON; a run-time value is written `<what>`, as in the text."""
    records = []
    for step in steps:
        record = {
            name: getattr(step, name)
            for name in step.__dataclass_fields__
            if name not in ("command", "statement")  # their text is in `text`
        }
        record["phase"] = int(step.phase)
        record["params"] = [_json_value(value) for value in step.params]
        records.append(record)
    return json.dumps(records, indent=1, default=str)


def _json_value(value: Any) -> Any:
    return repr(value) if isinstance(value, Later) else value
