"""Command line: `python -m ibmi_resync plan PLAN.yaml` prints the dry-run plan."""

from __future__ import annotations

import argparse
import sys

from ibmi_resync.dryrun import render_json, render_text
from ibmi_resync.names import IbmiInputError
from ibmi_resync.plan import PlanError, RunOptions, load_plan
from ibmi_resync.program import resync_program


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ibmi_resync")
    commands = parser.add_subparsers(dest="command", required=True)
    plan_cmd = commands.add_parser("plan", help="print the dry-run plan of a resync")
    plan_cmd.add_argument("config", help="the plan YAML file")
    plan_cmd.add_argument("--groups", default="", help="comma-separated subset of groups")
    plan_cmd.add_argument("--shell", action="store_true", help="show the exact SSH exec lines")
    plan_cmd.add_argument("--json", action="store_true", help="machine-readable steps")
    plan_cmd.add_argument("--no-approval", action="store_true", help="as if unattended")
    args = parser.parse_args(argv)

    try:
        plan = load_plan(args.config)
        options = RunOptions(
            groups=tuple(name for name in args.groups.split(",") if name.strip()),
            dry_run=True,
            approvals_required=False if args.no_approval else None,
        )
        steps = resync_program(plan, options)
    except (PlanError, IbmiInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(render_json(steps) + "\n")
    else:
        sys.stdout.write(render_text(plan, steps, options, shell=args.shell))
    return 0


if __name__ == "__main__":
    sys.exit(main())
