"""The copy renderer: a run of a source's video packets stream-copied into a segment, its sound rendered.

The run was chosen at plan time (render/copy_plan.py) by its packets' decode timestamps, read as every
renderer reads them (``-copyts -start_at_zero``). The input seeks a little before its first packet (the
demuxer lands on a keyframe at or before it); bitstream filters keep exactly the run's packets
(``noise=drop``, by decode timestamp) and give them the segment's own timestamps, exact in the part's
time scale whatever the source's (``setts``, after rescaling: ``prescale``): presentation times are
whole frames from 0, and decode times one frame apart from two frames before 0, the B-frame delay every
joined piece shares (join/assemble.py). Nothing is decoded or encoded: the packets are the source's,
bytes unchanged. The sound is the ffmpeg renderer's: the same input, graph and samples as a rendered
segment of these frames (render/scene_ffmpeg.py), so a copied scene sounds exactly as a rendered one.
"""

from __future__ import annotations

import time
from pathlib import Path

from megacut.ffmpeg import input_file, run_ffmpeg
from megacut.render.copy_plan import MAX_REORDER
from megacut.render.jobs import CopyJob, JobResult
from megacut.render.scene_ffmpeg import (
    TIMESTAMPS,
    _num,
    audio_graph,
    frame_ticks,
    segment_output_args,
    sound_input,
    video_timescale,
)
from megacut.render.segment import job_result, process_cpu_s, writing_segment


# A copied source is read as BT.709 (copy_plan.colour_reading), its matrix tagged so or untagged: its stream is
# tagged as the renderer tags its segments (colour.OUTPUT_TAGS), the pictures untouched.
BT709_TAGS = "h264_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1:video_full_range_flag=0"


def copy_filters(job: CopyJob) -> str:
    """The bitstream filters that keep the run's packets, time them as a segment's and tag their colours
    BT.709."""
    span, fps = job.span, job.format.fps
    scale, tick = video_timescale(fps), frame_ticks(fps)
    outside = f"lt(dts\\,{span.first_dts})" + (f"+gte(dts\\,{span.end_dts})" if span.end_dts is not None else "")
    return (f"noise=drop={outside},"
            f"setts=time_base=1/{scale}:prescale=1:pts=round((PTS-STARTPTS)/{tick})*{tick}"
            f":dts=(N-{MAX_REORDER})*{tick}:duration={tick},{BT709_TAGS}")


def build_copy_args(job: CopyJob, output: Path) -> list[str]:
    """The ffmpeg arguments (after ``ffmpeg -nostdin -hide_banner``) that write ``job``'s segment to ``output``."""
    span, source = job.span, job.scene.source
    args = ["-loglevel", "error", *TIMESTAMPS,
            *input_file(source.path, "-ss", _num(span.seek_s), "-t", _num(span.read_s))]
    args += sound_input(job) if job.scene.audio is not None else []
    args += ["-filter_complex", audio_graph(job, 1), "-map", f"0:{source.video_index}", "-map", "[a]",
             "-c:v", "copy", "-bsf:v", copy_filters(job)]
    return args + segment_output_args(job.format, output)


def render_scene_copy(job: CopyJob, cancel=None, clips=None) -> JobResult:
    """Write ``job``'s segment (complete or absent, never partial); raises FFmpegError or Cancelled."""
    del clips
    started_s, cpu_before_s = time.monotonic(), process_cpu_s()
    with writing_segment(job.name, job.segment_path, job.work_dir, job.frames, job.format) as temp:
        run_ffmpeg(build_copy_args(job, temp), cancel=cancel)
    return job_result(job, started_s, cpu_before_s)
