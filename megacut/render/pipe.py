"""The frame pipe: pictures drawn in Python streamed to one ffmpeg run that encodes a segment.

The moviepy scene renderer and the moviepy section renderer draw frames in
Python; :func:`write_segment` streams them (H x W x 3 uint8 RGB) through a
named pipe into one ffmpeg run with the scene renderer's encoder, colour
conversion and time scales, plus the audio inputs the caller gives. Where
there are no named pipes (Windows) frames go through a raw file first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from megacut.ffmpeg import run_ffmpeg, stream_to_ffmpeg
from megacut.plan.build import OutputFormat
from megacut.plan.settings import Settings
from megacut.render.colour import OUTPUT_MATRIX, rgb_to_output
from megacut.render.scene_ffmpeg import (
    raw_rgb_input,
    segment_output_args,
    video_encoder_args,
)
from megacut.render.segment import check_cancel


def encode_args(feed: Path, fmt: OutputFormat, settings: Settings, audio_inputs: list[str], audio_filter: str,
                output: Path, rgb_matrix: str = OUTPUT_MATRIX) -> list[str]:
    """ffmpeg arguments: raw RGB frames from ``feed`` (converted with ``rgb_matrix``) plus audio
    (``audio_filter`` ends in ``[a]``) into a segment with the ffmpeg renderer's encoder, pixel format,
    colour tags and time scales."""
    video_input = audio_inputs.count("-i")
    args = ["-loglevel", "error", *audio_inputs, *raw_rgb_input(feed, fmt)]
    graph = f"[{video_input}:v]setsar=1,{rgb_to_output(fmt.pix_fmt, rgb_matrix)}[v];{audio_filter}"
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", *video_encoder_args(settings, fmt.pix_fmt)]
    return args + segment_output_args(fmt, output)


def write_segment(frame_at: Callable[[int], np.ndarray], frames: int, fmt: OutputFormat, settings: Settings,
                  audio_inputs: list[str], audio_filter: str, output: Path, work_dir: Path, cancel=None,
                  rgb_matrix: str = OUTPUT_MATRIX) -> None:
    """Encode ``frame_at(0..frames-1)`` (H x W x 3 uint8, converted with ``rgb_matrix``) and the audio into
    ``output`` with one ffmpeg run.

    Frames stream through a named pipe; where there are none (Windows) they go
    through a raw file in ``work_dir`` first. Checks ``cancel`` between frames.
    """
    if hasattr(os, "mkfifo"):
        feed = work_dir / "frames.fifo"
        feed.unlink(missing_ok=True)  # left by a worker that was killed
        os.mkfifo(feed)
        args = encode_args(feed, fmt, settings, audio_inputs, audio_filter, output, rgb_matrix)
        stream_to_ffmpeg(args, feed, _frames(frame_at, frames, fmt, cancel), cancel)
        return
    feed = work_dir / "frames.rgb"
    with open(feed, "wb") as handle:
        for frame in _frames(frame_at, frames, fmt, cancel):
            handle.write(frame)
    run_ffmpeg(encode_args(feed, fmt, settings, audio_inputs, audio_filter, output, rgb_matrix), cancel=cancel)


def _frames(frame_at, frames: int, fmt: OutputFormat, cancel):
    """The frames' bytes, checking ``cancel`` before each."""
    for k in range(frames):
        check_cancel(cancel)
        yield _frame_bytes(frame_at(k), fmt)


def _frame_bytes(frame: np.ndarray, fmt: OutputFormat) -> memoryview:
    if frame.shape != (fmt.height, fmt.width, 3) or frame.dtype != np.uint8:
        raise ValueError(f"a frame is {frame.shape} {frame.dtype}; expected ({fmt.height}, {fmt.width}, 3) uint8")
    return memoryview(np.ascontiguousarray(frame)).cast("B")
