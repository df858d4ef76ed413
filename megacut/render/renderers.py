"""The renderer of each job kind, by the name a job carries (``Job.renderer``): the one place that maps
job kinds to code. Every renderer takes ``(job, cancel=None, clips=None)`` and returns a JobResult.

A renderer's module is imported on its first job, so a worker rendering scenes with ffmpeg never imports
numpy or moviepy (a worker process starts sooner)."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Callable

from megacut.render.clips import ClipCache
from megacut.render.jobs import RENDERER_VERSIONS, Job, JobResult

_CODE = {  # renderer -> (module, function)
    "scene/ffmpeg": ("megacut.render.scene_ffmpeg", "render_scene_ffmpeg"),
    "scene/moviepy": ("megacut.render.scene_moviepy", "render_scene_moviepy"),
    "scene/copy": ("megacut.render.scene_copy", "render_scene_copy"),
    "still/ffmpeg": ("megacut.render.section", "render_still"),
    "still/moviepy": ("megacut.render.section", "render_still"),
}
assert _CODE.keys() == RENDERER_VERSIONS.keys(), "every renderer has a version, every version a renderer"
# Renderers whose segments' sound can be rendered alone, sample for sample, without the picture:
# renderer -> (module, function(job, output) -> ffmpeg arguments writing raw PCM to output).
_SOUND_ALONE = {
    "scene/ffmpeg": ("megacut.render.scene_ffmpeg", "sound_args"),
    "scene/copy": ("megacut.render.scene_ffmpeg", "sound_args"),  # a copied run's sound is rendered as ffmpeg's
}


def load_renderer(renderer: str) -> Callable[..., JobResult]:
    """The function of ``renderer``, its module imported now if it was not."""
    module, name = _CODE[renderer]
    return getattr(importlib.import_module(module), name)


def _on_first_use(renderer: str) -> Callable[..., JobResult]:
    def render(job: Job, **kwargs) -> JobResult:
        return load_renderer(renderer)(job, **kwargs)

    return render


RENDERERS: dict[str, Callable[..., JobResult]] = {name: _on_first_use(name) for name in _CODE}


def sound_alone(job: Job) -> Callable[[Path], list[str]] | None:
    """For a job whose segment's sound can be rendered without its picture: a function from an output path
    to the ffmpeg arguments that write exactly that sound there (raw PCM); None for other jobs."""
    code = _SOUND_ALONE.get(job.renderer)
    if code is None:
        return None
    module, name = code
    return functools.partial(getattr(importlib.import_module(module), name), job)


def render_job(job: Job, *, cancel=None, clips: ClipCache | None = None) -> JobResult:
    """Render ``job`` in this process: ``cancel`` is the shared stop Event, ``clips`` this thread's source LRU."""
    return RENDERERS[job.renderer](job, cancel=cancel, clips=clips)
