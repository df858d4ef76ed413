"""``megacut plan``: check a scenes CSV, show its parts and every problem; render nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from megacut.cli.options import resolve_paths, settings_from_args
from megacut.errors import ExitCode


def cmd_plan(args: argparse.Namespace) -> int:
    from megacut.plan.prepare import prepare_plan

    paths = resolve_paths(args, ("csv", "movies"))
    plan = prepare_plan(paths["csv"], paths["movies"], settings_from_args(args))
    return show_plan(plan, rows_in=paths["movies"] if args.rows else None)


def show_plan(plan, verdict: str | None = None, rows_in: Path | None = None) -> int:
    """Print the plan table (with ``rows_in``, the movies folder: a line per row), its problems and
    a verdict; exit 2 when the plan has errors."""
    from megacut.cli.report import plan_table, plan_verdict

    print(plan_table(plan, rows_in))
    print()
    print(verdict or plan_verdict(plan))
    return ExitCode.INVALID if plan.errors else ExitCode.OK
