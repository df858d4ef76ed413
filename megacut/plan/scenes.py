"""The scenes CSV: read it, check every row, and return rows, headings and problems.

Reading never stops at the first bad row: every problem is collected with its
``file:line`` so a user fixes the whole file in one pass. File-level problems
(not UTF-8, no header, a missing column) raise :class:`InputError` at once,
since no row can be trusted then. Row checks that need the source (frame
timecodes, the source's length) happen later, in planning.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from megacut.errors import InputError
from megacut.plan.timecodes import END, Timecode, TimecodeError, parse_timecode

# canonical column -> accepted header names (case-insensitive)
COLUMNS: dict[str, tuple[str, ...]] = {
    "movie": ("movie", "movie_show"),
    "start": ("start", "start_timecode"),
    "end": ("end", "end_timecode"),
    "overlay": ("overlay", "timeline_placement"),
    "season_episode": ("season_episode",),
    "episode_title": ("episode_title",),
    "language": ("language", "audio_language"),
    "audio_title": ("audio_title",),
    "subtitles": ("subtitles", "subtitle"),
    "part": ("part", "chunk"),
    "file": ("file",),
    "comment": ("comment",),
}
REQUIRED = ("movie", "start", "end")
_ALIASES = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem found in the input, with where it is; ``severity`` is "error" or "warning"."""

    message: str
    file: str | None = None
    line: int | None = None
    severity: str = "error"
    advice: str = ""  # what to do, when it is long and the same for many problems: said once in a list
    rows: int = 1  # the rows it is said for (at ``line`` and the lines the message lists)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        return f"{where}{self.severity}: {self.message}" + (f" {self.advice}" if self.advice else "")


MAX_RUNS_SHOWN = 12  # line runs listed in one problem said for many rows; then "..." and the count


def ordered_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Errors, then warnings, each in file:line order. A problem said the same for several rows (a name not
    found, the same fallback) is said once, at its first line, listing the lines; advice said once, with
    the first problem that needs it."""
    alike: dict[tuple[str | None, str, str, str], list[Problem]] = {}
    kept = []
    for problem in problems:
        if problem.line is not None:
            alike.setdefault((problem.file, problem.severity, problem.message, problem.advice), []).append(problem)
        else:
            kept.append(problem)
    for (file, severity, message, advice), same in alike.items():
        lines = [p.line for p in same]
        if len(same) > 1:
            message = f"lines {line_ranges(lines)}: {message}"
        kept.append(Problem(message, file, min(lines), severity, advice, sum(p.rows for p in same)))
    ordered = sorted(kept, key=lambda p: (p.severity != "error", p.file or "", p.line or 0))
    said: set[str] = set()
    for at, problem in enumerate(ordered):
        if problem.advice in said:
            ordered[at] = replace(problem, advice="")
        said.add(problem.advice)
    return tuple(ordered)


def line_ranges(lines: Iterable[int]) -> str:
    """``2, 4-6, 9 (5 rows)`` for lines 2, 4, 5, 6 and 9 (``7`` for 7); a long list is cut short:
    ``2, 4-6, ... (40 rows)``."""
    runs: list[list[int]] = []
    lines = sorted(set(lines))
    for line in lines:
        if runs and line == runs[-1][1] + 1:
            runs[-1][1] = line
        else:
            runs.append([line, line])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:MAX_RUNS_SHOWN])
    more = " ..." if len(runs) > MAX_RUNS_SHOWN else ""
    return f"{shown}{more} ({len(lines)} rows)" if len(lines) > 1 else shown


@dataclass(frozen=True, slots=True)
class SceneRow:
    """One scene as written in the CSV (times parsed, source not yet resolved)."""

    index: int  # 0-based position among the scene rows of the CSV
    line: int  # 1-based line where the row starts
    movie: str
    start: Timecode
    end: Timecode
    overlay: str = ""
    season_episode: str = ""
    episode_title: str = ""
    language: str = ""
    audio_title: str = ""
    subtitles: str = ""  # the full subtitle track wanted: a language or a title; "off"; "": the --subtitles option's
    part: int | None = None
    file: str = ""
    comment: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # unknown columns, kept for the report


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading row ("1940s", "Phase One"): both times empty; shown in the plan."""

    line: int
    text: str
    before_scene: int  # index of the scene row that follows it


@dataclass
class SceneTable:
    """Everything read from one scenes CSV."""

    path: Path
    rows: list[SceneRow] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    invalid_lines: set[int] = field(default_factory=set)
    scene_count: int = 0  # scene rows seen, valid or not: the next row's index

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def read_csv_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a BOM is dropped); clear errors otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("CSV file not found; check the --csv path", file=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a CSV file", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the CSV file: {exc.strerror}", file=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            f"byte 0x{data[exc.start]:02x} at column {column} is not UTF-8 text; "
            "save the CSV as UTF-8 (in Excel: 'CSV UTF-8')",
            file=path,
            line=line,
        ) from None


