"""The segment contract every renderer keeps: written under a temporary name, checked, then renamed.

A segment is complete at its final path or absent: the renderer writes the
temporary file :func:`writing_segment` hands it; on success the file must hold
exactly the planned frames and audio samples in the planned format, and is
renamed; whatever happens, the temporary file and the job's scratch folder go.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

from megacut.errors import Cancelled, FFmpegError
from megacut.ffmpeg import process_cpu_s
from megacut.files import host_name, writing
from megacut.mov import read_tracks
from megacut.plan.build import OutputFormat
from megacut.render.jobs import Job, JobResult


def segment_problem(path: Path, frames: int, fmt: OutputFormat) -> str | None:
    """Why ``path`` is not a complete segment of ``frames`` frames in ``fmt``, or None when it is."""
    samples = fmt.samples_for(frames)
    try:
        tracks = read_tracks(path)
    except (OSError, ValueError) as exc:
        return f"the segment cannot be read ({exc})"
    video = [t for t in tracks if t.handler == "vide"]
    audio = [t for t in tracks if t.handler == "soun"]
    if len(video) != 1 or len(audio) != 1:
        return f"the segment has {len(video)} video and {len(audio)} audio tracks; expected one of each"
    v, a = video[0], audio[0]
    if (v.width, v.height) != (fmt.width, fmt.height) or (a.sample_rate, a.channels) != (fmt.sample_rate,
                                                                                        fmt.channels):
        return (f"the segment is {v.width}x{v.height} with {a.channels} ch at {a.sample_rate} Hz; expected "
                f"{fmt.width}x{fmt.height} with {fmt.channels} ch at {fmt.sample_rate} Hz")
    if v.samples != frames or a.duration != samples or a.timescale != fmt.sample_rate:
        return (f"the segment has {v.samples} video frames and {a.duration} audio samples; "
                f"expected {frames} and {samples}")
    return None


def check_cancel(cancel) -> None:
    """Raise Cancelled when the ``cancel`` event (if any) is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


@contextlib.contextmanager
def writing_segment(name: str, segment_path: Path, work_dir: Path, frames: int, fmt: OutputFormat):
    """Yield the temporary path to write; on success check it and rename it to ``segment_path``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        with writing(segment_path) as temp:
            yield temp
            problem = segment_problem(temp, frames, fmt)
            if problem:
                raise FFmpegError(f"{name}: ffmpeg reported success but {problem}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def job_result(job: Job, started_s: float, cpu_before_s: float) -> JobResult:
    """What a renderer returns for ``job``, rendered since ``started_s`` (monotonic) and ``cpu_before_s``."""
    return JobResult(job_id=job.id, key=job.key, segment_path=job.segment_path, render_s=time.monotonic() - started_s,
                     cpu_s=process_cpu_s() - cpu_before_s, ended_at=time.time(), host=host_name())
