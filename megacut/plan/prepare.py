"""The stages chained: read the CSV, find and probe the sources, build the plan, render it.

This is the only place planning touches the disk; :mod:`megacut.plan` itself
stays pure. Each distinct source is probed once, in parallel.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from megacut.errors import SourceError, SourceLookupError, UsageError
from megacut.plan.build import RenderPlan, build_plan
from megacut.plan.probe import SourceInfo, probe_sources
from megacut.plan.scenes import Problem, load_scenes, ordered_problems
from megacut.plan.settings import Settings
from megacut.plan.sources import MovieIndex


def prepare_plan(csv_path: str | Path, movies_dir: str | Path, settings: Settings | None = None) -> RenderPlan:
    """Read ``csv_path``, resolve and probe its sources in ``movies_dir`` and plan the render.

    Raises InputError for a CSV that cannot be read at all and UsageError for a
    missing movies folder; row problems are collected in the plan.
    """
    settings = settings or Settings()
    if settings.font:
        from megacut.plan.fonts import primary_font

        primary_font(settings)  # a --font that cannot be loaded is a usage error now, not in every job
    movies = Path(movies_dir)
    if not movies.is_dir():
        raise UsageError(f"movies folder not found: {movies}; check --movies (or MEGA_CUT_MOVIE_FOLDER)")
    table = load_scenes(csv_path)
    try:
        index = MovieIndex(movies)
    except SourceLookupError as exc:
        raise UsageError(str(exc)) from None
    found: dict[int, Path | str] = {}
    for row in table.rows:
        try:
            found[row.line] = index.find(row.movie, season_episode=row.season_episode or None,
                                         file=row.file or None)
        except SourceLookupError as exc:
            found[row.line] = str(exc)
    probed = probe_sources({p for p in found.values() if isinstance(p, Path)})
    sources: dict[int, SourceInfo | str] = {}
    for line, path in found.items():
        if isinstance(path, str):
            sources[line] = path
            continue
        info = probed[path]
        sources[line] = f"cannot use this source: {info}" if isinstance(info, SourceError) else info
    plan = build_plan(table, sources, settings)
    return replace(plan, problems=ordered_problems(plan.problems + tuple(overlay_font_warnings(plan))))


def overlay_font_warnings(plan: RenderPlan) -> list[Problem]:
    """Warn about overlay characters that no installed font can draw (they would show as boxes)."""
    from megacut.plan.fonts import missing_glyphs_warning

    warnings = []
    warning_for: dict[str, str | None] = {}
    for scene in plan.scenes:
        for text in scene.overlay_lines:
            if text not in warning_for:
                warning_for[text] = missing_glyphs_warning(text, plan.settings, "the overlay")
            if warning_for[text]:
                warnings.append(Problem(warning_for[text], str(plan.csv_path), scene.line, "warning"))
                break
    return warnings
