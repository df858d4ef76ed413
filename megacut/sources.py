"""Source movies: finding them in the movies folder, probing them with ffmpeg, choosing an audio track.

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

import difflib
import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable

from .errors import FFmpegError, SourceError, SourceLookupError
from .ffmpeg import run_ffmpeg
from .timecodes import snap_fps

VIDEO_EXTENSIONS = (".mkv", ".mp4", ".m4v", ".mov", ".avi", ".webm", ".ts", ".mpg")

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

    def label(self) -> str:
        """Short description for messages: ``#1 eng "Main"`` (numbered from 1 among audio tracks)."""
        parts = [f"#{self.order + 1}"]
        if self.language:
            parts.append(self.language)
        if self.title:
            parts.append(f'"{self.title}"')
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

    @property
    def default_audio(self) -> AudioTrack | None:
        """The first track with the default disposition, else the first track, else None."""
        for track in self.audio_tracks:
            if track.default:
                return track
        return self.audio_tracks[0] if self.audio_tracks else None


# ---------------------------------------------------------------- languages

# iso639-1, bibliographic, terminology, English name(s) ("-" = none)
_LANGUAGE_TABLE = """
en eng eng english      fr fre fra french       de ger deu german       zh chi zho chinese
nl dut nld dutch,flemish cs cze ces czech       el gre ell greek        fa per fas persian,farsi
hy arm hye armenian     ka geo kat georgian     is ice isl icelandic    mk mac mkd macedonian
ms may msa malay        ro rum ron romanian     sk slo slk slovak       sq alb sqi albanian
bo tib bod tibetan      cy wel cym welsh        eu baq eus basque       my bur mya burmese
mi mao mri maori        es spa spa spanish,castilian it ita ita italian ja jpn jpn japanese
ko kor kor korean       ru rus rus russian      pt por por portuguese   pl pol pol polish
sv swe swe swedish      no nor nor norwegian    nb nob nob bokmal       nn nno nno nynorsk
da dan dan danish       fi fin fin finnish      hu hun hun hungarian    tr tur tur turkish
ar ara ara arabic       he heb heb hebrew       hi hin hin hindi        th tha tha thai
uk ukr ukr ukrainian    vi vie vie vietnamese   id ind ind indonesian   bg bul bul bulgarian
hr hrv hrv croatian     sr srp srp serbian      sl slv slv slovenian    et est est estonian
lv lav lav latvian      lt lit lit lithuanian   ca cat cat catalan      gl glg glg galician
ta tam tam tamil        te tel tel telugu       bn ben ben bengali,bangla ur urd urd urdu
la lat lat latin        ga gle gle irish        af afr afr afrikaans    sw swa swa swahili
tl tgl tgl tagalog      kn kan kan kannada      ml mal mal malayalam    mr mar mar marathi
pa pan pan punjabi      gu guj guj gujarati     si sin sin sinhala      km khm khm khmer
lo lao lao lao          mn mon mon mongolian    kk kaz kaz kazakh       uz uzb uzb uzbek
az aze aze azerbaijani  be bel bel belarusian   bs bos bos bosnian      eo epo epo esperanto
lb ltz ltz luxembourgish fo fao fao faroese     gd gla gla gaelic       yi yid yid yiddish
am amh amh amharic      ha hau hau hausa        yo yor yor yoruba       zu zul zul zulu
xh xho xho xhosa        so som som somali       ne nep nep nepali       ps pus pus pashto
ku kur kur kurdish      tg tgk tgk tajik        ky kir kir kyrgyz       tk tuk tuk turkmen
tt tat tat tatar        ug uig uig uighur,uyghur jv jav jav javanese    su sun sun sundanese
iw heb heb -            in ind ind -            ji yid yid -
"""
_OLD_BIBLIOGRAPHIC = {"scc": "srp", "scr": "hrv"}
_NO_LANGUAGE = {"", "und", "unknown", "undefined", "undetermined", "none"}


