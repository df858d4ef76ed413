"""Probing source files: duration, start offset, picture, frame rate and audio tracks, from ffmpeg -i.

Probing runs ``ffmpeg -i FILE`` once (there is no ffprobe) and parses the stream
description ffmpeg prints on stderr. Durations are *content* durations: the time
from the file's first timestamp (``start_s``) to the end of its last frame, which
is what input seeking (``-ss`` before ``-i``) counts from. How ffmpeg's printed
``Duration`` relates to that depends on the container (checked with files made
with ``-output_ts_offset`` and compared with a packet scan):

* Matroska/WebM and NUT print the *end* timestamp (it includes the start offset):
  content = Duration - start.
* MP4/MOV, MPEG-TS, MPEG-PS, AVI, FLV print the content length: content = Duration.
* ``Duration: N/A`` (MediaRecorder WebM, unfinished files) or a duration
  "estimated from bitrate": the video packets are read once (no decoding) and
  content = end of the last packet - start.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from megacut.errors import FFmpegError, SourceError
from megacut.ffmpeg import even, input_file, run_ffmpeg
from megacut.plan.ffmpeg_dump import (
    DIMENSIONS_RE,
    RATE_RE,
    ROTATION_RE,
    SAR_RE,
    Dump,
    Stream,
    parse_input_dump,
)
from megacut.plan.dynamic_range import SDR, DynamicRange, dynamic_range, needs_frame_metadata
from megacut.plan.timecodes import snap_fps
from megacut.subtitles.tracks import SubtitleTrack, numbered

PROBE_TIMEOUT_S = 120.0
MEASURE_TIMEOUT_S = 3600.0
FALLBACK_FPS = Fraction(25)
MAX_PLAUSIBLE_FPS = 480
# Demuxers whose Duration is the end timestamp rather than the content length.
END_TIMESTAMP_CONTAINERS = ("matroska", "webm", "nut")
STILL_IMAGE_CONTAINERS = ("image2", "image2pipe")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """One audio stream of a source, as ffmpeg describes it."""

    index: int  # absolute stream index in the file (for `-map 0:<index>`)
    order: int  # 0-based position among the audio streams (`0:a:<order>`)
    codec: str
    language: str | None  # tag as written in the file ("eng", "fre"); None if absent or "und"
    title: str | None
    channels: int  # 0 when ffmpeg did not say
    sample_rate: int  # Hz, 0 when ffmpeg did not say
    default: bool
    layout: str = ""  # ffmpeg's name of its channel layout ("5.1(side)", "stereo", "6 channels"), "" unknown

    def label(self) -> str:
        """Short description for messages: ``#1 eng "Main"`` (numbered from 1 among audio tracks)."""
        parts = numbered(self.order, self.language, self.title)
        if len(parts) == 1:
            parts.append(f"({self.codec}, {self.channels} ch)" if self.channels else f"({self.codec})")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What megacut needs to know about a source file to cut scenes from it."""

    path: Path  # absolute, resolved
    size_bytes: int
    mtime_ns: int
    container: str  # ffmpeg's demuxer name, e.g. "matroska,webm"
    duration_s: float  # content duration, from start_s to the end of the last frame
    start_s: float  # container start time (non-zero for some MKV/TS/WebM)
    duration_measured: bool  # True when the duration was measured by reading packets
    video_index: int  # absolute index of the video stream used
    video_codec: str
    pix_fmt: str
    width: int  # display width: rotation and sample aspect ratio applied, even
    height: int  # display height, same
    rotation: int  # clockwise degrees, 0..359 (like the legacy `rotate` tag)
    fps: Fraction
    audio_tracks: tuple[AudioTrack, ...]
    color_matrix: str = ""  # ffmpeg's colour-space tag ("bt709", "smpte170m" ...), "" when untagged
    color_transfer: str = ""  # its transfer tag ("bt709", "smpte2084" for HDR10 ...), "" when untagged
    interlaced: bool = False  # ffmpeg reports a field order ("top first" ...): DVD, broadcast, DV
    dynamic_range: DynamicRange = SDR  # SDR, or which HDR and its light levels
    subtitle_tracks: tuple[SubtitleTrack, ...] = ()

    @property
    def hdr(self) -> bool:
        """PQ (HDR10, HDR10+, Dolby Vision) or HLG: tone-mapped into an SDR output."""
        return self.dynamic_range.hdr

    @property
    def default_audio(self) -> AudioTrack | None:
        """The first track with the default disposition, else the first track, else None."""
        for track in self.audio_tracks:
            if track.default:
                return track
        return self.audio_tracks[0] if self.audio_tracks else None


# ------------------------------------------------------------- stream values


def layout_channels(layout: str) -> int:
    """Channel count of an ffmpeg channel layout name: "5.1(side)" -> 6, "3 channels" -> 3; 0 if unknown."""
    text = layout.strip().lower()
    if match := re.match(r"^(\d+) channels?\b", text):
        return int(match.group(1))
    base = re.sub(r"\(.*\)$", "", text).strip()
    named = {"mono": 1, "stereo": 2, "downmix": 2, "binaural": 2, "quad": 4, "hexagonal": 6,
             "octagonal": 8, "cube": 8, "hexadecagonal": 16}
    if base in named:
        return named[base]
    if re.fullmatch(r"\d+(?:\.\d+)+", base):  # 5.1 -> 6, 7.1.4 -> 12, 22.2 -> 24
        return sum(int(part) for part in base.split("."))
    if match := re.fullmatch(r"ambisonic (\d+)", base):
        return (int(match.group(1)) + 1) ** 2
    return 0


def _stream_fps(fields: list[str]) -> Fraction:
    """The stream's frame rate: "N fps" if plausible, else "N tbr", else 25."""
    rates = {}
    for item in fields:
        match = RATE_RE.match(item)
        if match:
            rates.setdefault(match.group(3), match.group(1) + match.group(2))
    for kind in ("fps", "tbr"):
        if kind in rates:
            fps = snap_fps(rates[kind])
            if 0 < fps <= MAX_PLAUSIBLE_FPS:
                return fps
    return FALLBACK_FPS


