"""Command line: `python -m ibmi_resync plan PLAN.yaml` prints the dry-run plan;
`python -m ibmi_resync audit` lists past runs from their reports (docs/audit.md);
`python -m ibmi_resync forecast PLAN.yaml` forecasts the next resync
(docs/rehearsal-and-windows.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ibmi_resync import audit, forecast
from ibmi_resync.dryrun import render_json, render_text
from ibmi_resync.names import IbmiInputError
from ibmi_resync.plan import PlanError, RunOptions, load_plan
from ibmi_resync.program import network_sync_program, resync_program


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ibmi_resync")
    commands = parser.add_subparsers(dest="command", required=True)
    plan_cmd = commands.add_parser("plan", help="print the dry-run plan of a resync")
    plan_cmd.add_argument("config", help="the plan YAML file")
    plan_cmd.add_argument("--groups", default="", help="comma-separated subset of groups")
    plan_cmd.add_argument("--shell", action="store_true", help="show the exact SSH exec lines")
    plan_cmd.add_argument("--json", action="store_true", help="machine-readable steps")
    plan_cmd.add_argument("--no-approval", action="store_true", help="as if unattended")
    plan_cmd.add_argument(
        "--network-sync",
        action="store_true",
        help="the network sync (DMSTRGRP with refresh) instead of the save/restore resync",
    )
    audit_cmd = commands.add_parser(
        "audit", help="list past runs: who, when, approvals, groups, result, outage"
    )
    audit_cmd.add_argument(
        "--reports",
        default=None,
        help="the reports folder (default: IBMI_RESYNC_REPORTS, else AIRFLOW_HOME/resync-reports)",
    )
    audit_cmd.add_argument("--since", default=None, help="runs started on or after (ISO date)")
    audit_cmd.add_argument("--dag", default=None, help="only the runs of this DAG id")
    audit_cmd.add_argument("--json", action="store_true", help="machine-readable")
    forecast_cmd = commands.add_parser(
        "forecast", help="forecast the next resync's outage and total time, per phase"
    )
    forecast_cmd.add_argument("config", help="the plan YAML file")
    forecast_cmd.add_argument(
        "--reports",
        default=None,
        help="the reports folder (default: IBMI_RESYNC_REPORTS, else AIRFLOW_HOME/resync-reports)",
    )
    forecast_cmd.add_argument("--json", action="store_true", help="machine-readable")
    args = parser.parse_args(argv)
    if args.command == "audit":
        return _audit(args)
    if args.command == "forecast":
        return _forecast(args)

    try:
        plan = load_plan(args.config)
        options = RunOptions(
            groups=tuple(name for name in args.groups.split(",") if name.strip()),
            dry_run=True,
            approvals_required=False if args.no_approval else None,
        )
        program = network_sync_program if args.network_sync else resync_program
        steps = program(plan, options)
    except (PlanError, IbmiInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(render_json(steps) + "\n")
    else:
        sys.stdout.write(render_text(plan, steps, options, shell=args.shell))
    return 0


def _audit(args: argparse.Namespace) -> int:
    folder = Path(args.reports) if args.reports else audit.default_reports_folder()
    try:
        since = audit.parse_since(args.since) if args.since else None
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"error: no reports folder {folder}", file=sys.stderr)
        return 2
    reports, unreadable = audit.load_reports(folder)
    for problem in unreadable:
        print(f"warning: cannot read {problem}", file=sys.stderr)
    rows = audit.audit_rows(reports, since=since, dag_id=args.dag)
    sys.stdout.write(audit.render_json(rows) if args.json else audit.render_table(rows))
    return 0


def _forecast(args: argparse.Namespace) -> int:
    """The forecast from the rehearsals and resyncs reported under --reports (none: the
    plan's estimate, said so)."""
    try:
        plan = load_plan(args.config)
    except (PlanError, IbmiInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folder = Path(args.reports) if args.reports else audit.default_reports_folder()
    result = forecast.forecast_from_folder(plan, folder)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=1) + "\n")
    else:
        sys.stdout.write(forecast.render_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