def _build_language_map() -> dict[str, str]:
    codes: dict[str, str] = dict(_OLD_BIBLIOGRAPHIC)
    tokens = _LANGUAGE_TABLE.split()
    for two, bib, term, names in zip(tokens[0::4], tokens[1::4], tokens[2::4], tokens[3::4]):
        aliases = [two, bib, term] + ([] if names == "-" else names.split(","))
        for alias in aliases:
            if alias != "-":
                codes.setdefault(alias, term)
    return codes


_LANGUAGE_CODES = _build_language_map()


def normalize_language(code: str) -> str | None:
    """One canonical ISO 639-2/T code for a language tag: "en", "eng", "en-US" -> "eng"; "fre" -> "fra".

    Case-insensitive; a region or script after "-" or "_" is dropped; English
    names ("French") are accepted. Unknown codes come back lower-cased as they
    are; an empty tag or "und" gives None.
    """
    text = (code or "").strip().casefold().replace("_", "-")
    primary = text.split("-", 1)[0].strip()
    if primary in _NO_LANGUAGE:
        return None
    return _LANGUAGE_CODES.get(primary, primary)


# ------------------------------------------------------------ stderr parsing

_INPUT_RE = re.compile(r"^Input #0, (?P<container>.+?), from '")
_DURATION_RE = re.compile(
    r"^\s+Duration: (?:N/A|(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?))"
    r"(?:, start: (?P<start>-?\d+(?:\.\d+)?))?"
)
_STREAM_RE = re.compile(
    r"^(?P<indent>\s*)Stream #0:(?P<index>\d+)(?:\[[^\]]*\])?(?:\((?P<lang>[^)]*)\))?"
    r": (?P<kind>[A-Za-z]+): (?P<rest>.*)$"
)
_KEY_VALUE_RE = re.compile(r"^\s*(?P<key>[^:]*?)\s*: ?(?P<value>.*)$")
_DISPOSITIONS = frozenset({
    "default", "dub", "original", "comment", "lyrics", "karaoke", "forced", "hearing impaired",
    "visual impaired", "clean effects", "attached pic", "timed thumbnails", "non diegetic",
    "non-diegetic", "captions", "descriptions", "metadata", "dependent", "still image", "multilayer",
})
_TRAILING_PAREN_RE = re.compile(r"\s*\(([^()]*)\)\s*$")
_DIMENSIONS_RE = re.compile(r"^(\d+)x(\d+)\b")
_SAR_RE = re.compile(r"\bSAR (\d+):(\d+)")
_RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)(k?) (fps|tbr)$")
_ROTATION_RE = re.compile(r"display ?matrix: rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_ESTIMATED_DURATION = "Estimating duration from bitrate"


@dataclass
class _Stream:
    """One ``Stream #0:N`` entry of ffmpeg's input dump."""

    index: int
    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    language: str | None
    fields: list[str]  # the description after "Kind: ", split at top-level commas
    dispositions: frozenset[str]
    metadata: dict[str, str] = field(default_factory=dict)
    side_data: list[str] = field(default_factory=list)


@dataclass
class _Dump:
    """What ``ffmpeg -i`` printed about input #0."""

    container: str
    duration_s: float | None  # as printed; None for "N/A"
    start_s: float
    duration_estimated: bool
    streams: list[_Stream]


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split at ``separator`` outside (), [] and {}: "yuv420p(tv, bt709), 1920x1080" -> 2 fields."""
    fields, depth, current = [], 0, []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        if char == separator and depth == 0:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return [f for f in fields if f]


def _split_dispositions(text: str) -> tuple[str, frozenset[str]]:
    """Strip the trailing " (default) (attached pic)" groups of a stream line."""
    found = set()
    while match := _TRAILING_PAREN_RE.search(text):
        if match.group(1) not in _DISPOSITIONS:
            break
        found.add(match.group(1))
        text = text[: match.start()]
    return text, frozenset(found)


def _parse_stream_line(match: re.Match) -> _Stream:
    rest, dispositions = _split_dispositions(match["rest"])
    language = (match["lang"] or "").strip() or None
    if language and language.casefold() == "und":
        language = None
    return _Stream(index=int(match["index"]), kind=match["kind"].lower(), language=language,
                   fields=split_top_level(rest), dispositions=dispositions)


def _metadata_entry(line: str) -> tuple[str, str] | None:
    """("title", "Main") from "      title           : Main"; key "" for a continuation line."""
    match = _KEY_VALUE_RE.match(line)
    return (match["key"].strip().lower(), match["value"].rstrip()) if match else None


class _StreamCollector:
    """Feeds the lines of an input dump and files each indented line under its stream."""

    def __init__(self) -> None:
        self.streams: dict[int, _Stream] = {}
        self.current: _Stream | None = None
        self.indent, self.section, self.last_key = 0, "", ""

    def feed(self, line: str) -> None:
        match = _STREAM_RE.match(line)
        if match:
            self.current = self.streams.setdefault(int(match["index"]), _parse_stream_line(match))
            self.indent, self.section, self.last_key = len(match["indent"]), "", ""
            return
        if not line.strip() or self.current is None:
            return
        if len(line) - len(line.lstrip()) <= self.indent:
            self.current = None  # a Program, Chapter or stream-group line: back to the top level
            return
        header = line.strip().lower()
        if header in ("metadata:", "side data:"):
            self.section = header[:-1]
        elif self.section == "side data":
            self.current.side_data.append(line.strip())
        elif self.section == "metadata":
            self._metadata(line)

    def _metadata(self, line: str) -> None:
        entry = _metadata_entry(line)
        if entry is None:
            return
        key, value = entry
        metadata = self.current.metadata
        if key:
            metadata.setdefault(key, value)
            self.last_key = key
        elif self.last_key:  # continuation line of a multi-line value
            metadata[self.last_key] += "\n" + value


def _parse_streams(lines: list[str]) -> list[_Stream]:
    """Every stream of input #0 with its Metadata and Side data blocks."""
    collector = _StreamCollector()
    for line in lines:
        collector.feed(line)
    return sorted(collector.streams.values(), key=lambda s: s.index)


def _parse_input_dump(stderr: str) -> _Dump | None:
    """Parse the description of input #0 that ``ffmpeg -i`` prints; None when there is none."""
    lines = stderr.replace("\r", "\n").splitlines()
    start = next((i for i, line in enumerate(lines) if _INPUT_RE.match(line)), None)
    if start is None:
        return None
    body = []
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            if line.startswith("["):  # a log line printed in the middle: not part of the description
                continue
            break
        body.append(line)
    duration_s, start_s = None, 0.0
    for line in body:
        match = _DURATION_RE.match(line)
        if match:
            if match["h"] is not None:
                duration_s = int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
            start_s = float(match["start"]) if match["start"] else 0.0
            break
    return _Dump(container=_INPUT_RE.match(lines[start])["container"], duration_s=duration_s,
                 start_s=start_s, duration_estimated=_ESTIMATED_DURATION in stderr,
                 streams=_parse_streams(body))


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
        match = _RATE_RE.match(item)
        if match:
            rates.setdefault(match.group(3), match.group(1) + match.group(2))
    for kind in ("fps", "tbr"):
        if kind in rates:
            fps = snap_fps(rates[kind])
            if 0 < fps <= MAX_PLAUSIBLE_FPS:
                return fps
    return FALLBACK_FPS


def _rotation(stream: _Stream) -> int:
    """Clockwise rotation from the display matrix ("rotation of -90.00 degrees" = 90) or a rotate tag."""
    for line in stream.side_data:
        match = _ROTATION_RE.search(line)
        if match:
            return round(-float(match.group(1))) % 360
    tag = stream.metadata.get("rotate", "").strip()
    if re.fullmatch(r"-?\d+(?:\.\d+)?", tag):
        return round(float(tag)) % 360
    return 0


def _even(value: float) -> int:
    return max(2, int(value / 2 + 0.5) * 2)


def _display_size(fields: list[str], rotation: int) -> tuple[int, int] | None:
    """Width and height as displayed: SAR applied to the width, swapped for 90/270 rotation."""
    size = next((m for m in (_DIMENSIONS_RE.match(f) for f in fields[1:]) if m), None)
    if size is None or int(size.group(1)) == 0 or int(size.group(2)) == 0:
        return None
    width, height = int(size.group(1)), int(size.group(2))
    sar = _SAR_RE.search(" ".join(fields[1:]))
    if sar and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
        width = width * int(sar.group(1)) / int(sar.group(2))
    width, height = _even(width), _even(height)
    return (height, width) if rotation % 180 == 90 else (width, height)


def _pix_fmt(fields: list[str]) -> str:
    if len(fields) < 2 or _DIMENSIONS_RE.match(fields[1]):
        return "unknown"
    match = re.match(r"^([A-Za-z0-9_]+)", fields[1])
    return match.group(1) if match else "unknown"


def _codec(fields: list[str]) -> str:
    return fields[0].split()[0] if fields and fields[0].split() else "unknown"


def _audio_track(stream: _Stream, order: int) -> AudioTrack:
    fields = stream.fields
    hz = next((i for i, f in enumerate(fields) if re.fullmatch(r"\d+ Hz", f)), None)
    sample_rate = int(fields[hz].split()[0]) if hz is not None else 0
    layout = fields[hz + 1] if hz is not None and hz + 1 < len(fields) else ""
    title = stream.metadata.get("title", "").strip() or None
    return AudioTrack(index=stream.index, order=order, codec=_codec(fields), language=stream.language,
                      title=title, channels=layout_channels(layout), sample_rate=sample_rate,
                      default="default" in stream.dispositions)


def _video_stream(dump: _Dump) -> _Stream | None:
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


def _run_ffmpeg_dump(path: Path, extra: tuple[str, ...] = ()) -> tuple[_Dump | None, str]:
    try:
        proc = run_ffmpeg([*extra, "-i", f"file:{path}"], check=False, timeout_s=PROBE_TIMEOUT_S)
    except FFmpegError as exc:
        raise SourceError(path, f"ffmpeg could not describe it: {exc}") from None
    return _parse_input_dump(proc.stderr), proc.stderr


def _probe_dump(path: Path) -> _Dump:
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
    args = ["-copyts", "-i", f"file:{path}", "-map", f"0:{video_index}", "-c", "copy", "-f", "framecrc", "-"]
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


def _content_duration(path: Path, dump: _Dump, video: _Stream, fps: Fraction) -> tuple[float, bool]:
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


def _build_info(path: Path, stat: os.stat_result, dump: _Dump) -> SourceInfo:
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
    return SourceInfo(
        path=path, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns, container=dump.container,
        duration_s=duration_s, start_s=dump.start_s, duration_measured=measured,
        video_index=video.index, video_codec=_codec(video.fields), pix_fmt=_pix_fmt(video.fields),
        width=size[0], height=size[1], rotation=rotation, fps=fps,
        audio_tracks=tuple(_audio_track(s, order) for order, s in enumerate(audio)),
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


# ------------------------------------------------------------- audio choice


def _first_title_match(tracks: tuple[AudioTrack, ...], title: str) -> AudioTrack | None:
    wanted = title.casefold()
    return next((t for t in tracks if t.title and wanted in t.title.casefold()), None)


def _first_language_match(tracks: tuple[AudioTrack, ...], language: str) -> AudioTrack | None:
    wanted = normalize_language(language)
    matches = [t for t in tracks if t.language and normalize_language(t.language) == wanted]
    return next((t for t in matches if t.default), matches[0] if matches else None)


def choose_audio_track(info: SourceInfo, *, title: str | None = None, language: str | None = None
                       ) -> tuple[AudioTrack | None, list[str]]:
    """The audio track to use: by title substring, else by language, else the default track.

    Returns (track, warnings); a requested title or language that is not there
    falls back to the next rule with a warning. A source without audio gives None.
    """
    title = (title or "").strip() or None
    language = (language or "").strip() or None
    tracks = info.audio_tracks
    name = info.path.name
    if not tracks:
        if title is None and language is None:
            return None, []
        return None, [f"{name} has no audio track (asked for {_request(title, language)}); "
                      "the scene will be silent"]
    missed = []
    if title is not None:
        track = _first_title_match(tracks, title)
        if track is not None:
            return track, []
        missed.append(f'titled "{title}"')
    chosen, how = None, "the default track"
    if language is not None:
        chosen = _first_language_match(tracks, language)
        if chosen is None:
            missed.append(f'in language "{language}"')
        how = f'chosen by language "{language}"'
    if chosen is None:
        chosen, how = info.default_audio, "the default track"
    if not missed:
        return chosen, []
    listing = ", ".join(t.label() for t in tracks)
    return chosen, [f"no audio track {' or '.join(missed)} in {name} (tracks: {listing}); "
                    f"using track {_label_body(chosen)}, {how}"]


def _label_body(track: AudioTrack) -> str:
    """``#1 (eng "Main")`` for messages."""
    number, _, rest = track.label().partition(" ")
    return f"{number} {rest}" if rest.startswith("(") else f"{number} ({rest})"


def _request(title: str | None, language: str | None) -> str:
    wanted = ([f'title "{title}"'] if title else []) + ([f'language "{language}"'] if language else [])
    return " and ".join(wanted)


# ------------------------------------------------------------- movie lookup

_APOSTROPHES = str.maketrans("", "", "'\u2019`\u00b4")
_BRACKETS_RE = re.compile(r"\[[^\]]*\]|\([^)]*\)|\{[^}]*\}")
_YEAR_RE = re.compile(r"^(?:19|20)\d\d$")
_SEASON_EPISODE_FORMS = (
    re.compile(r"^s(\d{1,3})\s*e(\d{1,4})$", re.IGNORECASE),
    re.compile(r"^(\d{1,3})x(\d{1,4})$", re.IGNORECASE),
    re.compile(r"^(\d{1,3})\.(\d{1,4})$"),
)
ACCEPTED_EPISODE_FORMS = "3.19, S03E19, s3e19, 3x19 or 03x19"


def loose_key(text: str) -> str:
    """Case-folded words of ``text``: accents, apostrophes and punctuation dropped, "_.-" as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.findall(r"[^\W_]+", plain.translate(_APOSTROPHES)))


def _without_brackets(text: str) -> str:
    return _BRACKETS_RE.sub(" ", text)


def _year_cuts(key: str) -> set[str]:
    """Title keys that end before, or at, a year: "thor 2013 1080p" -> {"thor", "thor 2013"}."""
    words = key.split()
    cuts = set()
    for i, word in enumerate(words):
        if i > 0 and _YEAR_RE.match(word):
            cuts.add(" ".join(words[:i]))
            cuts.add(" ".join(words[: i + 1]))
    return cuts


def parse_season_episode(value: str) -> tuple[int, int]:
    """(season, episode) from "3.19", "S03E19", "s3e19", "3x19"; "3.10" is episode 10. Raises ValueError."""
    text = value.strip()
    for form in _SEASON_EPISODE_FORMS:
        match = form.match(text)
        if match:
            return int(match.group(1)), int(match.group(2))
    raise ValueError(f'season_episode "{value}" is not understood; write it as {ACCEPTED_EPISODE_FORMS} '
                     "(season 3, episode 19)")


def _episode_patterns(season: int, episode: int) -> tuple[re.Pattern, re.Pattern]:
    """(strong, dotted) patterns for one episode in a case-folded file name."""
    s, e = f"0*{season}", f"0*{episode}"
    strong = re.compile(rf"(?<![a-z0-9])s{s}[ ._-]?e{e}(?!\d)|(?<!\d){s}x{e}(?!\d)")
    dotted = re.compile(rf"(?<!\d)(?<!\d\.){s}\.{e}(?!\d)")
    return strong, dotted


@dataclass(frozen=True, slots=True)
class _Entry:
    """One indexed video file."""

    rel: str  # path relative to the root, "/"-separated
    name: str
    stem_cf: str
    tier_keys: tuple[frozenset[str], ...]  # loose-match keys, strictest first
    path_key: str  # loose key of the relative path without extension (folders included)

    @classmethod
    def make(cls, rel: str) -> _Entry:
        name = rel.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        plain = loose_key(_without_brackets(stem))
        tiers = (frozenset({loose_key(stem)}), frozenset({plain}), frozenset(_year_cuts(plain)))
        return cls(rel=rel, name=name, stem_cf=stem.casefold(), tier_keys=tiers,
                   path_key=loose_key(rel.rsplit(".", 1)[0]))


class _Miss(str):
    """A memoised lookup failure (its message)."""


class MovieIndex:
    """Every video file under a movies folder, indexed once, for name, episode and path lookups."""

    def __init__(self, root: str | Path):
        given = Path(os.path.expanduser(os.fspath(root)))
        if not given.exists():
            raise SourceLookupError(f"movies folder not found: {given}")
        if not given.is_dir():
            raise SourceLookupError(f"movies folder is not a folder: {given}")
        self.root = Path(os.path.realpath(given))
        self._entries = tuple(_Entry.make(rel) for rel in _walk_videos(self.root))
        self._by_name = _group(self._entries, lambda e: [e.name.casefold()])
        self._by_stem = _group(self._entries, lambda e: [e.stem_cf])
        self._by_tier = [_group(self._entries, lambda e, i=i: e.tier_keys[i]) for i in range(3)]
        self._memo: dict[tuple[str, str | None, str | None], Path | _Miss] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, movie: str, *, season_episode: str | None = None, file: str | None = None) -> Path:
        """The one file meant by a CSV row; raises SourceLookupError saying what was looked for."""
        key = (movie, season_episode, file)
        hit = self._memo.get(key)
        if hit is None:
            try:
                hit = self._find(movie or "", (season_episode or "").strip() or None, (file or "").strip() or None)
            except SourceLookupError as exc:
                hit = _Miss(str(exc))
            self._memo[key] = hit
        if isinstance(hit, _Miss):
            raise SourceLookupError(str(hit))
        return hit

    # -- the rules, in order

    def _find(self, movie: str, season_episode: str | None, file: str | None) -> Path:
        movie = movie.strip()
        if file:
            return self._relative_path(file, "file")
        if not movie:
            raise SourceLookupError("no movie name given; fill in the movie column (or the file column)")
        if _looks_like_path(movie):
            return self._relative_path(movie, "movie")
        found = self._exact_name(movie)
        if found is None and season_episode:
            try:
                season, episode = parse_season_episode(season_episode)
            except ValueError as exc:
                raise SourceLookupError(str(exc)) from None
            found = self._episode(movie, season, episode)
        elif found is None:
            found = self._by_name_with_extension(movie) or self._loose(movie)
        return self._resolve(found)

    def _exact_name(self, movie: str) -> _Entry | None:
        candidates = self._by_name.get(movie.casefold(), [])
        exact_case = [e for e in candidates if e.name == movie]
        return self._one(exact_case if len(exact_case) == 1 else candidates, f'movie "{movie}"')

    def _by_name_with_extension(self, movie: str) -> _Entry | None:
        return self._one(self._by_stem.get(movie.casefold(), []), f'movie "{movie}"')

    def _loose(self, movie: str) -> _Entry:
        wanted = {loose_key(movie), loose_key(_without_brackets(movie))} - {""}
        for tier in self._by_tier:
            candidates = {e.rel: e for key in wanted for e in tier.get(key, [])}
            found = self._one(list(candidates.values()), f'movie "{movie}"')
            if found is not None:
                return found
        raise SourceLookupError(self._not_found_message(movie))

    def _episode(self, show: str, season: int, episode: int) -> _Entry:
        code = f"S{season:02d}E{episode:02d}"
        strong, dotted = _episode_patterns(season, episode)
        by_strong = [e for e in self._entries if strong.search(e.stem_cf)]
        with_code = by_strong or [e for e in self._entries if dotted.search(e.stem_cf)]
        of_show = _of_show(with_code, show)
        found = self._one(of_show, f'episode {code} of "{show}"')
        if found is not None:
            return found
        raise SourceLookupError(self._episode_not_found_message(show, season, episode, with_code))

    # -- helpers

    def _one(self, candidates: list[_Entry], what: str) -> _Entry | None:
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        listing = ", ".join(sorted(e.rel for e in candidates))
        raise SourceLookupError(f"{what} matches several files in {self.root}: {listing}; "
                                "put the one to use in the `file` column (its path relative to the movies folder)")

    def _resolve(self, entry: _Entry) -> Path:
        return self._relative_path(entry.rel, "file")

    def _relative_path(self, text: str, label: str) -> Path:
        """A path given relative to the root, refused when it is absolute or resolves outside the root."""
        raw = text.strip().replace("\\", "/")
        quoted = f'{label} "{text}"'
        if os.path.isabs(raw) or re.match(r"^[A-Za-z]:", raw):
            raise SourceLookupError(f"{quoted} is an absolute path, which may leave the movies folder; "
                                    f"give a path relative to {self.root}")
        full = os.path.realpath(os.path.join(self.root, raw))
        if not _inside(full, self.root):
            raise SourceLookupError(f"{quoted} leaves the movies folder (it resolves to {full}); "
                                    f"give a path relative to {self.root}")
        if not os.path.exists(full):
            raise SourceLookupError(f"{quoted} not found: there is no {os.path.join(self.root, raw)}; "
                                    f"give a path relative to {self.root}")
        if os.path.isdir(full):
            raise SourceLookupError(f"{quoted} is a folder, not a video file; give the file's path "
                                    f"relative to {self.root}")
        return Path(full)

    def _not_found_message(self, movie: str) -> str:
        names = {key: e.rel for e in self._entries for key in e.tier_keys[1]}
        close = difflib.get_close_matches(loose_key(_without_brackets(movie)), list(names), n=3, cutoff=0.6)
        quoted = ", ".join(f'"{names[key]}"' for key in close)
        suggestion = f"; did you mean {quoted}?" if close else "."
        return (f'movie "{movie}" not found in {self.root} (searched {len(self._entries)} video files, '
                f"subfolders included, by exact name, name plus a video extension and a loose match "
                f"ignoring case, punctuation and year/[tags]){suggestion} Check the name in the CSV, or "
                f"give the file's path relative to the movies folder in the `file` column.")

    def _episode_not_found_message(self, show: str, season: int, episode: int, with_code: list[_Entry]) -> str:
        code = f"S{season:02d}E{episode:02d}"
        of_show = _of_show(list(self._entries), show)
        if of_show:
            examples = ", ".join(sorted(e.rel for e in of_show)[:3])
            count = f"{len(of_show)} files match" if len(of_show) > 1 else "1 file matches"
            detail = f"{count} the show name (e.g. {examples}) but none carries {code}"
        elif with_code:
            examples = ", ".join(sorted(e.rel for e in with_code)[:3])
            detail = f"files with {code} in their name do not match the show name: {examples}"
        else:
            detail = "no file name carries that episode"
        return (f'episode {code} of "{show}" not found in {self.root}: looked for video files whose path '
                f"contains the show name and whose name contains {code}, {season}x{episode:02d} or "
                f"{season}.{episode}; {detail}. Check the CSV, or give the path relative to the movies folder "
                f"in the `file` column.")


def _walk_videos(root: Path) -> list[str]:
    """Relative "/"-separated paths of the video files under ``root`` (hidden entries skipped)."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        relative_folder = os.path.relpath(folder, root)
        for name in sorted(filenames):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in VIDEO_EXTENSIONS:
                continue
            rel = name if relative_folder == "." else os.path.join(relative_folder, name)
            found.append(rel.replace(os.sep, "/"))
    return found


def _group(entries: Iterable[_Entry], keys) -> dict[str, list[_Entry]]:
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        for key in keys(entry):
            if key:
                groups.setdefault(key, []).append(entry)
    return groups


def _of_show(entries: list[_Entry], show: str) -> list[_Entry]:
    """Entries whose relative path loosely contains the show name (word-bounded, else squeezed)."""
    names = {loose_key(show), loose_key(_without_brackets(show))} - {""}
    if not names:
        return []
    bounded = [e for e in entries if any(f" {n} " in f" {e.path_key} " for n in names)]
    if bounded:
        return bounded
    squeezed = {n.replace(" ", "") for n in names}
    return [e for e in entries if any(n in e.path_key.replace(" ", "") for n in squeezed)]


def _looks_like_path(movie: str) -> bool:
    return "/" in movie or "\\" in movie or os.path.isabs(movie)


def _inside(path: str, root: Path) -> bool:
    root_text = str(root)
    return path == root_text or path.startswith(root_text.rstrip(os.sep) + os.sep)