def _rotation(stream: Stream) -> int:
    """Clockwise rotation from the display matrix ("rotation of -90.00 degrees" = 90) or a rotate tag."""
    for line in stream.side_data:
        match = ROTATION_RE.search(line)
        if match:
            return round(-float(match.group(1))) % 360
    tag = stream.metadata.get("rotate", "").strip()
    if re.fullmatch(r"-?\d+(?:\.\d+)?", tag):
        return round(float(tag)) % 360
    return 0


def _display_size(fields: list[str], rotation: int) -> tuple[int, int] | None:
    """Width and height as displayed: SAR applied to the width, swapped for 90/270 rotation."""
    size = next((m for m in (DIMENSIONS_RE.match(f) for f in fields[1:]) if m), None)
    if size is None or int(size.group(1)) == 0 or int(size.group(2)) == 0:
        return None
    width, height = int(size.group(1)), int(size.group(2))
    sar = SAR_RE.search(" ".join(fields[1:]))
    if sar and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
        width = width * int(sar.group(1)) / int(sar.group(2))
    width, height = max(2, even(width)), max(2, even(height))
    return (height, width) if rotation % 180 == 90 else (width, height)


def _pix_fmt(fields: list[str]) -> str:
    if len(fields) < 2 or DIMENSIONS_RE.match(fields[1]):
        return "unknown"
    match = re.match(r"^([A-Za-z0-9_]+)", fields[1])
    return match.group(1) if match else "unknown"


_COLOR_SPACES = frozenset({"gbr", "bt709", "fcc", "bt470bg", "smpte170m", "smpte240m", "ycgco", "bt2020nc", "bt2020c",
                           "smpte2085", "chroma-derived-nc", "chroma-derived-c", "ictcp", "ipt-c2", "ycgco-re",
                           "ycgco-ro"})


