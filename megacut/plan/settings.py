"""Settings that decide what a rendered segment looks like, and parsers for option values.

:class:`Settings` holds everything that changes rendered output (so it feeds the
scene cache keys); how the work is executed (workers, executor, retries) lives
with the scheduler instead, so changing it never invalidates a rendered segment.
Parsers raise :class:`UsageError` with a message naming the option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from megacut.errors import UsageError
from megacut.plan.channels import CHOICES as CHANNEL_CHOICES
from megacut.plan.timecodes import TimecodeError, parse_duration, snap_fps

FIT_MODES = ("pad", "crop")
BACKENDS = ("ffmpeg", "moviepy")
OVERLAY_SECOND_LINES = ("title", "movie", "none")  # the first is the default
OVERLAY_MODES = ("burn", "soft", "both")  # the date overlay drawn into the picture, a subtitle track, or both
CONTAINERS = ("mp4", "mkv")  # the parts' container; MP4 is the default
# The loudness every source is brought to (render/loudness.py says why this one).
DEFAULT_LOUDNESS_LUFS = -27.0
# --dynamic-range: the output's pixel format. SDR is 8-bit H.264 (or the --video-codec); HDR is 10-bit HEVC,
# PQ, BT.2020 (libx265), the format by which every renderer knows it renders HDR.
OUTPUT_PIX_FMTS = {"sdr": "yuv420p", "hdr": "yuv420p10le"}
HDR_VIDEO_CODEC = "libx265"
RESOLUTION_NAMES = {"480p": (854, 480), "576p": (1024, 576), "720p": (1280, 720), "1080p": (1920, 1080),
                    "1440p": (2560, 1440), "2160p": (3840, 2160), "4k": (3840, 2160)}


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str = "none"  # "none" or "fade"
    duration_s: float = 0.0

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"fade:{self.duration_s:g}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that decides the rendered output (every field feeds the cache keys)."""

    resolution: tuple[int, int] | None = None  # None: what covers most of the planned duration
    fps: Fraction | None = None  # None: same rule
    fit: str = "pad"
    crf: int = 20
    preset: str = "medium"
    video_codec: str = "libx264"
    encoder_threads: int = 1  # per job, fixed so output never depends on the worker count (1: least CPU per second)
    segment_s: float = 30.0  # a longer scene is rendered as consecutive segments of about this length; 0: never
    overlay_duration_s: float = 3.0
    overlay_second_line: str = OVERLAY_SECOND_LINES[0]  # title, movie (the CSV cell as written) or none
    font: str | None = None
    font_size: int | None = None  # None: scaled to the output height
    transition: Transition = Transition()
    chunk_duration_s: float = 7200.0
    chunks: tuple[int, ...] | None = None  # None: every part
    section_cards: bool = False  # heading rows become title cards before the scene that follows them
    backend: str = "ffmpeg"
    effect: str | None = None  # "module:function", moviepy backend only
    effect_digest: str | None = None  # of the effect's source file: editing the effect re-renders
    copy: str = "off"  # smart copy: off, auto (copy what matches the output, render the rest), strict
    channels: str = "auto"  # the output's channel layout: auto (what covers most of the planned time), stereo, 5.1
    loudness: float | None = DEFAULT_LOUDNESS_LUFS  # every source's gain brings it here (LUFS); None: levels kept
    stereo_track: bool = True  # a 5.1 part also carries its stereo downmix, a second track
    dynamic_range: str = "sdr"  # the output's: sdr, or hdr (10-bit HEVC, PQ; needs video_codec libx265)
    container: str = "mp4"  # the parts': mp4, or mkv (Matroska: SRT/ASS and PGS subtitle tracks too)
    subtitles: str = "off"  # the full subtitle track of every scene (a language or title; the column overrides)
    overlay: str = "burn"  # the date overlay: burn (into the picture), soft (a subtitle track), both

    def __post_init__(self) -> None:
        check_dynamic_range(self.dynamic_range, self.video_codec, self.backend)

    @property
    def pix_fmt(self) -> str:
        """The output's pixel format, which its dynamic range decides."""
        return OUTPUT_PIX_FMTS[self.dynamic_range]


