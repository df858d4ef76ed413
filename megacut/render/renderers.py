"""The renderer of each job kind, by the name a job carries (``Job.renderer``): the one place that maps
job kinds to code. Every renderer takes ``(job, cancel=None, clips=None)`` and returns a JobResult."""

from __future__ import annotations

from typing import Callable

from megacut.render.clips import ClipCache
from megacut.render.jobs import RENDERER_VERSIONS, Job, JobResult
from megacut.render.scene_ffmpeg import render_scene_ffmpeg
from megacut.render.scene_moviepy import render_scene_moviepy
from megacut.render.section import render_still

RENDERERS: dict[str, Callable[..., JobResult]] = {
    "scene/ffmpeg": render_scene_ffmpeg,
    "scene/moviepy": render_scene_moviepy,
    "still/ffmpeg": render_still,
    "still/moviepy": render_still,
}
assert RENDERERS.keys() == RENDERER_VERSIONS.keys(), "every renderer has a version, every version a renderer"


def render_job(job: Job, *, cancel=None, clips: ClipCache | None = None) -> JobResult:
    """Render ``job`` in this process: ``cancel`` is the shared stop Event, ``clips`` this thread's source LRU."""
    return RENDERERS[job.renderer](job, cancel=cancel, clips=clips)
