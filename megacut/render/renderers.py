"""The renderer of each job kind, by the name a job carries (``Job.renderer``): the one place that maps
job kinds to code. Every renderer takes ``(job, cancel=None, clips=None)`` and returns a JobResult.

A renderer's module is imported on its first job, so a worker rendering scenes with ffmpeg never imports
numpy or moviepy (a worker process starts sooner)."""

from __future__ import annotations

import importlib
from typing import Callable

from megacut.render.clips import ClipCache
from megacut.render.jobs import RENDERER_VERSIONS, Job, JobResult

_CODE = {  # renderer -> (module, function)
    "scene/ffmpeg": ("megacut.render.scene_ffmpeg", "render_scene_ffmpeg"),
    "scene/moviepy": ("megacut.render.scene_moviepy", "render_scene_moviepy"),
    "still/ffmpeg": ("megacut.render.section", "render_still"),
    "still/moviepy": ("megacut.render.section", "render_still"),
}
assert _CODE.keys() == RENDERER_VERSIONS.keys(), "every renderer has a version, every version a renderer"


def load_renderer(renderer: str) -> Callable[..., JobResult]:
    """The function of ``renderer``, its module imported now if it was not."""
    module, name = _CODE[renderer]
    return getattr(importlib.import_module(module), name)


def _on_first_use(renderer: str) -> Callable[..., JobResult]:
    def render(job: Job, **kwargs) -> JobResult:
        return load_renderer(renderer)(job, **kwargs)

    return render


RENDERERS: dict[str, Callable[..., JobResult]] = {name: _on_first_use(name) for name in _CODE}


def render_job(job: Job, *, cancel=None, clips: ClipCache | None = None) -> JobResult:
    """Render ``job`` in this process: ``cancel`` is the shared stop Event, ``clips`` this thread's source LRU."""
    return RENDERERS[job.renderer](job, cancel=cancel, clips=clips)
