"""Fixtures of the Airflow layer's tests: nodes whose answers a test scripts."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ibmi_resync.node import IbmiNode
from icluster_resync import operators

ROOT = Path(__file__).resolve().parents[2]


class Scripted:
    def __init__(self, subsystem_status: str = "ACTIVE") -> None:
        self.sent: list[str] = []
        self.subsystem_status = subsystem_status
        self.closed = 0

    def execute(self, line: str) -> tuple[int, str, str]:
        self.sent.append(shlex.split(line)[1])
        return 0, "CPF0943: Ending of subsystem APPSBS in progress.\n", ""

    def fetch(self, text: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        if "SUBSYSTEM_INFO" in text:
            return [{"STATUS": self.subsystem_status, "CURRENT_ACTIVE_JOBS": 1}]
        if "ACTIVE_JOB_INFO" in text:
            return [{"JOB_NAME": "123456/CLERK/QPADEV0001"}] if self.subsystem_status == "X" else []
        return []

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Scripted:
    node = Scripted()
    monkeypatch.setenv("IBMI_RESYNC_PLAN", str(ROOT / "config" / "demo-plan.yaml"))

    @contextlib.contextmanager
    def fake_open_node(plan, role, *, dry_run=False, journal=None) -> Iterator[IbmiNode]:
        spec = plan.primary if role == "PRIMARY" else plan.backup
        yield IbmiNode(
            name=spec.name,
            role=spec.role,
            shell=node,
            database=node,
            profile=plan.site_profile,
            dry_run=dry_run,
        )

    monkeypatch.setattr(operators, "open_node", fake_open_node)
    return node