def _pix_fmt_details(fields: list[str]) -> list[str]:
    """The items in the pixel format's parentheses: "yuv420p(tv, bt709, top first)" -> ["tv", "bt709", ...]."""
    match = re.match(r"^[A-Za-z0-9_]+\((?P<inner>[^)]*)\)", fields[1]) if len(fields) > 1 else None
    return match["inner"].split(", ") if match else []


def _color_tags(fields: list[str]) -> tuple[str, str]:
    """(colour space, transfer) tags in "yuv420p(tv, bt2020nc/bt2020/smpte2084, progressive)" ("bt709"
    alone when all three agree); "" for what is not tagged."""
    for token in _pix_fmt_details(fields):
        parts = token.split("/")
        if parts[0] in _COLOR_SPACES:
            transfer = parts[2] if len(parts) == 3 else parts[0]
            return parts[0], "" if transfer in ("unknown", "reserved") else transfer
    return "", ""


def _interlaced(fields: list[str]) -> bool:
    """Whether "yuv420p(tv, smpte170m, top first)" names a field order (top/bottom first, coded or not)."""
    return any(re.match(r"(top|bottom)( coded)? first\b", token) for token in _pix_fmt_details(fields))


def _codec_tag(fields: list[str]) -> str:
    """The container's codec tag: "dvh1" in "hevc (Main 10) (dvh1 / 0x31687664)"; "" when not printed."""
    match = re.search(r"\((\w{4}) / 0x[0-9A-Fa-f]+\)", fields[0]) if fields else None
    return match.group(1).lower() if match else ""


def _first_frame_text(path: Path, video_index: int) -> str:
    """What ``showinfo`` prints for the first decoded frame of the video stream (its SEI side data: mastering
    display, content light levels, HDR10+); "" when it cannot be decoded."""
    args = [*input_file(path, "-threads", "1"), "-map", f"0:{video_index}", "-frames:v", "1", "-vf", "showinfo",
            "-f", "null", "-"]
    try:
        return run_ffmpeg(args, check=False, timeout_s=PROBE_TIMEOUT_S).stderr
    except FFmpegError:
        return ""


def stream_dynamic_range(video: Stream, frame_text: str = "") -> DynamicRange:
    """The video stream's dynamic range from its description (and its first frame's ``showinfo`` text)."""
    return dynamic_range(_color_tags(video.fields)[1], _codec_tag(video.fields), video.side_data, frame_text)


def _dynamic_range(path: Path, video: Stream) -> DynamicRange:
    """The stream's dynamic range; for an HDR stream whose description lacks its light levels, read from
    its first frame too (one more ffmpeg run, for HDR sources only)."""
    tags = (_color_tags(video.fields)[1], _codec_tag(video.fields), video.side_data)
    return stream_dynamic_range(video, _first_frame_text(path, video.index) if needs_frame_metadata(*tags) else "")


def _codec(fields: list[str]) -> str:
    return fields[0].split()[0] if fields and fields[0].split() else "unknown"


def _audio_track(stream: Stream, order: int) -> AudioTrack:
    fields = stream.fields
    hz = next((i for i, f in enumerate(fields) if re.fullmatch(r"\d+ Hz", f)), None)
    sample_rate = int(fields[hz].split()[0]) if hz is not None else 0
    layout = fields[hz + 1] if hz is not None and hz + 1 < len(fields) else ""
    title = stream.metadata.get("title", "").strip() or None
    return AudioTrack(index=stream.index, order=order, codec=_codec(fields), language=stream.language,
                      title=title, channels=layout_channels(layout), sample_rate=sample_rate,
                      default="default" in stream.dispositions, layout=layout.strip())


def _subtitle_track(stream: Stream, order: int) -> SubtitleTrack:
    return SubtitleTrack(index=stream.index, order=order, codec=_codec(stream.fields), language=stream.language,
                         title=stream.metadata.get("title", "").strip() or None,
                         forced="forced" in stream.dispositions, default="default" in stream.dispositions,
                         hearing_impaired="hearing impaired" in stream.dispositions)


