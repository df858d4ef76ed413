"""Smart copy's decision for one scene: which of its frames are stream-copied from the source, or why none.

A scene qualifies when its source already is what the output is: H.264 into H.264, the output's size with
square pixels, yuv420p in limited range read as BT.709 as the renderer reads it (tagged so, its matrix tagged so,
or untagged HD: render/colour.py), the output's frame rate
with every frame one frame long, progressive, no rotation, no frame effect. Then only the frames megacut
changes are encoded: from the scene's start through the overlay, its fade and a fade-in, up to the
first IDR picture after them (the head), and from the end of the copied run to the scene's end (the
tail). The copied run starts on that IDR and is the longest decode-order run of whole packets after it
whose frames are exactly consecutive and end before the tail's first changed frame (a fade-out): whole
GOPs, then a decode-order prefix of the last one (a B-frame shown before its anchor is decoded after
it, so a prefix shows frames up to some point and none after). No packet is decoded, changed or
dropped inside the run: its frames are the source's, bit for bit.

The frame a scene starts on is found as the ffmpeg renderer finds it (the last frame shown at the
scene's start, ``START_SLACK_S`` included); frame ``i`` of the scene is then frame ``first + i`` of
the source, every frame lasting one frame.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass

from megacut.plan.build import OutputFormat, RenderPlan, Scene
from megacut.plan.copy_index import SourceIndex, source_index
from megacut.plan.probe import SourceInfo
from megacut.plan.scenes import Problem
from megacut.plan.settings import Settings
from megacut.plan.timecodes import START_SLACK_S
from megacut.render.colour import OUTPUT_MATRIX, source_matrix
from megacut.render.overlay import scene_overlay

COPY_MODES = ("off", "auto", "strict")
MIN_COPY_S = 2.0  # a shorter run is not worth its own job and the extra decoding of the head and tail
MAX_REORDER = 2  # B-frame delay the joins' timestamps allow (x264's most, with B-pyramid)
SEEK_BEFORE_S = 1.0  # the copy reads from this long before its first packet (the demuxer seeks to a keyframe)


@dataclass(frozen=True, slots=True)
class CopySpan:
    """Frames ``first_frame`` to ``first_frame + frames`` of a scene, copied: the source's video packets
    whose decode timestamps are from ``first_dts`` to before ``end_dts`` (None: to the file's end)."""

    first_frame: int
    frames: int
    first_dts: int
    end_dts: int | None
    seek_s: float  # where the copy's input is read from, content time
    read_s: float  # and for how long


def copy_span(scene: Scene, fmt: OutputFormat, settings: Settings) -> CopySpan | str:
    """How ``scene`` is copied, or why it is rendered instead (a sentence for `megacut plan`)."""
    reason = _mismatch(scene, fmt, settings)
    if reason:
        return reason
    source = scene.source
    index = source_index(source.path, source.video_index, source.size_bytes, source.mtime_ns)
    if isinstance(index, str):
        return index
    if not index.constant_rate(fmt.fps):
        return "its frame rate is variable (frames of different lengths)"
    if index.reorder > MAX_REORDER:
        return f"its B-frames are decoded up to {index.reorder} frames ahead (megacut copies up to {MAX_REORDER})"
    return _span(scene, fmt, settings, index)


def _mismatch(scene: Scene, fmt: OutputFormat, settings: Settings) -> str:
    """Why the scene's source is not what the output is ("" when it is)."""
    source = scene.source
    if settings.effect:
        return "a frame effect changes every frame"
    if scene.subtitles.burned:
        return "forced subtitle pictures are burned into it"
    if settings.video_codec != "libx264":
        return f"the output codec is {settings.video_codec}; megacut copies H.264 into H.264"
    if source.video_codec != "h264":
        return f"its video is {source.video_codec}, the output H.264"
    if source.dynamic_range.hdr:
        return f"it is {source.dynamic_range.signal}: its pictures are tone-mapped"
    if source.rotation:
        return f"it is rotated {source.rotation} degrees"
    if source.interlaced:
        return "it is interlaced"
    if source.fps != fmt.fps:
        return f"its frame rate is {source.fps}, the output's {fmt.fps}"
    if (source.width, source.height) != (fmt.width, fmt.height):
        return f"it is {source.width}x{source.height}, the output {fmt.width}x{fmt.height}"
    if source.pix_fmt != fmt.pix_fmt:
        return f"its pixels are {source.pix_fmt}, the output's {fmt.pix_fmt}"
    same_colours, reading = colour_reading(source)
    return "" if same_colours else reading


def colour_reading(source: SourceInfo) -> tuple[bool, str]:
    """(whether the renderer keeps the source's pictures' colours as they are, how it reads them): it
    converts from the source's matrix (render/colour.py), so a source read as BT.709 and not HDR is what
    the output is, whatever its primaries and transfer tags say; a copy keeps its pictures the same way."""
    matrix = source_matrix(source)
    if not source.color_matrix:
        size = f"untagged, {source.width}x{source.height}"
        if matrix != OUTPUT_MATRIX:
            return False, f"its colours are {size}: read as BT.601 (SD), converted to BT.709"
        return True, f"colours {size}: read as BT.709 (HD), as the renderer reads them"
    if matrix != OUTPUT_MATRIX:
        return False, f"its colours are tagged {source.color_matrix}, not BT.709: converted to BT.709"
    if source.hdr:
        return False, f"it is HDR ({source.color_transfer})"
    if source.color_transfer == OUTPUT_MATRIX:
        return True, "colours tagged BT.709"
    return True, (f"colours tagged with a BT.709 matrix, transfer {source.color_transfer or 'untagged'}: read as "
                  "BT.709, as the renderer reads them")


def _stream_mismatch(description: str) -> str:
    """What in the stream's description (ffmpeg's line) differs from the output: range, pixel shape."""
    colour = re.search(r"yuv420p\(([^)]*)\)", description)
    tokens = [t.strip() for t in colour.group(1).split(",")] if colour else []
    if "tv" not in tokens:
        return "its colour range is not tagged limited (tv)"
    sar = re.search(r"\[SAR (\d+):(\d+)", description)
    if sar and sar.group(1) != sar.group(2):  # with the probe's display size, the coded size is the output's
        return f"its pixels are not square (SAR {sar.group(1)}:{sar.group(2)})"
    return ""


def changed_frames(scene: Scene, fmt: OutputFormat, settings: Settings) -> tuple[int, int]:
    """(a, b): frames before ``a`` and from ``b`` on are drawn over (overlay, fades); between, the source's."""
    fps = float(fmt.fps)
    head = 0
    timing = scene_overlay(scene, fmt, settings)
    if timing is not None:
        head = math.ceil(timing.duration_s * fps) + 1
    if scene.fade_in_s > 0:
        head = max(head, math.ceil(scene.fade_in_s * fps) + 1)
    tail = scene.frames
    if scene.fade_out_s > 0:
        tail = max(0, scene.frames - math.ceil(scene.fade_out_s * fps) - 1)
    return head, tail


def first_frame(scene: Scene, index: SourceIndex) -> int:
    """The source frame a scene starts on (-1: before the first), as the ffmpeg renderer finds it: the
    last one shown at the scene's start."""
    return bisect.bisect_right(index.shown, (scene.start_s + START_SLACK_S) / index.time_base) - 1


def _span(scene: Scene, fmt: OutputFormat, settings: Settings, index: SourceIndex) -> CopySpan | str:
    problem = _stream_mismatch(index.description)
    if problem:
        return problem
    times = index.shown
    first = first_frame(scene, index)
    if first < 0:
        return "the scene starts before the source's first frame"
    head, tail = changed_frames(scene, fmt, settings)
    idr_frames = index.idr_frames
    at = bisect.bisect_left(idr_frames, first + head)
    if at == len(idr_frames) or idr_frames[at] >= first + tail:
        return "no IDR picture lies between its overlay and its end" if scene.overlay_lines else \
            "no IDR picture lies inside it"
    start = idr_frames[at]
    packet, end_limit = index.by_rank[start], min(first + tail, len(times))
    best, low, high = 0, start, start - 1
    for count, n in enumerate(range(packet, len(index.dts)), start=1):
        low, high = min(low, index.rank[n]), max(high, index.rank[n])
        if low < start or high >= end_limit:
            break
        if high - start + 1 == count:
            best = count
    if best < fmt.frames_for(MIN_COPY_S):
        return f"it would copy {best} frames, fewer than {MIN_COPY_S:g} s: not worth it"
    end = packet + best
    seek_s = max(0.0, index.seconds(index.pts[packet]) - SEEK_BEFORE_S)
    last_s = index.seconds(times[start + best - 1])
    return CopySpan(first_frame=start - first, frames=best, first_dts=index.dts[packet],
                    end_dts=index.dts[end] if end < len(index.dts) else None,
                    seek_s=seek_s, read_s=last_s - seek_s + 2.0 + index.reorder * float(1 / fmt.fps))


def copy_summary(plan: RenderPlan) -> tuple[list[str], list[Problem]]:
    """With smart copy on: a line per scene of the selected parts (which frames are copied, or why it is
    rendered), as `megacut plan` prints them, and under ``strict`` an error per scene that cannot be."""
    lines, problems, copied, total, read = [], [], 0, 0, set()
    for part in plan.selected_parts:
        for scene in part.scenes:
            span = copy_span(scene, plan.format, plan.settings)
            total += scene.frames
            if isinstance(span, CopySpan):
                copied += span.frames
                reading = "" if scene.source.path in read else f"; {colour_reading(scene.source)[1]}"
                read.add(scene.source.path)
                lines.append(f"  {scene.name}: frames {span.first_frame}-{span.first_frame + span.frames - 1} "
                             f"of {scene.frames} copied ({100 * span.frames / scene.frames:.0f}%), the rest "
                             f"rendered{reading}")
                continue
            lines.append(f"  {scene.name}: rendered: {span}")
            if plan.settings.copy == "strict":
                problems.append(Problem(f"--copy strict: {scene.name} cannot be copied: {span}; "
                                        "use --copy auto to render such scenes", str(plan.csv_path), scene.line))
    share = f"{100 * copied / total:.0f}%" if total else "none"
    return [f"Smart copy ({plan.settings.copy}): {share} of the frames copied", *lines], problems
