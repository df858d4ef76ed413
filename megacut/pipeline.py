"""The stages chained: read the CSV, find and probe the sources, build the plan.

This is the only place planning touches the disk; :mod:`megacut.plan` itself
stays pure. Each distinct source is probed once, in parallel.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SourceError, SourceLookupError, UsageError
from .plan import RenderPlan, build_plan
from .scenes import load_scenes
from .settings import Settings
from .sources import MovieIndex, SourceInfo, probe_sources


def prepare_plan(csv_path: str | Path, movies_dir: str | Path, settings: Settings | None = None) -> RenderPlan:
    """Read ``csv_path``, resolve and probe its sources in ``movies_dir`` and plan the render.

    Raises InputError for a CSV that cannot be read at all and UsageError for a
    missing movies folder; row problems are collected in the plan.
    """
    settings = settings or Settings()
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
    return build_plan(table, sources, settings)
