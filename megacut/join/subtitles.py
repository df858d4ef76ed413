"""A part's subtitle tracks: its scenes' cues moved to the part's time, one track per kind.

Kinds, in this order: the forced subtitles (flagged forced and default, so players show them without
being asked), the full subtitles asked for, the full track's pictures (PGS, Matroska only), and the
dates (the overlay's text as a soft track, ``--overlay soft|both``). A kind no scene of the part shows
is left out. A track's form follows its cues: ASS when a scene's cues come from an ASS track (their
styles merged, a clashing name renamed), else SubRip; MP4 parts carry either as mov_text, Matroska
parts as they are. The tracks are built from the plan alone, so their content is known before the
part renders: a change to them joins the part again and renders nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from megacut.ffmpeg import input_file
from megacut.plan.build import OutputFormat, Scene
from megacut.plan.settings import Settings
from megacut.render.overlay import scene_overlay
from megacut.subtitles.cues import ASS, SRT, Cue, merge_ass, restyled, srt_as_ass, write_ass, write_srt
from megacut.subtitles.pgs import read_sup, write_sup

FORCED, FULL, PICTURES, DATES = "Forced", "Full", "Full (pictures)", "Dates"


@dataclass(frozen=True, slots=True)
class PartTrack:
    """One subtitle track of a part: its name, its file's form ("srt", "ass" or "sup") and content."""

    name: str
    form: str
    content: bytes
    language: str | None
    forced: bool = False
    default: bool = False
    cues: int = 0
    first_s: float = 0.0  # when its first picture shows (PGS only: see subtitle_inputs)

    @property
    def digest(self) -> str:
        fields = f"{self.name}|{self.form}|{self.language}|{self.forced}|{self.default}|".encode()
        return hashlib.sha256(fields + self.content).hexdigest()[:16]


def _text_track(name: str, placed: list[tuple[float, tuple[Cue, ...], str, str]], language: str | None,
                forced: bool = False) -> PartTrack | None:
    """A track from (offset in the part, the scene's cues in scene time, their style, their ASS header)."""
    if not any(cues for _, cues, _, _ in placed):
        return None
    if all(style != ASS for _, cues, style, _ in placed if cues):
        moved = [Cue(c.start_s + offset, c.end_s + offset, c.text) for offset, cues, _, _ in placed for c in cues]
        return PartTrack(name, SRT, write_srt(moved).encode("utf-8"), language, forced, forced, len(moved))
    headers = list(dict.fromkeys(header for _, cues, style, header in placed if cues and style == ASS))
    header, renames = merge_ass(headers)
    moved = []
    for offset, cues, style, own in placed:
        for cue in cues:
            cue = restyled(cue, renames[headers.index(own)]) if style == ASS else Cue(
                cue.start_s, cue.end_s, srt_as_ass(cue.text))
            moved.append(Cue(cue.start_s + offset, cue.end_s + offset, cue.text))
    return PartTrack(name, ASS, write_ass(header, moved).encode("utf-8"), language, forced, forced, len(moved))


def _language(tracks: Iterable) -> str | None:
    languages = Counter(t.language for t in tracks if t is not None and t.language)
    return languages.most_common(1)[0][0] if languages else None


def part_tracks(placed: list[tuple[Scene, float]], fmt: OutputFormat, settings: Settings) -> tuple[PartTrack, ...]:
    """The subtitle tracks of a part whose scenes start at these offsets (seconds in the part)."""
    tracks = []
    forced = [(offset, s.subtitles.forced, s.subtitles.forced_style, s.subtitles.forced_header) for s, offset in placed]
    tracks.append(_text_track(FORCED, forced, _language(s.subtitles.choice.forced for s, _ in placed), forced=True))
    full = [(offset, s.subtitles.full, s.subtitles.full_style, s.subtitles.full_header) for s, offset in placed]
    full_language = _language(s.subtitles.choice.full for s, _ in placed)
    tracks.append(_text_track(FULL, full, full_language))
    pictures = [cue.shifted(offset, 0.0, s.duration_s) for s, offset in placed
                for cue in (read_sup(s.subtitles.full_pictures) if s.subtitles.full_pictures else ())]
    pictures = [p for p in pictures if p is not None]
    if pictures and settings.container == "mkv":
        tracks.append(PartTrack(PICTURES, "sup", write_sup(pictures), full_language, cues=len(pictures),
                                first_s=min(p.start_s for p in pictures)))
    if settings.overlay in ("soft", "both"):
        dates = []
        for scene, offset in placed:
            timing = scene_overlay(scene, fmt, settings, soft=True)
            if timing is not None:
                dates.append(Cue(offset, offset + timing.duration_s, "\n".join(scene.overlay_lines)))
        tracks.append(_text_track(DATES, [(0.0, tuple(dates), SRT, "")], None))
    return tuple(t for t in tracks if t is not None)


def subtitle_inputs(tracks: Iterable[PartTrack], folder: Path, first_input: int, container: str
                    ) -> tuple[list[str], list[str]]:
    """(input arguments, output arguments) that put ``tracks`` (written in ``folder``) in a part whose
    first subtitle input is input number ``first_input``: mapped, encoded as the container takes them
    (mov_text in MP4, as they are in Matroska), named, their language and flags set."""
    inputs, outputs = [], []
    for number, track in enumerate(tracks):
        path = folder / f"subtitles-{number}.{track.form}"
        path.write_bytes(track.content)
        # ffmpeg moves a PGS input's first picture to 0 (not a SubRip or ASS input's first cue): moved back
        offset = ["-itsoffset", f"{track.first_s:.6f}"] if track.form == "sup" else []
        inputs += input_file(path, *offset, "-f", track.form)
        name = ["handler_name" if container == "mp4" else "title", track.name]
        outputs += ["-map", f"{first_input + number}:s", f"-c:s:{number}", "mov_text" if container == "mp4" else "copy",
                    f"-metadata:s:s:{number}", f"{name[0]}={name[1]}",
                    f"-metadata:s:s:{number}", f"language={track.language or 'und'}",
                    f"-disposition:s:{number}", "+".join(f for f, on in (("default", track.default),
                                                                          ("forced", track.forced)) if on) or "0"]
    return inputs, outputs
