"""Subtitle cues: read once per source, cut with its scenes, joined across a part, written as a part's track.

Reading. Every readable subtitle track of a source is read in one ffmpeg pass over the file (subtitle
packets lie all through it): SubRip, mov_text and WebVTT as SubRip (millisecond times), ASS/SSA as ASS
(its styles kept, centisecond times), PGS as its own packets (``.sup``, read by ``pgs``), VobSub as its
packets, parsed by ``vobsub`` and kept as PGS, which megacut handles from then on. ffmpeg writes
them in content time (the file's start time subtracted), the time scenes are given in. What was read is
kept in the cache folder under a key of the source's identity, its tracks and ffmpeg, so a source is read
once, whatever the runs and plans after.

Cutting. A scene carries the cues that overlap it: clipped to it, so a cue already on screen at the cut-in
shows from the scene's first frame and none runs past its end, and moved to scene time. The cues of a
part are the scenes' moved to where each scene starts in the part; a split scene's segments take nothing
from it, so they cannot change them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from megacut.errors import FFmpegError, SourceError
from megacut.ffmpeg import ffmpeg_version, input_file, output_file, run_ffmpeg
from megacut.files import write_json_atomic, writing
from megacut.subtitles.pgs import ImageCue, PgsError, composition_counts, read_sup, retimed, write_sup
from megacut.subtitles.tracks import PGS_CODEC, STYLED_CODECS, VOBSUB_CODEC, SubtitleTrack
from megacut.subtitles.vobsub import copy_outputs, pictures_in

READER_VERSION = 3  # bump when what is read from a track changes: cached readings are read again
READ_TIMEOUT_S = 3600.0
SRT, ASS = "srt", "ass"
ASS_EVENTS_FORMAT = "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"
DEFAULT_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\nScaledBorderAndShadow: yes\n\n"
    "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
    "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
    "Alignment, MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    f"[Events]\n{ASS_EVENTS_FORMAT}\n"
)


@dataclass(frozen=True, slots=True)
class Cue:
    """One text cue. ``text``: SubRip's text (lines joined by a newline), or an ASS event's fields but its
    times (``Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text``)."""

    start_s: float
    end_s: float
    text: str

    def moved(self, start_s: float, end_s: float, by_s: float) -> Cue | None:
        """The cue clipped to ``[start_s, end_s)`` and moved by ``by_s``; None when it does not show there."""
        begin, end = max(self.start_s, start_s), min(self.end_s, end_s)
        if end <= begin:
            return None
        return Cue(round(begin + by_s, 6), round(end + by_s, 6), self.text)


@dataclass(frozen=True)
class TrackCues:
    """What a subtitle track shows: text cues in SubRip or ASS form (``style``; ``header``: the ASS script's
    info and styles), or pictures (PGS, ``sup``: its packets, drawn only when its ``images`` are asked for:
    a film's track has a thousand pictures, and a disc many tracks, most of them never shown)."""

    style: str  # "srt", "ass", or "pgs"
    cues: tuple[Cue, ...] = ()
    header: str = ""
    sup: bytes = b""

    @functools.cached_property
    def images(self) -> tuple[ImageCue, ...]:
        return tuple(read_sup(self.sup)) if self.sup else ()

    def pictures_error(self) -> str:
        """Why its pictures cannot be drawn ("" when they can: they are drawn now, once)."""
        try:
            len(self.images)
        except ValueError as exc:
            return str(exc)
        return ""

    @property
    def count(self) -> int:
        return self._compositions[0] if self.style == "pgs" else len(self.cues)

    @property
    def forced_count(self) -> int:
        """How many of its pictures show forced objects (PGS marks them one by one)."""
        return self._compositions[1]

    @functools.cached_property
    def _compositions(self) -> tuple[int, int]:
        """(pictures shown, pictures with a forced object), from the PGS compositions alone (nothing drawn). A
        stream that cannot be read counts none, so it is never chosen for its counts; asked for by name,
        :meth:`pictures_error` says why it is left out."""
        try:
            return composition_counts(self.sup)
        except PgsError:
            return 0, 0


# ------------------------------------------------------------------ reading


def reading_key(path: Path, size_bytes: int, mtime_ns: int, tracks: Iterable[SubtitleTrack]) -> str:
    fields = [str(path), size_bytes, mtime_ns, [t.index for t in tracks], READER_VERSION, ffmpeg_version()]
    return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()[:32]


def _suffix(track: SubtitleTrack) -> str:
    return "sup" if track.codec in (PGS_CODEC, VOBSUB_CODEC) else ASS if track.codec in STYLED_CODECS else SRT


def read_args(path: Path, tracks: list[SubtitleTrack], folder: Path) -> list[str]:
    """One ffmpeg pass writing each track of ``tracks`` to ``folder/<index>.<srt|ass|sup>`` (a VobSub track: what
    ``vobsub`` reads), in the file's own times (``-copyts``): ffmpeg's default start, with the picture and
    sound not read, is the subtitles' own in some containers (MPEG-PS), which would move every cue."""
    args = ["-loglevel", "error", "-copyts", *input_file(path, "-vn", "-an", "-dn")]
    for track in tracks:
        if track.codec == VOBSUB_CODEC:
            args += copy_outputs(track.index, folder)
            continue
        suffix = _suffix(track)
        codec = "copy" if suffix == "sup" else suffix
        args += ["-map", f"0:{track.index}", "-c:s", codec, *output_file(folder / f"{track.index}.{suffix}", "-f", suffix)]
    return args


def read_subtitle_tracks(source, cache: Path | None = None, cancel=None) -> dict[int, TrackCues]:
    """The cues of each readable subtitle track of ``source`` (a probed SourceInfo) by stream index, in
    content time (its start time subtracted), from the cache folder ``cache`` when read before, else read
    now (and kept there). Raises SourceError naming the file when ffmpeg cannot."""
    path = source.path
    tracks = [t for t in source.subtitle_tracks if t.readable]
    if not tracks:
        return {}
    key = reading_key(path, source.size_bytes, source.mtime_ns, tracks)
    if cache is not None and (kept := _read_kept(cache, key)) is not None:
        return kept
    with tempfile.TemporaryDirectory(prefix="megacut-subtitles-") as scratch:
        folder = Path(scratch)
        try:
            run_ffmpeg(read_args(path, tracks, folder), cancel=cancel, timeout_s=READ_TIMEOUT_S)
        except FFmpegError as exc:
            raise SourceError(path.name, f"its subtitle tracks cannot be read ({str(exc).splitlines()[0]})") from None
        for track in tracks:
            try:
                if track.codec != VOBSUB_CODEC:
                    _to_content_time(folder / f"{track.index}.{_suffix(track)}", source.start_s)
                else:  # its pictures, in content time, kept as PGS
                    pictures = write_sup(pictures_in(folder, path, track.index, source.start_s))
                    (folder / f"{track.index}.sup").write_bytes(pictures)
            except ValueError as exc:
                raise SourceError(path.name, f"its subtitle track {track.label()} cannot be read ({exc})") from None
        files = {t.index: folder / f"{t.index}.{_suffix(t)}" for t in tracks}
        read = {index: parse_file(file) for index, file in files.items()}
        if cache is not None:
            _keep(cache, key, files)
    return read


def _to_content_time(file: Path, start_s: float) -> None:
    """A track ffmpeg wrote in the file's own times, moved to content time (``start_s`` earlier)."""
    if not start_s or not file.exists():
        return
    if file.suffix == ".sup":
        file.write_bytes(retimed(file.read_bytes(), -start_s))
        return
    track = parse_file(file)
    moved = [Cue(max(0.0, c.start_s - start_s), c.end_s - start_s, c.text) for c in track.cues if c.end_s > start_s]
    file.write_text(write_ass(track.header, moved) if track.style == ASS else write_srt(moved), encoding="utf-8")


def parse_file(file: Path) -> TrackCues:
    """A track as ffmpeg wrote it (``.srt``, ``.ass`` or ``.sup``); an empty track when it wrote nothing."""
    if file.suffix == ".sup":
        return TrackCues("pgs", sup=file.read_bytes() if file.exists() else b"")
    text = file.read_text(encoding="utf-8", errors="replace") if file.exists() else ""
    if file.suffix == ".ass":
        header, cues = parse_ass(text)
        return TrackCues(ASS, cues, header or DEFAULT_ASS_HEADER)
    return TrackCues(SRT, parse_srt(text))


def _keep(cache: Path, key: str, files: dict[int, Path]) -> None:
    """Keep the files ffmpeg wrote under ``cache/<key>/`` (an index last: a reading is whole or absent)."""
    folder = cache / key
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for index, file in files.items():
        if file.exists():
            with writing(folder / file.name) as temporary:
                temporary.write_bytes(file.read_bytes())
            names[str(index)] = file.name
    write_json_atomic(folder / "index.json", names)


def _read_kept(cache: Path, key: str) -> dict[int, TrackCues] | None:
    folder = cache / key
    try:
        names = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        return {int(index): parse_file(folder / name) for index, name in names.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return None


_SRT_TIME = r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})"
_SRT_TIMING = re.compile(rf"^\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}")
_ASS_TIME = re.compile(r"^(\d+):(\d\d):(\d\d)\.(\d\d)$")


