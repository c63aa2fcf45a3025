"""The demo plan's dry run, kept whole in a golden file: every CL command (IBM i and iCluster,
as rendered from the site profile), every SQL statement and every wait, in order.

A change to any builder, template or statement shows up as a diff of this one file in review.
`UPDATE_GOLDEN=1 make test` rewrites it after an intended change.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from ibmi_resync.dryrun import render_text
from ibmi_resync.plan import RunOptions, load_plan
from ibmi_resync.program import resync_program

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "demo_plan_dry_run.txt"


def _render() -> str:
    plan = load_plan(ROOT / "config" / "demo-plan.yaml")
    options = RunOptions(dry_run=True, approvals_required=True)
    return render_text(plan, resync_program(plan, options), options, shell=True)


def test_demo_dry_run_matches_the_golden_file() -> None:
    rendered = _render()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(rendered, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                "golden",
                "rendered",
                n=1,
            )
        )
        raise AssertionError(
            f"dry run differs from {GOLDEN.name}; if intended: UPDATE_GOLDEN=1 make test\n{diff}"
        )


def test_the_rendering_is_deterministic() -> None:
    assert _render() == _render()