def parse_segment_duration(text: str) -> float:
    """``--segment-duration``: seconds (or 0 to render every scene whole)."""
    raw = text.strip()
    if raw in ("0", "0.0", "none", "off"):
        return 0.0
    try:
        seconds = parse_duration(raw)
    except TimecodeError as exc:
        raise UsageError(f"--segment-duration: {exc}") from None
    if not 0.5 <= seconds <= 3600:
        raise UsageError(f"--segment-duration: {text} is out of range; use 0.5 s to 1 h, or 0 to never split a scene")
    return seconds


def parse_channels(text: str) -> str:
    """``--channels``: auto, stereo or 5.1 (2 and 6 accepted)."""
    raw = text.strip().lower()
    value = {"2": "stereo", "6": "5.1", "surround": "5.1"}.get(raw, raw)
    if value not in CHANNEL_CHOICES:
        raise UsageError(f"--channels: '{text}' is not auto, stereo or 5.1")
    return value


def parse_loudness(text: str) -> float | None:
    """``--loudness``: a target in LUFS (-27, -23 LUFS), or off."""
    raw = text.strip().lower()
    if raw in ("off", "none", "0"):
        return None
    try:
        value = float(re.sub(r"\s*(lufs|lkfs)$", "", raw))
    except ValueError:
        raise UsageError(f"--loudness: '{text}' is not a loudness; write e.g. -27, -23 LUFS, or off") from None
    if not -40 <= value <= -10:
        raise UsageError(f"--loudness: {text} is out of range; use -40 to -10 LUFS, or off")
    return value


def parse_switch(option: str, text: str) -> bool:
    """An on/off option: on, off (yes, no, true, false)."""
    raw = text.strip().lower()
    if raw in ("on", "yes", "true", "1"):
        return True
    if raw in ("off", "no", "false", "0"):
        return False
    raise UsageError(f"{option}: '{text}' is not on or off")


def parse_fps(text: str) -> Fraction:
    raw = text.strip()
    try:
        value = Fraction(raw) if "/" in raw else snap_fps(raw)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--fps: '{text}' is not a frame rate; write e.g. 25, 29.97 or 30000/1001") from None
    if not (1 <= value <= 240):
        raise UsageError(f"--fps: {text} is out of range; use a rate from 1 to 240")
    return value


def parse_resolution(text: str) -> tuple[int, int]:
    raw = text.strip().lower()
    if raw in RESOLUTION_NAMES:
        return RESOLUTION_NAMES[raw]
    match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", raw)
    if not match:
        raise UsageError(f"--resolution: '{text}' is not WIDTHxHEIGHT; write e.g. 1920x1080 or 720p")
    width, height = int(match[1]), int(match[2])
    if not (16 <= width <= 8192 and 16 <= height <= 8192) or width % 2 or height % 2:
        raise UsageError(f"--resolution: {width}x{height} must be even numbers from 16 to 8192 (yuv420p)")
    return width, height


def parse_overlay_second_line(text: str) -> str:
    value = text.strip().lower()
    if value not in OVERLAY_SECOND_LINES:
        raise UsageError(f"--overlay-second-line: '{text}' is not {', '.join(OVERLAY_SECOND_LINES[:-1])} or "
                         f"{OVERLAY_SECOND_LINES[-1]}")
    return value