def _seconds(h: str, m: str, s: str, fraction: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(fraction.ljust(3, "0")[:3]) / 1000


def parse_srt(text: str) -> tuple[Cue, ...]:
    """SubRip cues, in time order (as a player shows them)."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = block.strip("\n").split("\n")
        timing = next((n for n, line in enumerate(lines[:2]) if _SRT_TIMING.match(line)), None)
        if timing is None:
            continue
        groups = _SRT_TIMING.match(lines[timing]).groups()
        start, end = _seconds(*groups[:4]), _seconds(*groups[4:])
        if end > start:
            cues.append(Cue(start, end, "\n".join(lines[timing + 1:]).strip("\n")))
    return tuple(sorted(cues, key=lambda c: (c.start_s, c.end_s)))


def parse_ass(text: str) -> tuple[str, tuple[Cue, ...]]:
    """(the script's header up to its events' Format line, its Dialogue events as cues)."""
    header, cues, in_events = [], [], False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("Dialogue:"):
            fields = line[len("Dialogue:"):].strip().split(",", 9)
            if len(fields) == 10:
                start, end = _ass_seconds(fields[1]), _ass_seconds(fields[2])
                if start is not None and end is not None and end > start:
                    cues.append(Cue(start, end, ",".join([fields[0], *fields[3:]])))
            continue
        if not in_events:
            header.append(line)
            in_events = line.strip().startswith("Format:") and "[events]" in "\n".join(header).lower()
    return ("\n".join(header).strip("\n") + "\n" if header else ""), tuple(sorted(cues, key=lambda c: c.start_s))


def _ass_seconds(text: str) -> float | None:
    match = _ASS_TIME.match(text.strip())
    return _seconds(*match.groups()) if match else None


# ------------------------------------------------------------------ writing


def _srt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    return f"{cs // 360000:d}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def write_srt(cues: Iterable[Cue]) -> str:
    return "".join(f"{n}\n{_srt_time(c.start_s)} --> {_srt_time(c.end_s)}\n{c.text}\n\n"
                   for n, c in enumerate(cues, start=1))


def write_ass(header: str, cues: Iterable[Cue]) -> str:
    events = "".join(f"Dialogue: {c.text.split(',', 1)[0]},{_ass_time(c.start_s)},{_ass_time(c.end_s)},"
                     f"{c.text.split(',', 1)[1]}\n" for c in cues)
    return header + events


_SRT_TAGS = {"i": r"\i", "b": r"\b", "u": r"\u", "s": r"\s"}


def srt_as_ass(text: str) -> str:
    """A SubRip cue's text as an ASS event in the Default style: its lines and its i/b/u/s tags kept."""
    def tag(match: re.Match) -> str:
        closing, name = match.group(1), match.group(2).lower()
        return "{" + _SRT_TAGS[name] + ("0" if closing else "1") + "}" if name in _SRT_TAGS else ""

    body = re.sub(r"<(/?)\s*([a-zA-Z]+)[^>]*>", tag, text).replace("\n", r"\N")
    return f"0,Default,,0,0,0,,{body}"


def merge_ass(headers: list[str]) -> tuple[str, list[dict[str, str]]]:
    """One ASS header for cues from several scripts: the first script's info, every script's styles (a
    style named like an earlier one but drawn otherwise renamed "Name 2"), and a Default style. Returns
    it with, per script, the renames its events need."""
    styles: dict[str, str] = {}
    renames: list[dict[str, str]] = []
    for header in headers:
        mine: dict[str, str] = {}
        for line in header.split("\n"):
            if not line.startswith("Style:"):
                continue
            name, _, rest = line[len("Style:"):].strip().partition(",")
            wanted, n = name, 1
            while wanted in styles and styles[wanted] != rest:
                n += 1
                wanted = f"{name} {n}"
            styles[wanted] = rest
            if wanted != name:
                mine[name] = wanted
        renames.append(mine)
    base = headers[0] if headers else DEFAULT_ASS_HEADER
    default = DEFAULT_ASS_HEADER.split("Style: Default,", 1)[1].split("\n", 1)[0]
    styles.setdefault("Default", default)
    lines, in_styles = [], False
    for line in base.split("\n"):
        if line.startswith("Style:"):
            if not in_styles:
                in_styles = True
                lines += [f"Style: {name},{rest}" for name, rest in styles.items()]
            continue
        if line.strip().lower() == "[events]" and not in_styles:  # a script without styles: add them
            in_styles = True
            lines += [line for line in DEFAULT_ASS_HEADER.split("\n") if line.startswith(("[V4+", "Format: Name"))]
            lines += [f"Style: {name},{rest}" for name, rest in styles.items()] + [""]
        lines.append(line)
    return "\n".join(lines).rstrip("\n") + "\n", renames


def restyled(cue: Cue, renames: dict[str, str]) -> Cue:
    """An ASS cue with its style renamed as :func:`merge_ass` says."""
    layer, style, rest = (cue.text.split(",", 2) + ["", ""])[:3]
    return Cue(cue.start_s, cue.end_s, f"{layer},{renames.get(style, style)},{rest}") if style in renames else cue

