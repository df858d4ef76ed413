"""A source's video packets, indexed once, for smart copy: where its clean random-access points are.

Smart copy (``--copy``) stream-copies runs of a source's packets into a part where the source already is
what the output is. Deciding that needs more than the probe: every video packet's timestamps in decode
order, which packets are IDR pictures (the only points a copy may start on: an open-GOP I picture has
leading pictures that refer to the GOP before it), and the stream's exact parameters. One ffmpeg run,
reading packets without decoding them, gives all of it: the timestamps from one ``framecrc`` output
(``-c copy``), the IDR packets from a second one that keeps only IDR slices (``filter_units``), and the
stream's description from its log. Timestamps are read as every renderer reads them (``-copyts
-start_at_zero``: content time, in the stream's time base), so the copy renderer selects packets by these
very values.

The index is kept per process, by the file's path, size and modification time.
"""

from __future__ import annotations

import re
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from megacut.errors import FFmpegError
from megacut.ffmpeg import input_file, output_file, run_ffmpeg

_TB_RE = re.compile(r"^#tb 0: (\d+)/(\d+)")
_STREAM_RE = re.compile(r"Stream #0:(\d+)[^:]*: Video: (.*)$")


@dataclass(frozen=True, slots=True)
class SourceIndex:
    """A source's video stream as smart copy sees it. Times are in ``time_base`` units, content time."""

    time_base: Fraction
    dts: tuple[int, ...]  # every packet's, in decode order
    pts: tuple[int, ...]  # the same packets' presentation times
    idr: frozenset[int]  # decode-order numbers of the IDR packets
    description: str  # ffmpeg's line for the stream: "h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709...)"
    rank: tuple[int, ...]  # each packet's place in presentation order (its frame number in the source)
    by_rank: tuple[int, ...]  # the packet shown as each frame number
    reorder: int  # the most frames a packet is decoded ahead of its presentation (B-frame delay)
    shown: tuple[int, ...]  # the presentation times, in presentation order
    idr_frames: tuple[int, ...]  # the frame numbers of the IDR pictures, in order
    frame_s: float  # the mean frame duration (seconds)
    constant: bool  # every frame starts where a constant rate puts it (within a quarter frame: timestamps
    #                 in a coarse time base, as Matroska's milliseconds, are rounded), without drifting

    def seconds(self, ticks: int) -> float:
        return float(ticks * self.time_base)

    def constant_rate(self, fps: Fraction) -> bool:
        """Whether every frame lasts one frame at ``fps`` (within a thousandth)."""
        return self.constant and abs(self.frame_s * fps - 1) < 0.001


_indexes: dict[tuple, SourceIndex | str] = {}
_lock = threading.Lock()


def source_index(path: Path, video_index: int, size_bytes: int, mtime_ns: int) -> SourceIndex | str:
    """The index of stream ``video_index`` of ``path``, or why there is none (a string)."""
    key = (str(path), video_index, size_bytes, mtime_ns)
    with _lock:
        if key not in _indexes:
            _indexes[key] = _read_index(path, video_index)
        return _indexes[key]


def _read_index(path: Path, video_index: int) -> SourceIndex | str:
    stream = f"0:{video_index}"
    with tempfile.TemporaryDirectory(prefix="megacut-index-") as scratch:
        idr_listing = Path(scratch, "idr.crc")
        args = ["-loglevel", "info", "-nostats", "-copyts", "-start_at_zero", *input_file(path),
                "-map", stream, "-c", "copy", "-f", "framecrc", "-",
                "-map", stream, "-c", "copy", "-bsf:v", "filter_units=pass_types=5",
                *output_file(idr_listing, "-f", "framecrc")]
        try:
            completed = run_ffmpeg(args)
            idr_text = idr_listing.read_text(encoding="utf-8")
        except (FFmpegError, OSError) as exc:
            last = str(exc).strip().splitlines()[-1:] or ["ffmpeg failed"]
            return f"its packets could not be read ({last[0]})"
    return parse_index(completed.stdout, idr_text, completed.stderr, video_index)


def _packets(text: str) -> tuple[Fraction | None, list[tuple[int, int, int]]]:
    """(time base, [(dts, pts, size)]) of a framecrc listing (other lines ignored)."""
    time_base, packets = None, []
    for line in text.splitlines():
        match = _TB_RE.match(line)
        if match:
            time_base = Fraction(int(match.group(1)), int(match.group(2)))
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) >= 5 and fields[0] == "0" and fields[1].lstrip("-").isdigit():
            pts = fields[2]
            packets.append((int(fields[1]), int(pts) if pts.lstrip("-").isdigit() else int(fields[1]),
                            int(fields[4])))
    return time_base, packets


def parse_index(listing: str, idr_listing: str, log: str, video_index: int) -> SourceIndex | str:
    """The index from the ``framecrc`` listings of every packet and of the IDR slices, and ffmpeg's log."""
    time_base, packets = _packets(listing)
    _, idr_packets = _packets(idr_listing)
    description = next((m.group(2) for m in map(_STREAM_RE.search, log.splitlines())
                        if m and int(m.group(1)) == video_index), "")
    if time_base is None or not packets:
        return "it has no video packets to copy"
    dts = tuple(p[0] for p in packets)
    if any(b <= a for a, b in zip(dts, dts[1:])):
        return "its video timestamps do not increase in decode order"
    pts = tuple(p[1] for p in packets)
    if len(set(pts)) != len(pts):
        return "two of its video packets have the same presentation time"
    by_pts = {t: n for n, t in enumerate(pts)}
    idr = frozenset(by_pts[p[1]] for p in idr_packets if p[2] > 0 and p[1] in by_pts)
    by_rank = tuple(sorted(range(len(pts)), key=pts.__getitem__))
    rank = [0] * len(pts)
    for place, n in enumerate(by_rank):
        rank[n] = place
    shown = tuple(pts[n] for n in by_rank)
    step = (shown[-1] - shown[0]) / (len(shown) - 1) if len(shown) > 1 else 1.0
    constant = all(abs(t - shown[0] - k * step) <= step / 4 for k, t in enumerate(shown))
    return SourceIndex(time_base=time_base, dts=dts, pts=pts, idr=idr, description=description,
                       rank=tuple(rank), by_rank=by_rank, reorder=max(n - r for n, r in enumerate(rank)),
                       shown=shown, idr_frames=tuple(sorted(rank[n] for n in idr)),
                       frame_s=float(step * time_base), constant=constant)
