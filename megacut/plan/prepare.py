"""The stages chained: read the CSV, find and probe the sources, build the plan, render it.

This is the only place planning touches the disk; :mod:`megacut.plan` itself
stays pure. Each distinct source is probed once, in parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from megacut.errors import SourceError, SourceLookupError, UsageError
from megacut.plan.build import RenderPlan, build_plan
from megacut.plan.probe import SourceInfo, probe_sources
from megacut.plan.scenes import Problem, SceneTable, load_scenes, ordered_problems
from megacut.plan.settings import Settings
from megacut.plan.sources import MovieIndex
from megacut.plan.timecodes import END
from megacut.subtitles.cues import TrackCues, read_subtitle_tracks

SUBTITLE_READERS = 4  # sources whose subtitles are read at once (reading is bound by the disk, not the CPU)


def prepare_plan(csv_path: str | Path, movies_dir: str | Path, settings: Settings | None = None,
                 cache_dir: Path | None = None) -> RenderPlan:
    """Read ``csv_path``, resolve and probe its sources in ``movies_dir``, read their subtitle tracks (kept
    in ``cache_dir``'s ``subtitles`` folder when given, so a source is read once) and plan the render.

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
    found: dict[int, Path | SourceLookupError] = {}
    found_by: dict[int, str] = {}
    for row in table.rows:
        try:
            match = index.match(row.movie, season_episode=row.season_episode or None, file=row.file or None)
        except SourceLookupError as exc:
            found[row.line] = exc
            continue
        found[row.line] = match.path
        if match.rule:
            found_by[row.line] = match.rule
    probed = probe_sources({p for p in found.values() if isinstance(p, Path)})
    sources: dict[int, SourceInfo | str | SourceLookupError] = {}
    for line, path in found.items():
        if isinstance(path, SourceLookupError):
            sources[line] = path
            continue
        info = probed[path]
        sources[line] = f"cannot use this source: {info}" if isinstance(info, SourceError) else info
    cues, unread = read_subtitles([s for s in sources.values() if isinstance(s, SourceInfo)], cache_dir)
    plan = build_plan(table, sources, settings, cues)
    more = heading_warnings(table, index) + overlay_font_warnings(plan)
    more += [Problem(f"{unread[s.source.path]}; its forced subtitles are left out", str(table.path), s.line, "warning")
             for s in plan.scenes if s.source.path in unread]
    return replace(plan, problems=ordered_problems(plan.problems + tuple(more)), found_by=found_by)


def read_subtitles(sources: list[SourceInfo], cache_dir: Path | None
                   ) -> tuple[dict[Path, dict[int, TrackCues]], dict[Path, str]]:
    """The cues of every readable subtitle track of ``sources`` (by path, then stream index), each source read
    in one pass, at most ``SUBTITLE_READERS`` at once; and why a source's could not be read."""
    unique = {s.path: s for s in sources if any(t.readable for t in s.subtitle_tracks)}
    cache = cache_dir / "subtitles" if cache_dir is not None else None

    def read(source: SourceInfo) -> dict[int, TrackCues] | str:
        try:
            return read_subtitle_tracks(source, cache)
        except SourceError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=SUBTITLE_READERS) as pool:
        results = dict(zip(unique, pool.map(read, unique.values())))
    return ({p: r for p, r in results.items() if not isinstance(r, str)},
            {p: r for p, r in results.items() if isinstance(r, str)})


def heading_warnings(table: SceneTable, index: MovieIndex) -> list[Problem]:
    """A row without times is a heading; one whose text names a file is more likely a film meant whole."""
    warnings = []
    for heading in table.headings:
        try:
            path = index.find(heading.text)
        except SourceLookupError:
            continue
        warnings.append(Problem(
            f'"{heading.text}" has no start or end time, so it is read as a heading, not a scene, though it names '
            f"{path.relative_to(index.root).as_posix()}; to include the whole film, give it start 0 and end "
            f"`{END}`", str(table.path), heading.line, "warning"))
    return warnings


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
