"""ffmpeg's input dump (``ffmpeg -i FILE`` on stderr) parsed into streams: the raw material of a probe.

There is no ffprobe in the imageio-ffmpeg wheel, so megacut reads the dump
ffmpeg prints for its input: the container, duration and start, and per
stream its index, language, kind, fields and metadata (title, rotation...).
:mod:`megacut.plan.probe` turns this into a SourceInfo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
DIMENSIONS_RE = re.compile(r"^(\d+)x(\d+)\b")
SAR_RE = re.compile(r"\bSAR (\d+):(\d+)")
RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)(k?) (fps|tbr)$")
ROTATION_RE = re.compile(r"display ?matrix: rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_ESTIMATED_DURATION = "Estimating duration from bitrate"


@dataclass
class Stream:
    """One ``Stream #0:N`` entry of ffmpeg's input dump."""

    index: int
    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    language: str | None
    fields: list[str]  # the description after "Kind: ", split at top-level commas
    dispositions: frozenset[str]
    metadata: dict[str, str] = field(default_factory=dict)
    side_data: list[str] = field(default_factory=list)


@dataclass
class Dump:
    """What ``ffmpeg -i`` printed about input #0."""

    container: str
    duration_s: float | None  # as printed; None for "N/A"
    start_s: float
    duration_estimated: bool
    streams: list[Stream]


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


def _parse_stream_line(match: re.Match) -> Stream:
    rest, dispositions = _split_dispositions(match["rest"])
    language = (match["lang"] or "").strip() or None
    if language and language.casefold() == "und":
        language = None
    return Stream(index=int(match["index"]), kind=match["kind"].lower(), language=language,
                   fields=split_top_level(rest), dispositions=dispositions)


def _metadata_entry(line: str) -> tuple[str, str] | None:
    """("title", "Main") from "      title           : Main"; key "" for a continuation line."""
    match = _KEY_VALUE_RE.match(line)
    return (match["key"].strip().lower(), match["value"].rstrip()) if match else None


class _StreamCollector:
    """Feeds the lines of an input dump and files each indented line under its stream."""

    def __init__(self) -> None:
        self.streams: dict[int, Stream] = {}
        self.current: Stream | None = None
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


def _parse_streams(lines: list[str]) -> list[Stream]:
    """Every stream of input #0 with its Metadata and Side data blocks."""
    collector = _StreamCollector()
    for line in lines:
        collector.feed(line)
    return sorted(collector.streams.values(), key=lambda s: s.index)


def parse_input_dump(stderr: str) -> Dump | None:
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
    return Dump(container=_INPUT_RE.match(lines[start])["container"], duration_s=duration_s,
                 start_s=start_s, duration_estimated=_ESTIMATED_DURATION in stderr,
                 streams=_parse_streams(body))