def _video_stream(dump: Dump) -> Stream | None:
    """The first video stream that is not cover art."""
    return next((s for s in dump.streams if s.kind == "video"
                 and not s.dispositions & {"attached pic", "timed thumbnails"}), None)


# ------------------------------------------------------------------ probing


def _unreadable_message(stderr: str) -> str:
    """A sentence for a file ffmpeg could not open, with ffmpeg's own reason."""
    reasons = []
    for line in stderr.replace("\r", "\n").splitlines():
        text = re.sub(r"^\[[^\]]*\]\s*", "", line.strip())
        text = re.sub(r"^Error opening input files?:\s*", "", text)
        if not text or text.startswith("Error opening input file ") or "misdetection possible" in text \
                or text.startswith("Truncating packet"):
            continue
        text = re.sub(r"^Error opening input:\s*", "", text)
        if text not in reasons:
            reasons.append(text)
    detail = "; ".join(reasons[-2:]) or "no reason given"
    hint = ""
    if "moov atom not found" in stderr:
        hint = " (the file looks incomplete: an interrupted download or copy?)"
    return f"not a video file ffmpeg can read{hint}: {detail}"


def _stat_source(path: Path) -> os.stat_result:
    """Stat a source, raising SourceError for a missing, folder or unreadable path."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SourceError(path, "file not found") from None
    except OSError as exc:
        raise SourceError(path, f"cannot be read: {exc.strerror or exc}") from None
    if path.is_dir():
        raise SourceError(path, "is a folder, not a video file")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise SourceError(path, f"cannot be read: {exc.strerror or exc}") from None
    return stat


def _run_ffmpeg_dump(path: Path, extra: tuple[str, ...] = ()) -> tuple[Dump | None, str]:
    try:
        proc = run_ffmpeg(input_file(path, *extra), check=False, timeout_s=PROBE_TIMEOUT_S)
    except FFmpegError as exc:
        raise SourceError(path, f"ffmpeg could not describe it: {exc}") from None
    return parse_input_dump(proc.stderr), proc.stderr


def _probe_dump(path: Path) -> Dump:
    """Run ``ffmpeg -i`` on ``path``; once more with deeper analysis if the video size was not found."""
    dump, stderr = _run_ffmpeg_dump(path)
    if dump is None:
        raise SourceError(path, _unreadable_message(stderr))
    video = _video_stream(dump)
    if video is not None and _display_size(video.fields, 0) is None:
        deeper, _ = _run_ffmpeg_dump(path, ("-analyzeduration", "100M", "-probesize", "100M"))
        dump = deeper or dump
    return dump


def _measure_video_end_s(path: Path, video_index: int, frame_s: float) -> float | None:
    """Absolute end time of the video stream, by reading its packets (no decoding)."""
    args = [*input_file(path, "-copyts"), "-map", f"0:{video_index}", "-c", "copy", "-f", "framecrc", "-"]
    try:
        proc = run_ffmpeg(args, check=False, timeout_s=MEASURE_TIMEOUT_S)
    except FFmpegError as exc:
        raise SourceError(path, f"has no duration and reading it to measure one failed: {exc}") from None
    time_base, end_s = None, None
    for line in proc.stdout.splitlines():
        if line.startswith("#tb 0:"):
            num, _, den = line.split(":", 1)[1].strip().partition("/")
            time_base = Fraction(int(num), int(den or 1))
        elif line and not line.startswith("#") and time_base is not None:
            end = _packet_end(line, time_base, frame_s)
            if end is not None and (end_s is None or end > end_s):
                end_s = end
    return end_s


def _packet_end(line: str, time_base: Fraction, frame_s: float) -> float | None:
    """End time of one framecrc packet line "stream, dts, pts, duration, size, crc"."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 4:
        return None
    try:
        dts, pts, duration = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return None
    nopts = -(2**63)
    stamp = pts if pts != nopts else dts
    if stamp == nopts:
        return None
    length_s = float(duration * time_base) if duration > 0 else frame_s
    return float(stamp * time_base) + length_s


