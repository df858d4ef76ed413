"""``megacut plan``: check a scenes CSV, show its parts, every problem and the disk a run needs;
render nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from megacut.cli.options import (
    cache_folder,
    optional_path,
    resolve_paths,
    settings_from_args,
)
from megacut.errors import ExitCode


def cmd_plan(args: argparse.Namespace) -> int:
    from megacut.plan.prepare import prepare_plan

    paths = resolve_paths(args, ("csv", "movies"))
    output = optional_path(args, "output")
    cache_root = cache_folder(args, output) if output else Path(args.cache_dir) if args.cache_dir else None
    plan = with_copy_problems(prepare_plan(paths["csv"], paths["movies"], settings_from_args(args), cache_root))
    return show_plan(plan, rows_in=paths["movies"] if args.rows else None, disk=disk_line(plan, output, args),
                     cache=cache_folder(args, output) if output else None)


def show_plan(plan, verdict: str | None = None, rows_in: Path | None = None, disk: str | None = None,
              cache: Path | None = None, skip_invalid: bool = False) -> int:
    """Print the plan table (with ``rows_in``, the movies folder: a line per row, with what the ``cache``
    folder knows of their sources' loudness), its problems, the disk it needs and a verdict; exit 2 when
    the plan has errors, unless ``skip_invalid`` (a dry run of `process --skip-invalid`) and valid rows
    render."""
    from megacut.cli.report import plan_table, plan_verdict

    print(plan_table(plan, rows_in, cache))
    print()
    if plan.settings.copy != "off":
        from megacut.render.copy_plan import copy_summary

        print("\n".join(copy_summary(plan)[0]))
        print()
    if disk:
        print(disk)
    print(verdict or plan_verdict(plan, skip_invalid))
    return ExitCode.INVALID if plan.errors and not (skip_invalid and plan.selected_parts) else ExitCode.OK


def with_copy_problems(plan):
    """The plan with ``--copy strict``'s errors: a scene that cannot be copied (the plan says why)."""
    if plan.settings.copy != "strict":
        return plan
    from dataclasses import replace

    from megacut.render.copy_plan import copy_summary

    problems = copy_summary(plan)[1]
    return replace(plan, problems=plan.problems + tuple(problems)) if problems else plan


def disk_line(plan, output: Path | None, args: argparse.Namespace) -> str | None:
    """About how much disk rendering the selected parts takes: with an output folder (or a cache
    folder), only what is not rendered there yet; None when nothing is selected."""
    from megacut.run.cache import SegmentCache
    from megacut.run.disk import format_bytes, render_need
    from megacut.run.groups import scene_groups

    if not plan.selected_parts:
        return None
    cache_root = cache_folder(args, output) if output else Path(args.cache_dir) if args.cache_dir else None
    segments, parts = render_need(scene_groups(plan, output or Path()),
                                  SegmentCache(cache_root) if cache_root else None)
    if output and not segments and not parts:
        return f"disk: nothing to render, every part is current in {output}"
    in_cache = f" (in {cache_root})" if cache_root else ""
    in_output = f" (in {output})" if output else " (give --output to count only what is not rendered there yet)"
    return f"disk: about {format_bytes(segments)} for segments{in_cache} and {format_bytes(parts)} for parts{in_output}"
