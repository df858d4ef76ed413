"""``megacut process``: check a scenes CSV like ``plan``, then render its parts."""

from __future__ import annotations

import argparse
from pathlib import Path

from megacut.cli.options import cache_folder, resolve_paths, settings_from_args
from megacut.cli.plan import disk_line, show_plan, with_copy_problems
from megacut.cli.rendering import finish_run, print_problems, render, started_pool
from megacut.errors import UsageError
from megacut.files import write_json_atomic


def cmd_process(args: argparse.Namespace) -> int:
    paths = resolve_paths(args, ("csv", "movies", "output"))
    return run_process(paths["csv"], paths["movies"], paths["output"], args)


def run_process(csv_path: Path, movies: Path, output: Path, args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    # the workers start while the plan is made: the first jobs start as soon as it is ready
    with started_pool(args, settings, f"scene/{settings.backend}") as pool:
        return plan_and_render(csv_path, movies, output, args, settings, pool)


def plan_and_render(csv_path: Path, movies: Path, output: Path, args: argparse.Namespace, settings, pool) -> int:
    """Plan; with --dry-run or invalid rows, show the plan; else render it."""
    from megacut.plan.prepare import prepare_plan

    plan = with_copy_problems(prepare_plan(csv_path, movies, settings, cache_folder(args, output)))
    rows_in = movies if args.rows else None
    if args.dry_run:
        return show_plan(plan, rows_in=rows_in, disk=disk_line(plan, output, args), cache=cache_folder(args, output),
                         skip_invalid=args.skip_invalid)
    if plan.errors and not args.skip_invalid:
        return show_plan(plan, f"{len(plan.errors)} error(s): nothing was rendered. Fix the lines above, or add "
                               "--skip-invalid to render the valid rows only.", rows_in)
    if rows_in is not None:
        from megacut.cli.report import rows_table

        print("\n".join(rows_table(plan, rows_in, cache_folder(args, output))), flush=True)
    print_problems(plan.problems)
    return render_scenes(plan, output, args, pool)


def render_scenes(plan, output: Path, args: argparse.Namespace, pool=None) -> int:
    from megacut.cli.report import report_data
    from megacut.run.groups import scene_groups

    if not plan.selected_parts:
        raise UsageError("nothing to render: the plan has no valid scene")
    result = render(scene_groups(plan, output), output, args, noun="scene", plan=plan, pool=pool)
    write_json_atomic(output / "megacut-report.json", report_data(result))
    return finish_run(result, output)
