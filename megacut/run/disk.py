"""Will the render fit on disk? An estimate of what segments and parts need, per file system.

The estimate is deliberately generous (x264 at usual quality stays well below
``VIDEO_BITS_PER_PIXEL`` on film), so a run that passes does not stop halfway
for want of space; a disk that fills anyway fails the affected jobs cleanly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from megacut.errors import ExitCode, MegacutError
from megacut.join.chunks import CHUNK_SEGMENTS
from megacut.plan.build import OutputFormat

VIDEO_BITS_PER_PIXEL = 0.15  # per frame; about 7.8 Mbit/s at 1080p25
# A segment's sound is ALAC: 43-45% of its s16 PCM measured on film sound (benchmarks/sound_benchmark.py)
SOUND_BYTES_PER_CHANNEL = 2 * 0.6
AAC_BITS_PER_S = {2: 192_000, 6: 384_000 + 192_000}  # a 5.1 part carries a stereo track too
HEADROOM_BYTES = 200 * 1024 * 1024


class DiskSpaceError(MegacutError):
    """Not enough free space for the render; nothing was rendered."""

    exit_code = ExitCode.INVALID


def video_bytes(frames: int, fmt: OutputFormat) -> int:
    return int(frames * fmt.width * fmt.height * VIDEO_BITS_PER_PIXEL / 8)


def estimate_bytes(segment_frames: int, part_frames: int, fmt: OutputFormat) -> tuple[int, int]:
    """(bytes for the segments to render, bytes for the parts to join)."""
    segments = video_bytes(segment_frames, fmt) + int(fmt.samples_for(segment_frames) * SOUND_BYTES_PER_CHANNEL * fmt.channels)
    parts = video_bytes(part_frames, fmt) + int(part_frames / fmt.fps * AAC_BITS_PER_S[fmt.channels] / 8)
    return segments, parts


def render_need(groups, cache=None) -> tuple[int, int]:
    """(segment bytes, part bytes) that rendering the selected ``groups`` writes: with a
    :class:`~megacut.run.cache.SegmentCache`, only the parts not current and the segments not valid in it."""
    if cache is None:
        return need_bytes(groups, lambda group: False, lambda group, job: True)
    return need_bytes(groups, lambda group: cache.part_is_current(group.output, group.keys, group.join_key),
                      lambda group, job: not cache.is_valid(job.key, job.frames, group.format))


def need_bytes(groups, done, pending) -> tuple[int, int]:
    """(segment bytes, part bytes) for the selected ``groups`` that are not ``done(group)``: their jobs that
    are ``pending(group, job)`` (an identical segment counted once, as it is rendered once), and the part.
    The segment bytes include the largest part once more where its segments are joined ahead in the
    cache while it renders (join/chunks.py)."""
    segment_bytes = part_bytes = ahead_bytes = 0
    rendered: set[str] = set()
    for group in (g for g in groups if g.selected and not done(g)):
        todo = {job.key: job.frames for item in group.items for job in item.jobs
                if job.key not in rendered and pending(group, job)}
        rendered.update(todo)
        segments, parts = estimate_bytes(sum(todo.values()), group.frames, group.format)
        segment_bytes, part_bytes = segment_bytes + segments, part_bytes + parts
        if len(todo) > CHUNK_SEGMENTS:  # enough segments to be joined ahead
            ahead_bytes = max(ahead_bytes, parts)
    return segment_bytes + ahead_bytes, part_bytes


def _device(path: Path) -> int:
    return os.stat(_existing(path)).st_dev


def check_free_space(cache_dir: Path, segment_bytes: int, output_dir: Path, part_bytes: int) -> None:
    """Raise DiskSpaceError when the cache's or the output's file system is too full."""
    needs: dict[int, tuple[Path, int]] = {}
    for folder, amount in ((cache_dir, segment_bytes), (output_dir, part_bytes)):
        device = _device(folder)
        previous = needs.get(device, (folder, 0))
        needs[device] = (previous[0], previous[1] + amount)
    for folder, amount in needs.values():
        free = shutil.disk_usage(_existing(folder)).free
        if amount + HEADROOM_BYTES > free:
            raise DiskSpaceError(
                f"not enough free space in {folder}: this render needs about "
                f"{format_bytes(amount + HEADROOM_BYTES)}, {format_bytes(free)} is free; free some space, render "
                "fewer parts (--chunks), or put the segment cache on another disk (--cache-dir)")


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def format_bytes(amount: int) -> str:
    """A size as a person reads it: 1.2 GB, 340 MB, 85 kB, 0 B."""
    if amount >= 1e8:
        return f"{amount / 1e9:.1f} GB"
    if amount >= 1e6:
        return f"{amount / 1e6:.0f} MB"
    return f"{amount / 1e3:.0f} kB" if amount >= 1e3 else f"{amount} B"
