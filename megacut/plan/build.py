"""From checked rows, probed sources and settings to a RenderPlan; pure, no I/O.

The plan fixes everything rendering needs: the output format, each scene's
exact source times, frame count and audio track, the parts and each scene's
place in its part. Rendering never decides order: it follows the plan. (Each
segment's key is the job's: ``megacut.render.jobs``.)
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Mapping

from megacut.errors import SourceLookupError
from megacut.ffmpeg import even
from megacut.plan.channels import LAYOUT_NAMES, choose_layout
from megacut.plan.probe import AudioTrack, SourceInfo
from megacut.plan.scenes import Heading, Problem, SceneRow, SceneTable, ordered_problems
from megacut.plan.settings import Settings
from megacut.plan.sources import choose_audio_track, movie_title
from megacut.plan.subtitles import SceneSubtitles, SubtitleChoice, choose_subtitles, scene_subtitles
from megacut.plan.timecodes import TimecodeError, format_seconds, format_timestamp
from megacut.subtitles.cues import TrackCues

AUDIO_SAMPLE_RATE = 48000
AUDIO_CHANNELS = 2
PART_NAME = "mega_cut_part_{n}.{container}"


@dataclass(frozen=True, slots=True)
class OutputFormat:
    width: int
    height: int
    fps: Fraction
    pix_fmt: str = "yuv420p"
    sample_rate: int = AUDIO_SAMPLE_RATE
    channels: int = AUDIO_CHANNELS

    def frames_for(self, seconds: float) -> int:
        return round(seconds * self.fps.numerator / self.fps.denominator)

    def seconds_for(self, frames: int) -> float:
        return frames * self.fps.denominator / self.fps.numerator

    def samples_for(self, frames: int) -> int:
        """Audio samples matching ``frames`` of video (±half a sample, whatever the scene's position)."""
        return round(frames * self.sample_rate / self.fps)

    def __str__(self) -> str:
        fps = f"{float(self.fps):.3f}".rstrip("0").rstrip(".")
        return f"{self.width}x{self.height} @ {fps} fps, {LAYOUT_NAMES.get(self.channels, self.channels)} sound"


def fitted_size(width: int, height: int, fmt: OutputFormat, fit: str) -> tuple[int, int]:
    """Size of a width x height (display) picture scaled to fit (``pad``) or cover (``crop``) the frame;
    the same numbers as the ffmpeg renderer's scale expressions (render/scene_ffmpeg.py, fit_filters)."""
    dar = width / height
    wide = dar >= fmt.width / fmt.height
    if (fit == "crop") != wide:  # pad a wide picture, or crop a tall one: full width
        return fmt.width, even(fmt.width / dar)
    return even(fmt.height * dar), fmt.height


@dataclass(frozen=True, slots=True)
class Scene:
    """One valid scene, ready to render."""

    index: int  # position among the CSV's scene rows
    line: int
    row: SceneRow
    source: SourceInfo
    start_s: float  # in the source's content time
    end_s: float
    frames: int  # output frames
    duration_s: float  # frames / fps
    audio: AudioTrack | None
    overlay_lines: tuple[str, ...]  # empty: no overlay
    part: int
    offset_s: float  # where the scene starts in its part
    fade_in_s: float
    fade_out_s: float
    warnings: tuple[str, ...]
    subtitles: SceneSubtitles = SceneSubtitles(SubtitleChoice())  # its forced and full subtitles, scene time

    @property
    def name(self) -> str:
        return f"scene {self.index + 1} (line {self.line})"


@dataclass(frozen=True, slots=True)
class Part:
    number: int
    scenes: tuple[Scene, ...]
    selected: bool
    container: str = "mp4"

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.scenes)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.scenes)

    @property
    def filename(self) -> str:
        return PART_NAME.format(n=self.number, container=self.container)

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(s.source.path.name for s in self.scenes))


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A scene row that cannot be rendered, with the reasons."""

    index: int
    line: int
    movie: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RenderPlan:
    csv_path: Path
    settings: Settings
    format: OutputFormat
    format_note: str
    parts: tuple[Part, ...]
    headings: tuple[Heading, ...]
    problems: tuple[Problem, ...]
    rejected: tuple[RejectedRow, ...]
    found_by: Mapping[int, str] = field(default_factory=dict)  # line -> how its source was found, when not exact
    invalid_lines: tuple[int, ...] = ()  # the scene rows that cannot render, whatever the reason (skipped)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def scenes(self) -> list[Scene]:
        return [s for part in self.parts for s in part.scenes]

    @property
    def selected_parts(self) -> list[Part]:
        return [p for p in self.parts if p.selected]


@dataclass(frozen=True, slots=True)
class _Timed:
    """A row whose source is known and whose times are checked; format not yet chosen."""

    row: SceneRow
    source: SourceInfo
    start_s: float
    end_s: float


def _source_warnings(source: SourceInfo, settings: Settings) -> list[str]:
    """What the output will not fix about a source, said once, at its first scene."""
    warnings = []
    if source.hdr and settings.backend == "moviepy":
        warnings.append(f"{source.path.name} is {source.dynamic_range.signal}; the moviepy backend does not "
                        "tone-map (the ffmpeg backend does), so its scenes will look dull and washed out")
    if source.interlaced and settings.backend == "moviepy":
        warnings.append(f"{source.path.name} is interlaced; the moviepy backend does not deinterlace (the ffmpeg "
                        "backend does), so moving edges will show combing")
    return warnings


def build_plan(table: SceneTable, sources: Mapping[int, SourceInfo | str | SourceLookupError],
               settings: Settings, subtitle_cues: Mapping[Path, Mapping[int, TrackCues]] | None = None) -> RenderPlan:
    """Plan ``table`` given each row's source (keyed by line; a string or a lookup error is why it has none)
    and the cues of the sources' subtitle tracks (by source path, then stream index; plan/prepare.py)."""
    subtitle_cues = subtitle_cues or {}
    problems = list(table.problems)
    reasons: dict[int, list[str]] = {}

    def reject(row: SceneRow, message: str, advice: str = "") -> None:
        problems.append(Problem(message, str(table.path), row.line, advice=advice))
        reasons.setdefault(row.line, []).append(message)

    timed: list[_Timed] = []
    for row in table.rows:
        source = sources.get(row.line, "its source was not looked up")
        if isinstance(source, SourceLookupError):
            reject(row, source.what, source.advice)
            continue
        if isinstance(source, str):
            reject(row, source)
            continue
        result = _check_times(row, source)
        if isinstance(result, str):
            reject(row, result)
        else:
            timed.append(result)

    audio_choices = {item.row.line: choose_audio_track(item.source, title=item.row.audio_title or None,
                                                       language=item.row.language or None) for item in timed}
    fmt, format_note = choose_format(timed, settings, {line: track for line, (track, _) in audio_choices.items()})
    subtitle_choices = {}
    for item in timed:
        choice = choose_subtitles(item.source, audio_choices[item.row.line][0],
                                  subtitle_cues.get(item.source.path, {}), item.row.subtitles or settings.subtitles)
        subtitle_choices[item.row.line] = choice
        if choice.full is not None and not choice.full.text and settings.container != "mkv":
            reject(item.row, f"the full subtitle track asked for, {choice.full.label()} of {item.source.path.name}, "
                             "holds pictures, which MP4 parts cannot carry",
                   "render Matroska parts (--container mkv), or ask for a text track (the subtitles column)")
    valid: list[tuple[_Timed, int]] = []
    for item in timed:
        if item.row.line in reasons:
            continue
        frames = fmt.frames_for(item.end_s - item.start_s)
        if frames < 1:
            reject(item.row, f"the scene lasts {item.end_s - item.start_s:.3f} s, shorter than one frame at "
                             f"{float(fmt.fps):g} fps; widen it or remove the row")
        else:
            valid.append((item, frames))

    part_numbers, part_problems = assign_parts([(t.row, frames) for t, frames in valid], fmt, settings)
    for row, message, severity in part_problems:
        problems.append(Problem(message, str(table.path), row.line, severity))
        if severity == "error":
            reasons.setdefault(row.line, []).append(message)
    scenes = []
    warned: set[Path] = set()
    for (item, frames), part in zip(valid, part_numbers):
        if item.row.line in reasons:
            continue
        if item.source.path not in warned:
            warned.add(item.source.path)
            for message in _source_warnings(item.source, settings):
                problems.append(Problem(message, str(table.path), item.row.line, "warning"))
        audio, audio_warnings = audio_choices[item.row.line]
        choice = subtitle_choices[item.row.line]
        for warning in (*audio_warnings, *choice.warnings):
            problems.append(Problem(warning, str(table.path), item.row.line, "warning"))
        scenes.append((item, frames, part, audio, tuple(audio_warnings), choice))

    parts = _make_parts(scenes, fmt, settings, subtitle_cues)
    problems.extend(_check_chunk_selection(parts, settings))
    rejected = tuple(
        RejectedRow(index=r.index, line=r.line, movie=r.movie, reasons=tuple(reasons[r.line]))
        for r in table.rows
        if r.line in reasons
    )
    return RenderPlan(
        csv_path=table.path,
        settings=settings,
        format=fmt,
        format_note=format_note,
        parts=parts,
        headings=tuple(table.headings),
        problems=ordered_problems(problems),
        rejected=rejected,
        invalid_lines=tuple(sorted(table.invalid_lines | {r.line for r in rejected})),
    )


