"""The frame pipe: pictures drawn in Python streamed to one ffmpeg run that encodes a segment.

The moviepy scene renderer and the moviepy section renderer draw frames in
Python; :func:`write_segment` streams them (H x W x 3 uint8 RGB) through a
named pipe into one ffmpeg run with the scene renderer's encoder, colour
conversion and time scales, plus the audio inputs the caller gives. Where
there are no named pipes (Windows) frames go through a raw file first.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from megacut.errors import FFmpegError
from megacut.ffmpeg import run_ffmpeg
from megacut.plan.build import OutputFormat
from megacut.plan.settings import Settings
from megacut.render.colour import OUTPUT_MATRIX, rgb_to_output
from megacut.render.scene_ffmpeg import (
    raw_rgb_input,
    segment_output_args,
    video_encoder_args,
)
from megacut.render.segment import check_cancel

PIPE_BUFFER_BYTES = 1 << 20  # Python-side buffer and (Linux) kernel pipe size for the frame feed
FIFO_POLL_S = 0.01  # how often to retry opening the pipe while ffmpeg starts
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity


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
        _stream_frames(frame_at, frames, fmt, feed, args, cancel)
        return
    feed = work_dir / "frames.rgb"
    with open(feed, "wb") as handle:
        for k in range(frames):
            check_cancel(cancel)
            handle.write(_frame_bytes(frame_at(k), fmt))
    run_ffmpeg(encode_args(feed, fmt, settings, audio_inputs, audio_filter, output, rgb_matrix), cancel=cancel)


class _EitherEvent:
    """Set when any of the events is: the user's cancel, or this job's own abort."""

    def __init__(self, *events):
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class _FFmpegRun(threading.Thread):
    """``run_ffmpeg`` in a thread, its exception kept for the caller."""

    def __init__(self, args: list[str], stop):
        super().__init__(name="megacut-ffmpeg-feed", daemon=True)
        self.args, self.stop, self.error = args, stop, None

    def run(self) -> None:
        try:
            run_ffmpeg(self.args, cancel=self.stop)
        except BaseException as exc:  # handed to the caller by raise_error()
            self.error = exc

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def _stream_frames(frame_at, frames: int, fmt: OutputFormat, fifo: Path, args: list[str], cancel) -> None:
    abort = threading.Event()
    runner = _FFmpegRun(args, _EitherEvent(cancel, abort))
    runner.start()
    pipe = None
    try:
        pipe = _open_fifo(fifo, runner, cancel)
        for k in range(frames):
            check_cancel(cancel)
            pipe.write(_frame_bytes(frame_at(k), fmt))
        pipe, closing = None, pipe
        closing.close()  # end of input: ffmpeg finishes the file
    except BrokenPipeError:
        runner.join()
        runner.raise_error()
        raise FFmpegError("ffmpeg stopped reading frames before the last one") from None
    except BaseException:
        abort.set()  # run_ffmpeg kills ffmpeg within its poll interval
        raise
    finally:
        if pipe is not None:
            _close_quietly(pipe)
        runner.join()
    runner.raise_error()


def _open_fifo(path: Path, runner: _FFmpegRun, cancel):
    """Open the pipe for writing once ffmpeg has opened it for reading (never blocks forever)."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        if not runner.is_alive():
            runner.join()
            runner.raise_error()
            raise FFmpegError("ffmpeg ended without reading the frames")
        check_cancel(cancel)
        time.sleep(FIFO_POLL_S)
    os.set_blocking(fd, True)
    if sys.platform.startswith("linux"):
        try:
            import fcntl

            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BUFFER_BYTES)
        except OSError:  # above /proc/sys/fs/pipe-max-size: keep the default
            pass
    return open(fd, "wb", buffering=PIPE_BUFFER_BYTES)


def _close_quietly(pipe) -> None:
    try:
        pipe.close()
    except OSError:  # ffmpeg is gone already; the file is discarded anyway
        pass


def _frame_bytes(frame: np.ndarray, fmt: OutputFormat) -> memoryview:
    if frame.shape != (fmt.height, fmt.width, 3) or frame.dtype != np.uint8:
        raise ValueError(f"a frame is {frame.shape} {frame.dtype}; expected ({fmt.height}, {fmt.width}, 3) uint8")
    return memoryview(np.ascontiguousarray(frame)).cast("B")