def _content_duration(path: Path, dump: Dump, video: Stream, fps: Fraction) -> tuple[float, bool]:
    """Content length in seconds and whether it had to be measured."""
    if dump.duration_s is None or dump.duration_estimated:
        frame_s = float(1 / fps) if fps else 0.04
        end_s = _measure_video_end_s(path, video.index, frame_s)
        if end_s is None:
            raise SourceError(path, "ffmpeg found no video frames in it (the file may be empty or damaged)")
        return round(max(0.0, end_s - dump.start_s), 6), True
    family = dump.container.split(",")
    if any(name in END_TIMESTAMP_CONTAINERS for name in family) and dump.duration_s > dump.start_s:
        return round(dump.duration_s - dump.start_s, 6), False
    return dump.duration_s, False


def _absolute(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def probe_source(path: str | Path) -> SourceInfo:
    """Describe a source file: size, duration, video format and audio tracks.

    Raises SourceError, with a message a person understands, for a missing file,
    a file ffmpeg cannot read and a file without a video stream.
    """
    absolute = _absolute(path)
    stat = _stat_source(absolute)
    dump = _probe_dump(absolute)
    try:
        return _build_info(absolute, stat, dump)
    except (ValueError, IndexError, ZeroDivisionError) as exc:
        raise SourceError(absolute, f"could not understand ffmpeg's description of it ({exc})") from None


def _build_info(path: Path, stat: os.stat_result, dump: Dump) -> SourceInfo:
    if dump.container in STILL_IMAGE_CONTAINERS or dump.container.endswith("_pipe"):
        raise SourceError(path, "is a still image, not a video")
    video = _video_stream(dump)
    if video is None:
        what = "only audio" if any(s.kind == "audio" for s in dump.streams) else "no video or audio"
        raise SourceError(path, f"has no video stream ({what}); megacut needs a video file")
    rotation = _rotation(video)
    size = _display_size(video.fields, rotation)
    if size is None:
        raise SourceError(path, "ffmpeg could not find the video's frame size (the file may be damaged)")
    fps = _stream_fps(video.fields)
    duration_s, measured = _content_duration(path, dump, video, fps)
    audio = [s for s in dump.streams if s.kind == "audio"]
    color_matrix, color_transfer = _color_tags(video.fields)
    return SourceInfo(
        path=path, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns, container=dump.container,
        duration_s=duration_s, start_s=dump.start_s, duration_measured=measured,
        video_index=video.index, video_codec=_codec(video.fields), pix_fmt=_pix_fmt(video.fields),
        width=size[0], height=size[1], rotation=rotation, fps=fps,
        audio_tracks=tuple(_audio_track(s, order) for order, s in enumerate(audio)),
        color_matrix=color_matrix, color_transfer=color_transfer, interlaced=_interlaced(video.fields),
        dynamic_range=_dynamic_range(path, video),
        subtitle_tracks=tuple(_subtitle_track(s, order)
                              for order, s in enumerate(s for s in dump.streams if s.kind == "subtitle")),
    )


def probe_sources(paths: Iterable[Path], *, threads: int = 8) -> dict[Path, SourceInfo | SourceError]:
    """Probe each distinct file once, in parallel; a SourceError is returned as the value, not raised."""
    given = list(paths)
    groups: dict[Path, list[Path]] = {}
    for path in given:
        groups.setdefault(_absolute(path), []).append(path)
    if not groups:
        return {}

    def probe(path: Path) -> SourceInfo | SourceError:
        try:
            return probe_source(path)
        except SourceError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(groups)))) as pool:
        futures = {key: pool.submit(probe, key) for key in groups}
    results: dict[Path, SourceInfo | SourceError] = {}
    for key, members in groups.items():
        outcome = futures[key].result()
        for member in members:
            results[member] = outcome
    return results