def parse_choice(option: str, text: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive); UsageError naming the option otherwise."""
    value = text.strip().lower()
    if value not in choices:
        raise UsageError(f"{option}: '{text}' is not {', '.join(choices[:-1])} or {choices[-1]}")
    return value


def parse_subtitles(text: str) -> str:
    """``--subtitles``: the full track every scene carries, by language ("eng", "English") or title; off."""
    value = text.strip()
    if not value:
        raise UsageError("--subtitles: give a language (eng, French), a track title, or off")
    return "off" if value.lower() in ("off", "none", "no") else value


def parse_chunks(text: str) -> tuple[int, ...]:
    """``1,3-5,7`` -> (1, 3, 4, 5, 7)."""
    numbers: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if not match:
            raise UsageError(f"--chunks: '{item or text}' is not a part number or range; write e.g. 1,3-5,7")
        first, last = int(match[1]), int(match[2] or match[1])
        if first < 1 or last < first:
            raise UsageError(f"--chunks: '{item}' is not a valid range; parts are numbered from 1, low-high")
        numbers.update(range(first, last + 1))
    return tuple(sorted(numbers))


def parse_chunk_duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except TimecodeError as exc:
        raise UsageError(f"--chunk-duration: {exc}") from None
    if seconds < 1:
        raise UsageError(f"--chunk-duration: '{text}' is shorter than a second; parts are usually ~2h")
    return seconds


def parse_transition(text: str) -> Transition:
    raw = text.strip().lower()
    if raw == "none":
        return Transition()
    match = re.fullmatch(r"fade(?::(\d+(?:\.\d+)?))?", raw)
    if not match:
        raise UsageError(f"--transition: '{text}' is not none, fade or fade:SECONDS")
    seconds = float(match[1]) if match[1] else 0.5
    if not 0 < seconds <= 10:
        raise UsageError("--transition: the fade must last more than 0 and at most 10 seconds")
    return Transition("fade", seconds)


def parse_int(option: str, text: str, *, lower: int, upper: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{option}: '{text}' is not a whole number") from None
    if not lower <= value <= upper:
        raise UsageError(f"{option}: {value} is out of range; use {lower} to {upper}")
    return value


def parse_positive_int(option: str, text: str, *, upper: int = 1024) -> int:
    return parse_int(option, text, lower=1, upper=upper)


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
               "t": 1024**4, "tb": 1024**4}


def parse_size(option: str, text: str) -> int:
    """``4G``, ``500MB``, ``1073741824`` -> bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text.strip())
    unit = match[2].lower() if match else None
    if not match or unit not in _SIZE_UNITS or float(match[1]) <= 0:
        raise UsageError(f"{option}: '{text}' is not a size; write e.g. 4G or 500M")
    return int(float(match[1]) * _SIZE_UNITS[unit])


def parse_non_negative_int(option: str, text: str, *, upper: int = 100) -> int:
    return parse_int(option, text, lower=0, upper=upper)


# Encoders whose output both the MOV segments and the MP4 parts can hold (VP9 and AV1 cannot go in MOV).
VIDEO_CODEC_FAMILIES = {"h264": ("libx264", "libopenh264", "h264_"), "hevc": ("libx265", "hevc_"),
                        "mpeg4": ("mpeg4", "libxvid")}


def check_dynamic_range(dynamic_range: str, video_codec: str, backend: str) -> None:
    """An HDR output is 10-bit HEVC from libx265, rendered by the ffmpeg backend; UsageError otherwise."""
    if dynamic_range not in OUTPUT_PIX_FMTS:
        raise UsageError(f"--dynamic-range: '{dynamic_range}' is not one of {', '.join(OUTPUT_PIX_FMTS)}")
    if dynamic_range == "hdr" and video_codec != HDR_VIDEO_CODEC:
        raise UsageError(f"--dynamic-range hdr writes 10-bit HEVC with {HDR_VIDEO_CODEC}: leave --video-codec out "
                         f"or give {HDR_VIDEO_CODEC} (not {video_codec})")
    if dynamic_range == "hdr" and backend != "ffmpeg":
        raise UsageError("--dynamic-range hdr is rendered by the ffmpeg backend only: leave --backend out")


def parse_video_codec(text: str) -> str:
    codec = text.strip()
    if any(codec == p or (p.endswith("_") and codec.startswith(p))
           for prefixes in VIDEO_CODEC_FAMILIES.values() for p in prefixes):
        return codec
    raise UsageError(f"--video-codec: '{text}' is not supported; megacut joins H.264, HEVC or MPEG-4 video "
                     "(libx264, the default; libx265; h264_nvenc and other hardware H.264/HEVC encoders)")


def parse_positive_seconds(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option}: '{text}' is not a number of seconds") from None
    if not 0 < value < 86400:
        raise UsageError(f"{option}: {text} must be more than 0 seconds")
    return value