def _check_times(row: SceneRow, source: SourceInfo) -> _Timed | str:
    """Source-relative checks: frame timecodes, end after start, within the source's length."""
    try:
        start_s = row.start.to_seconds(source.fps)
        end_s = row.end.to_seconds(source.fps, source.duration_s)
    except TimecodeError as exc:
        return f"bad time: {exc}"
    name = source.path.name
    if refusal := source.dynamic_range.unsupported:
        return f"{name} {refusal}"
    length = format_timestamp(source.duration_s)
    if end_s <= start_s:
        return f"the end ({row.end.text}) is not after the start ({row.start.text})"
    if start_s >= source.duration_s:
        return f"the start ({row.start.text}) is past the end of {name}, which lasts {length}"
    # Up to one source frame of slack: a time read off the last frame's display is still valid.
    if end_s > source.duration_s + float(1 / source.fps):
        return (f"the end ({row.end.text}) is past the end of {name}, which lasts {length}; "
                f"use {length} or less")
    return _Timed(row=row, source=source, start_s=start_s, end_s=min(end_s, source.duration_s))


def choose_format(timed: list[_Timed], settings: Settings,
                  tracks: Mapping[int, AudioTrack | None] | None = None) -> tuple[OutputFormat, str]:
    """Resolution, frame rate and channel layout: the settings', else those covering most of the planned time
    (``tracks``: each row's chosen audio track, by line)."""
    by_size: Counter = Counter()
    by_fps: Counter = Counter()
    for item in timed:
        length = item.end_s - item.start_s
        by_size[(item.source.width, item.source.height)] += length
        by_fps[item.source.fps] += length
    total = sum(by_size.values()) or 1.0
    notes = []

    def pick(given, given_note: str, covered: Counter, default, note):
        """The option's value, else the value covering most of the planned time, else ``default``."""
        if given:
            notes.append(given_note)
            return given
        if not covered:
            return default
        value = max(covered, key=lambda k: (covered[k], k))
        notes.append(note(value, covered[value] / total))
        return value

    size = pick(settings.resolution, "resolution from --resolution", by_size, (1280, 720),
                lambda s, share: f"{s[0]}x{s[1]} covers {share:.0%} of the planned time")
    fps = pick(settings.fps, "frame rate from --fps", by_fps, Fraction(25),
               lambda f, share: f"{float(f):g} fps covers {share:.0%}")
    width, height = (size[0] + 1) // 2 * 2, (size[1] + 1) // 2 * 2
    tracks = tracks or {}
    channels, channels_note = choose_layout(
        [(track.channels if (track := tracks.get(item.row.line)) else 0, item.end_s - item.start_s) for item in timed],
        settings.channels)
    notes.append(channels_note)
    return OutputFormat(width=width, height=height, fps=fps, channels=channels,
                        pix_fmt=settings.pix_fmt), "; ".join(notes)


