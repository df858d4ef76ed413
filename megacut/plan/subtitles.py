"""Which subtitles each scene carries, and its cues cut from its source's tracks.

Forced subtitles, always. They are the film's own translation of foreign or alien dialogue, and without
them that dialogue cannot be understood. They are looked for among the tracks in the language of the
scene's audio track (untagged tracks when none is tagged so), in this order:

1. a track with the forced flag;
2. a track whose title names it forced, foreign or signs ("English (Forced)", "Foreign parts only");
3. a track with far fewer cues than the fullest track of the language (``FEWER_CUES_RATIO``);
4. the forced pictures inside a full picture track (Blu-ray PGS and DVD VobSub mark each picture forced
   or not).

Text tracks are carried soft, flagged forced so players show them without being asked; forced pictures
are burned into the picture. A full track is carried when asked for, by the ``subtitles`` column or the
``--subtitles`` option (a language or a title, looked up as audio tracks are): text soft in every
container, PGS soft in Matroska only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from megacut.plan.probe import AudioTrack, SourceInfo
from megacut.plan.sources import normalize_language
from megacut.subtitles.cues import Cue, TrackCues
from megacut.subtitles.pgs import ImageCue, write_sup
from megacut.subtitles.tracks import PICTURE_CODECS, SubtitleTrack

FORCED_TITLE = re.compile(r"\b(forced|foreign|signs)\b", re.IGNORECASE)
# A track of the audio's language with at most this share of the cues of the language's fullest track is
# its forced track. A film's full track has 800-2000 cues and its SDH track more; its forced track, from a
# handful to about a hundred (under 10%); a commentary's subtitles, hundreds. A quarter keeps them apart.
FEWER_CUES_RATIO = 0.25
OFF = ("off", "none", "no")


@dataclass(frozen=True, slots=True)
class SubtitleChoice:
    """A scene's subtitle tracks and why each was chosen."""

    forced: SubtitleTrack | None = None
    forced_how: str = ""  # "forced flag", 'title "English (Forced)"', "12 cues, #1 has 1204", ...
    forced_pictures: bool = False  # the forced pictures of a full PGS track, not a track of their own
    full: SubtitleTrack | None = None
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        """``forced #2 eng SRT (forced flag); full #1 eng SRT`` for plan tables; "" when none."""
        parts = []
        if self.forced is not None:
            what = "forced pictures of" if self.forced_pictures else "forced"
            burned = ", burned in" if not self.forced.text else ""
            parts.append(f"{what} {self.forced.label()} ({self.forced_how}{burned})")
        if self.full is not None:
            parts.append(f"full {self.full.label()}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class SceneSubtitles:
    """What a scene shows of its subtitles, in scene time (0 = its first frame): the choice, the soft
    text cues of its forced and full tracks (with each track's form), the pictures burned into it, and
    the full PGS track's pictures (soft, Matroska only), kept as PGS: a whole film's are a thousand."""

    choice: SubtitleChoice
    forced: tuple[Cue, ...] = ()
    forced_style: str = ""  # "srt" or "ass"
    forced_header: str = ""  # its ASS script's header
    full: tuple[Cue, ...] = ()
    full_style: str = ""
    full_header: str = ""
    burned: tuple[ImageCue, ...] = ()  # forced pictures, drawn into the scene's picture
    full_pictures: bytes = b""  # PGS (pgs.write_sup), scene time
    full_picture_count: int = 0

    def for_render(self) -> SceneSubtitles:
        """What a scene's render needs of it: the pictures it burns in (a job carries no more to a worker)."""
        return SceneSubtitles(self.choice, burned=self.burned)


def _language_tracks(info: SourceInfo, audio: AudioTrack | None) -> list[SubtitleTrack]:
    language = normalize_language(audio.language) if audio is not None and audio.language else None
    tracks = info.subtitle_tracks
    same = [t for t in tracks if t.language and normalize_language(t.language) == language] if language else []
    return same or [t for t in tracks if not t.language]


def _count(cues: Mapping[int, TrackCues], track: SubtitleTrack) -> int | None:
    read = cues.get(track.index)
    return read.count if read is not None else None


def find_forced(info: SourceInfo, audio: AudioTrack | None, cues: Mapping[int, TrackCues]
                ) -> tuple[SubtitleTrack | None, str, bool]:
    """(the forced track, how it was found, whether it is the forced pictures of a full PGS track)."""
    candidates = _language_tracks(info, audio)
    for track in candidates:
        if track.forced:
            return track, "forced flag", False
    for track in candidates:
        if track.title and FORCED_TITLE.search(track.title):
            return track, f'title "{track.title}"', False
    counted = [(n, t) for t in candidates if (n := _count(cues, t))]
    if len(counted) >= 2:
        fewest, fullest = min(counted, key=lambda c: c[0]), max(counted, key=lambda c: c[0])
        if fewest[0] <= FEWER_CUES_RATIO * fullest[0]:
            return fewest[1], f"{fewest[0]} cues, {fullest[1].label().split()[0]} has {fullest[0]}", False
    for track in candidates:
        read = cues.get(track.index)
        if track.codec in PICTURE_CODECS and read is not None and read.forced_count:
            return track, f"{read.forced_count} forced pictures", True
    return None, "", False


def find_full(info: SourceInfo, request: str, forced: SubtitleTrack | None) -> tuple[SubtitleTrack | None, list[str]]:
    """The full track asked for by title (a part of it) or language, never the forced one; warnings."""
    tracks = [t for t in info.subtitle_tracks if t is not forced]
    wanted = request.casefold()
    by_title = [t for t in tracks if t.title and wanted in t.title.casefold()]
    language = normalize_language(request)
    by_language = [t for t in tracks if t.language and normalize_language(t.language) == language
                   and not t.forced and not (t.title and FORCED_TITLE.search(t.title))]
    found = by_title or sorted(by_language, key=lambda t: (not t.default, t.hearing_impaired, t.order))
    if found:
        return found[0], []
    listing = ", ".join(t.label() for t in info.subtitle_tracks) or "none"
    return None, [f'no subtitle track titled or in language "{request}" in {info.path.name} (subtitle tracks: '
                  f"{listing}); the scene has no full subtitles"]


def choose_subtitles(info: SourceInfo, audio: AudioTrack | None, cues: Mapping[int, TrackCues],
                     request: str = "") -> SubtitleChoice:
    """The forced track for ``audio``'s language, and the full track ``request`` names (a language or a
    title; "" or "off": none)."""
    forced, how, pictures = find_forced(info, audio, cues)
    warnings = []
    if forced is not None and not forced.readable:
        warnings.append(f"{info.path.name}: its forced subtitles ({forced.label()}) are {forced.format_name} "
                        "pictures, which megacut does not read: they are left out; convert them to SRT or PGS "
                        "(e.g. with Subtitle Edit) and mux them into the file")
        forced = None
    full = None
    if request and request.casefold() not in OFF:
        full, missed = find_full(info, request, None if pictures else forced)  # a full track's forced pictures: full
        warnings += missed
        if full is not None and not full.readable:
            warnings.append(f"{info.path.name}: its subtitle track {full.label()} holds {full.format_name} "
                            "pictures, which megacut does not read: it is left out")
            full = None
    # pictures are drawn now: a track whose pictures cannot be is said, and left out
    for track in dict.fromkeys(t for t in (forced, full) if t is not None):
        read = cues.get(track.index)
        if read is not None and (error := read.pictures_error()):
            warnings.append(f"{info.path.name}: its subtitle track {track.label()} cannot be read ({error}): it is "
                            "left out")
            forced, full = (None if forced is track else forced), (None if full is track else full)
    return SubtitleChoice(forced, how if forced else "", pictures and forced is not None, full, tuple(warnings))


def scene_subtitles(choice: SubtitleChoice, cues: Mapping[int, TrackCues], start_s: float,
                    duration_s: float) -> SceneSubtitles:
    """The cues of ``choice``'s tracks that show in the scene from ``start_s`` (source content time) lasting
    ``duration_s``: clipped to it and moved to scene time."""
    end_s = start_s + duration_s

    def texts(track: SubtitleTrack | None) -> tuple[tuple[Cue, ...], str, str]:
        read = cues.get(track.index) if track is not None else None
        if read is None or read.style == "pgs":
            return (), "", ""
        moved = (c.moved(start_s, end_s, -start_s) for c in read.cues)
        return tuple(c for c in moved if c is not None), read.style, read.header

    def pictures(track: SubtitleTrack | None, forced_only: bool) -> tuple[ImageCue, ...]:
        read = cues.get(track.index) if track is not None else None
        if read is None or read.style != "pgs":
            return ()
        shown = []
        for image in read.images:
            moved = image.shifted(-start_s, start_s, end_s)  # None outside the scene: most of a film's
            moved = moved.only_forced() if forced_only and moved is not None else moved
            if moved is not None:
                shown.append(moved)
        return tuple(shown)

    forced, forced_style, forced_header = texts(choice.forced)
    full, full_style, full_header = texts(choice.full)
    full_pictures = pictures(choice.full, False)
    return SceneSubtitles(choice, forced, forced_style, forced_header, full, full_style, full_header,
                          burned=pictures(choice.forced, choice.forced_pictures),
                          full_pictures=write_sup(full_pictures) if full_pictures else b"",
                          full_picture_count=len(full_pictures))
