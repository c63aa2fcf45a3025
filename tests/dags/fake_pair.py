"""A healthy scripted PRIMARY/BACKUP for DAG tests that must not reach a node: installed in
place of the operators' `open_node`, it answers like a healthy pair and records what it is
sent."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ibmi_resync.node import IbmiNode


class HealthyNode:
    """Answers every command with exit 0 and every query like a healthy pair; records each
    command line, and with ``everything`` each SQL statement too."""

    def __init__(self, name: str, role: str, sent: list[str], *, everything: bool) -> None:
        self.name, self.role, self.sent, self.everything = name, role, sent, everything

    def execute(self, line: str) -> tuple[int, str, str]:
        self.sent.append(line)
        return 0, "", ""

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        if self.everything:
            self.sent.append(f"SQL {text} {list(params)}")
        if "LOCAL_NODE" in text:
            return [{"NODE": self.name, "ROLE": self.role}]
        status = "*ACTIVE" if "ICSIM" in text else "ACTIVE"
        return [{"STATUS": status, "OBJECT_COUNT": 3, "SYSTEM_ASP_USED": 40.0}]


def install(monkeypatch: pytest.MonkeyPatch, reports: Path, *, everything: bool) -> list[str]:
    """Put the healthy pair behind the operators; returns the list of what they send (with
    ``everything``: connections opened and SQL as well)."""
    from icluster_resync import operators

    lines: list[str] = []

    @contextlib.contextmanager
    def healthy_node(plan, role, *, dry_run=False, journal=None) -> Iterator[IbmiNode]:
        spec = plan.primary if role == "PRIMARY" else plan.backup
        if everything:
            lines.append(f"OPEN {role}")
        fake = HealthyNode(spec.name, spec.role, lines, everything=everything)
        yield IbmiNode(
            name=spec.name,
            role=spec.role,
            shell=fake,
            database=fake,
            profile=plan.site_profile,
            dry_run=dry_run,
        )

    monkeypatch.setattr(operators, "open_node", healthy_node)
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(reports))
    return lines