def assign_parts(rows: list[tuple[SceneRow, int]], fmt: OutputFormat, settings: Settings):
    """Part number per (row, frames), and (row, message, severity) problems.

    With a ``part`` column the rows say where they go (an empty cell continues
    the part of the row above); otherwise scenes are packed in order into parts
    of at most ``chunk_duration_s``, never splitting a scene. Packing counts
    whole frames, so it is exact.
    """
    problems = []
    if any(row.part is not None for row, _ in rows):
        numbers, current = [], None
        for row, _ in rows:
            current = row.part if row.part is not None else current
            if current is None:
                problems.append((row, "no part number, but other rows give one; give this row a part "
                                      "(rows below it without one follow it)", "error"))
            numbers.append(current)
        return numbers, problems
    numbers, part, filled = [], 1, 0
    limit = int(settings.chunk_duration_s * fmt.fps.numerator // fmt.fps.denominator)
    for row, frames in rows:
        if filled and filled + frames > limit:
            part, filled = part + 1, 0
        if frames > limit:
            problems.append((row, f"the scene lasts {format_seconds(fmt.seconds_for(frames))}, longer than "
                                  f"--chunk-duration {format_seconds(settings.chunk_duration_s)}; it fills part "
                                  f"{part} on its own", "warning"))
        numbers.append(part)
        filled += frames
    return numbers, problems


def _make_parts(scenes, fmt: OutputFormat, settings: Settings,
                subtitle_cues: Mapping[Path, Mapping[int, TrackCues]]) -> tuple[Part, ...]:
    grouped: dict[int, list] = {}
    for entry in scenes:
        grouped.setdefault(entry[2], []).append(entry)
    selected = set(settings.chunks) if settings.chunks else None
    parts = []
    for number in sorted(grouped):
        entries = grouped[number]
        offset_frames = 0
        made = []
        for position, (item, frames, part, audio, warnings, choice) in enumerate(entries):
            fade = settings.transition.duration_s if settings.transition.kind == "fade" else 0.0
            scene = Scene(
                index=item.row.index,
                line=item.row.line,
                row=item.row,
                source=item.source,
                start_s=item.start_s,
                end_s=item.end_s,
                frames=frames,
                duration_s=fmt.seconds_for(frames),
                audio=audio,
                overlay_lines=overlay_lines(item.row, item.source, settings),
                part=number,
                offset_s=fmt.seconds_for(offset_frames),
                fade_in_s=min(fade, fmt.seconds_for(frames) / 2) if position > 0 else 0.0,
                fade_out_s=min(fade, fmt.seconds_for(frames) / 2) if position < len(entries) - 1 else 0.0,
                warnings=warnings,
                subtitles=scene_subtitles(choice, subtitle_cues.get(item.source.path, {}), item.start_s,
                                          fmt.seconds_for(frames)),
            )
            made.append(scene)
            offset_frames += frames
        parts.append(Part(number=number, scenes=tuple(made), selected=selected is None or number in selected,
                          container=settings.container))
    return tuple(parts)


def _check_chunk_selection(parts: tuple[Part, ...], settings: Settings) -> list[Problem]:
    if not settings.chunks:
        return []
    existing = {p.number for p in parts}
    missing = [n for n in settings.chunks if n not in existing]
    if not missing:
        return []
    have = ", ".join(str(n) for n in sorted(existing)) or "none"
    listed = ", ".join(str(n) for n in missing)
    return [Problem(f"--chunks asks for part {listed}, but the plan has parts: {have}")]


_EPISODE = re.compile(r"^\s*(?:s(\d+)\s*e(\d+)|(\d+)\s*[x.]\s*(\d+))\s*$", re.IGNORECASE)


def episode_code(text: str) -> str:
    """``3.19``, ``3x19``, ``S03E19`` -> ``S03E19``; anything else is returned as written."""
    match = _EPISODE.match(text)
    if not match:
        return text.strip()
    season, episode = (int(g) for g in match.groups() if g is not None)
    return f"S{season:02d}E{episode:02d}"


def overlay_lines(row: SceneRow, source: SourceInfo, settings: Settings) -> tuple[str, ...]:
    """The overlay's text: the placement, then (``--overlay-second-line``) the movie or show, episode code
    and title, the movie or show being its title ("title") or the ``movie`` cell as written ("movie")."""
    if not row.overlay:
        return ()
    if settings.overlay_second_line == "none":
        return (row.overlay,)
    name = row.movie or source.path.stem
    if settings.overlay_second_line == "title":
        name = movie_title(name)
    second = " · ".join(x for x in (name, episode_code(row.season_episode), row.episode_title) if x)
    return (row.overlay, second)
