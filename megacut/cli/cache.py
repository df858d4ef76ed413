"""``megacut cache``: what the segment cache holds, what a scenes plan still uses, and pruning the rest.

The cache only grows while rendering (an edited row leaves its old segment
behind), so this command shows where the space goes and, with ``--prune``,
deletes the segments that the given plan does not use and that no part still
on disk was joined from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from megacut.cli.options import (
    cache_folder,
    optional_path,
    resolve_paths,
    settings_from_args,
)
from megacut.errors import ExitCode, UsageError
from megacut.run.cache import SegmentCache, tree_bytes
from megacut.run.disk import format_bytes


def cmd_cache(args: argparse.Namespace) -> int:
    output = resolve_paths(args, ("output",))["output"]
    cache = SegmentCache(cache_folder(args, output))
    if not cache.segments.is_dir():
        raise UsageError(f"no segment cache in {cache.root}: nothing was rendered there (give the --output, or "
                         "the --cache-dir, that the render used)")
    keys = plan_keys(args, output)
    if args.prune and keys is None:
        raise UsageError("--prune needs the plan whose segments to keep: give --csv and --movies, with the "
                         "format options the render used (without a plan, no segment is known to be unused)")
    print(f"cache: {cache.root}")
    stored = cache.stored()
    print(f"segments: {len(stored)}, {format_bytes(sum(stored.values()))}")
    work = tree_bytes(cache.work)
    if work:
        print(f"work files: {format_bytes(work)} (a running render's, or what a killed one left)")
    records = cache.part_records()
    print(f"parts joined from it: {len(records)}")
    for record in records:
        if record.output:
            state = "as written" if record.current else "changed or gone since"
        else:  # recorded before megacut kept the part's path: its segments are always kept
            state = "path not recorded (joined by an older megacut): kept" if record.current else "unreadable record"
        print(f"  {record.output or record.path.stem}: {len(record.keys)} segment(s), {state}")
    if keys is None:
        return ExitCode.OK
    usage = cache.usage(keys)
    print(f"used by this plan: {_count(usage.used)}; {usage.missing} to render")
    print(f"kept for parts on disk: {_count(usage.in_parts)}")
    print(f"unused: {_count(usage.unused)}" + ("" if args.prune or not usage.unused else
                                                 " (add --prune to delete them)"))
    if args.prune:
        pruned = cache.prune(keys)
        print(f"freed {format_bytes(pruned.freed_bytes)}: {len(pruned.segments)} unused segment(s), "
              f"{pruned.records} stale part record(s), {len(pruned.audio)} audio track(s) of parts no longer on "
              f"disk, {format_bytes(pruned.leftover_bytes)} left by killed runs")
    return ExitCode.OK


def plan_keys(args: argparse.Namespace, output: Path) -> set[str] | None:
    """The segment keys of every part of the scenes plan given (None without --csv or --movies)."""
    if optional_path(args, "csv") is None and not args.movies:
        return None
    from megacut.plan.prepare import prepare_plan
    from megacut.run.groups import scene_groups

    paths = resolve_paths(args, ("csv", "movies"))
    plan = prepare_plan(paths["csv"], paths["movies"], settings_from_args(args), cache_folder(args, output))
    if plan.errors:
        if args.prune:
            raise UsageError(f"the plan has {len(plan.errors)} error(s) (see `megacut plan`): the segments of "
                             "those rows would look unused; fix them before pruning")
        print(f"note: the plan has {len(plan.errors)} error(s); the segments of those rows count as unused")
    return {key for group in scene_groups(plan, output) for key in group.keys}


def _count(segments: dict[str, int]) -> str:
    return f"{len(segments)} segment(s), {format_bytes(sum(segments.values()))}"
