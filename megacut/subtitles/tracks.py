"""A source's subtitle tracks as ffmpeg describes them, what each kind of track can become, and how
messages name a track.

Text tracks (SubRip, ASS/SSA, mov_text, WebVTT) are cut and carried soft in every container: MP4 takes
them as mov_text, Matroska as SRT or ASS (ASS styles kept). Image tracks are pictures: Blu-ray PGS is
read by megacut (``pgs``), its forced objects burned into the picture and its full tracks carried soft in
Matroska only (MP4 has no sample entry for them). DVD VobSub is read too (``vobsub``) and handled as
PGS from then on: its forced pictures burned in, its full tracks written into Matroska parts as PGS. DVB
image tracks are listed but not read.
"""

from __future__ import annotations

from dataclasses import dataclass

# ffmpeg's codec names: text tracks megacut reads as cues, and image tracks by the name users know them by.
TEXT_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
STYLED_CODECS = frozenset({"ass", "ssa"})  # read as ASS (styles kept); the others as SubRip
PGS_CODEC = "hdmv_pgs_subtitle"
VOBSUB_CODEC = "dvd_subtitle"
PICTURE_CODECS = frozenset({PGS_CODEC, VOBSUB_CODEC})  # image tracks megacut reads, as pictures
IMAGE_CODECS = {PGS_CODEC: "PGS", VOBSUB_CODEC: "VobSub", "dvb_subtitle": "DVB"}


@dataclass(frozen=True, slots=True)
class SubtitleTrack:
    """One subtitle stream of a source."""

    index: int  # absolute stream index in the file (``-map 0:<index>``)
    order: int  # 0-based position among the subtitle streams
    codec: str  # ffmpeg's name: subrip, ass, mov_text, webvtt, hdmv_pgs_subtitle, dvd_subtitle ...
    language: str | None  # as tagged ("eng"); None when absent or "und"
    title: str | None
    forced: bool  # the forced flag (disposition)
    default: bool
    hearing_impaired: bool = False

    @property
    def text(self) -> bool:
        return self.codec in TEXT_CODECS

    @property
    def readable(self) -> bool:
        """Text, PGS or VobSub: megacut reads its cues."""
        return self.text or self.codec in PICTURE_CODECS

    @property
    def format_name(self) -> str:
        """The codec as users know it: SRT, ASS, mov_text, WebVTT, PGS, VobSub, DVB."""
        names = {"subrip": "SRT", "srt": "SRT", "ass": "ASS", "ssa": "SSA", "webvtt": "WebVTT", "text": "text"}
        return names.get(self.codec) or IMAGE_CODECS.get(self.codec) or self.codec

    def label(self) -> str:
        """``#2 eng "English (Forced)" SRT`` (numbered from 1 among subtitle tracks), for messages."""
        return " ".join([*numbered(self.order, self.language, self.title), self.format_name])


def numbered(order: int, language: str | None, title: str | None) -> list[str]:
    """How messages name a source's track, audio or subtitles: ``#2``, its language, its title in quotes."""
    return [f"#{order + 1}", *([language] if language else []), *([f'"{title}"'] if title else [])]