def load_scenes(path: str | Path) -> SceneTable:
    """Read and check a scenes CSV. Raises InputError for file-level problems."""
    path = Path(path)
    text = read_csv_text(path)
    table = SceneTable(path=path)
    records = list(_records(text, path))
    header_at = next((i for i, (_, cells) in enumerate(records) if not _is_skippable(cells)), None)
    if header_at is None:
        raise InputError("the CSV is empty; it needs a header row such as: movie,start,end,overlay", file=path)
    header_line, header_cells = records[header_at]
    columns = _map_header(header_cells, path, header_line)
    table.extra_columns = [h.strip() for h in header_cells if h.strip() and h.strip().lower() not in _ALIASES]
    for line, cells in records[header_at + 1 :]:
        if _is_skippable(cells):
            continue
        _read_row(table, columns, header_cells, line, cells)
    if not table.rows and not table.problems:
        raise InputError("the CSV has a header but no scene rows; add one row per scene below it", file=path)
    return table


def _records(text: str, path: Path):
    """Yield (first line number, cells) per CSV record; unbalanced quotes raise InputError."""
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    next_line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                f"unbalanced double quote ({exc}): a quoted value starts on this line and is not closed "
                "properly; close the quote, or double a quote inside a quoted value (\"\")",
                file=path,
                line=next_line,
            ) from None
        yield next_line, cells
        next_line = reader.line_num + 1


def _sniff_delimiter(text: str) -> str:
    """Comma, unless the header line plainly uses semicolons or tabs (European Excel)."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            counts = {d: line.count(d) for d in (",", ";", "\t")}
            best = max(counts, key=counts.get)
            return best if counts[best] and not counts[","] else ","
    return ","


def _is_skippable(cells: list[str]) -> bool:
    """Blank rows and comment rows (first cell starts with #) are ignored."""
    if not any(c.strip() for c in cells):
        return True
    return cells[0].lstrip().startswith("#")


def _map_header(cells: list[str], path: Path, line: int) -> dict[str, int]:
    columns: dict[str, int] = {}
    for position, raw in enumerate(cells):
        name = _ALIASES.get(raw.strip().lower())
        if name is None:
            continue
        if name in columns:
            first = cells[columns[name]].strip()
            raise InputError(
                f"columns '{first}' and '{raw.strip()}' both give the {name}; keep only one",
                file=path,
                line=line,
            )
        columns[name] = position
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        if not columns:
            shown = ",".join(c.strip() for c in cells)[:80]
            raise InputError(
                f"the first row must be a header naming the columns (movie,start,end,...); found '{shown}'",
                file=path,
                line=line,
            )
        described = "; ".join(f"'{m}' (or '{'/'.join(COLUMNS[m][1:])}')" for m in missing)
        have = ", ".join(c.strip() for c in cells if c.strip())
        raise InputError(f"missing required column {described}; the header has: {have}", file=path, line=line)
    return columns


def _read_row(table: SceneTable, columns: dict[str, int], header: list[str], line: int, cells: list[str]) -> None:
    def cell(name: str) -> str:
        position = columns.get(name)
        return cells[position].strip() if position is not None and position < len(cells) else ""

    def problem(message: str, severity: str = "error") -> None:
        table.problems.append(Problem(message, str(table.path), line, severity))
        if severity == "error":
            table.invalid_lines.add(line)

    start_text, end_text = cell("start"), cell("end")
    if not start_text and not end_text:
        text = cell("movie") or cell("overlay") or next((c.strip() for c in cells if c.strip()), "")
        table.headings.append(Heading(line=line, text=text, before_scene=table.scene_count))
        return
    index = table.scene_count
    table.scene_count += 1
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        problem(
            f"{len(cells)} values but the header has {len(header)} columns; "
            'is there an unquoted comma in a value? Put such values in double quotes ("May 1945, Berlin")'
        )
        return
    movie = cell("movie")
    if not movie and not cell("file"):
        problem("no movie: give the movie or show name (or a path in the 'file' column)")
    times = {}
    for name, text in (("start", start_text), ("end", end_text)):
        if not text:
            problem(f"the {name} time is empty; give both start and end (a row with neither is a heading; "
                    f"`{END}` as the end time plays to the end of the source)")
            continue
        try:
            times[name] = parse_timecode(text)
        except TimecodeError as exc:
            problem(f"bad {name} time: {exc}")
    if "start" in times and times["start"].source_end:
        problem(f"the start is `{start_text}`: `{END}` is for the end time (to the end of the source); give the "
                "start as a time")
        del times["start"]
    part = None
    if cell("part"):
        part_text = cell("part")
        if part_text.isdigit() and int(part_text) >= 1:
            part = int(part_text)
        else:
            problem(f"part must be a whole number from 1 up (found '{part_text}')")
    if line in table.invalid_lines or len(times) < 2:
        table.invalid_lines.add(line)
        return
    start, end = times["start"], times["end"]
    if not start.needs_source and not end.needs_source and end.to_seconds() <= start.to_seconds():
        problem(f"the end ({end.text}) is not after the start ({start.text})")
        return
    extra = tuple(
        (header[i].strip(), cells[i].strip())
        for i in range(min(len(header), len(cells)))
        if header[i].strip() and header[i].strip().lower() not in _ALIASES and cells[i].strip()
    )
    table.rows.append(
        SceneRow(
            index=index,
            line=line,
            movie=movie,
            start=start,
            end=end,
            overlay=cell("overlay"),
            season_episode=cell("season_episode"),
            episode_title=cell("episode_title"),
            language=cell("language"),
            audio_title=cell("audio_title"),
            subtitles=cell("subtitles"),
            part=part,
            file=cell("file"),
            comment=cell("comment"),
            extra=extra,
        )
    )
