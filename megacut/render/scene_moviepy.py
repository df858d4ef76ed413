"""The moviepy scene renderer: the ffmpeg renderer's scene, its frames drawn by moviepy clips.

This is the reference renderer and the one that runs a user's frame effect
(``--effect module:function``). It meets the same segment contract as
``scene_ffmpeg`` (exactly N frames, exactly M samples of 48 kHz stereo PCM,
the same encoder options and time scales), so its segments join with the
ffmpeg renderer's by stream copy.

Video: the source is a ``VideoFileClip`` from the worker's clip LRU, read
already scaled to the fitted size (moviepy's ``target_resolution`` makes its
reader's ffmpeg scale), ``subclipped`` at the scene start; output frame k
shows the source frame on screen at ``start_s + k/fps`` (plus the ffmpeg
renderer's 3 ms slack), the last source frame repeating past the end. Then
pad/crop, fades through black, the overlay image with its fades, the effect;
the encoder converts the RGB frames to BT.709 like every renderer (an
untagged HD source, which moviepy's reader decodes as BT.601, is encoded back
with BT.601: ``colour.reader_matrix``). moviepy's reader does not deinterlace:
an interlaced source keeps its combing here (the plan warns).
moviepy's reader numbers frames as if the frame rate were constant, so on a
variable-frame-rate source frames can drift (up to 4 frames after 40 on a
25/50 fps test source); the ffmpeg backend is exact there.

Frames go to one ffmpeg run (through ``run_ffmpeg``) over a named pipe in
``work_dir``; the same run reads the chosen audio track from the source with
the ffmpeg renderer's own audio graph, so the audio is sample-identical to
that renderer's and in sync by construction. Released moviepy (2.2.1) cannot
choose an audio track, and its ``write_videofile`` writes the frame rate as
``%.02f`` (29.97 is not 30000/1001) and runs ffmpeg outside ``run_ffmpeg``
(no cancel, no stall watch, no process session), so neither is used.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import time
import warnings
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

import numpy as np

from megacut.errors import UsageError
from megacut.plan.build import fitted_size
from megacut.render.colour import reader_matrix
from megacut.render.jobs import JobResult, SceneJob
from megacut.render.overlay import render_overlay_image, scene_overlay
from megacut.render.subtitles import burned_in, cue_image
from megacut.render.pipe import write_segment
from megacut.render.scene_ffmpeg import START_SLACK_S, _num, scene_audio
from megacut.render.segment import (
    check_cancel,
    job_result,
    process_cpu_s,
    writing_segment,
)

if TYPE_CHECKING:
    from moviepy import VideoClip

    from megacut.render.clips import ClipCache

# ------------------------------------------------------------------ effects


@lru_cache(maxsize=16)
def load_effect(spec: str) -> Callable:
    """The function named by ``--effect module:function``; UsageError naming the effect if unusable.

    The module is imported by name (``sys.path``; the working folder is tried
    too, so ``my_effects.py`` beside the CSV works with the console script).
    """
    module_name, _, attribute = (part.strip() for part in spec.partition(":"))
    if not module_name or not attribute:
        raise UsageError(f"--effect: '{spec}' is not module:function; write e.g. my_effects:invert "
                         "(a function taking (frame, t) and returning the frame)")
    module = _import_effect_module(spec, module_name)
    target = module
    for name in attribute.split("."):
        if not hasattr(target, name):
            raise UsageError(f"--effect {spec}: module '{module_name}' has no '{attribute}'")
        target = getattr(target, name)
    if not callable(target):
        raise UsageError(f"--effect {spec}: '{attribute}' is a {type(target).__name__}, not a function")
    return target


def _import_effect_module(spec: str, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if exc.name != module_name.split(".")[0] or cwd in sys.path:
            raise UsageError(f"--effect {spec}: cannot import '{module_name}' ({exc})") from None
        sys.path.append(cwd)
        return _import_effect_module(spec, module_name)
    except Exception as exc:  # the user's module failed while importing: say so, whatever it raised
        raise UsageError(f"--effect {spec}: importing '{module_name}' failed: {type(exc).__name__}: {exc}") from None


def checked_effect(spec: str) -> Callable[[np.ndarray, float], np.ndarray]:
    """The effect wrapped so a failure or a wrong result is a UsageError naming it."""
    effect = load_effect(spec)

    def apply(frame: np.ndarray, t: float) -> np.ndarray:
        if not frame.flags.writeable:  # frames read by moviepy are read-only; effects may work in place
            frame = frame.copy()
        try:
            result = effect(frame, t)
        except Exception as exc:
            raise UsageError(f"--effect {spec} failed at t={t:.3f} s: {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, np.ndarray) or result.shape != frame.shape or result.dtype != np.uint8:
            got = (f"a {'x'.join(map(str, result.shape))} {result.dtype} array" if isinstance(result, np.ndarray)
                   else f"a {type(result).__name__}")
            raise UsageError(f"--effect {spec} returned {got}; it must return a "
                             f"{'x'.join(map(str, frame.shape))} uint8 array like the frame it is given")
        return result

    return apply


# -------------------------------------------------------------------- video


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre ``frame`` in width x height: crop what is larger, pad with black what is smaller.
    Offsets are rounded down to even pixels, as ffmpeg's crop and pad do for yuv420p."""
    h, w = frame.shape[:2]
    if w > width:
        x = ((w - width) // 2) & ~1
        frame = frame[:, x:x + width]
    if h > height:
        y = ((h - height) // 2) & ~1
        frame = frame[y:y + height]
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    out = np.zeros((height, width, 3), dtype=np.uint8)
    x, y = ((width - w) // 2) & ~1, ((height - h) // 2) & ~1
    out[y:y + h, x:x + w] = frame
    return out


def open_source(clips: "ClipCache", job: SceneJob) -> "VideoClip":
    """The source as a VideoFileClip (no audio) read at the fitted size, shared through the LRU."""
    from moviepy import VideoFileClip

    info, fmt = job.scene.source, job.format
    size = fitted_size(info.width, info.height, fmt, job.settings.fit)
    key = ("moviepy", str(info.path), info.size_bytes, info.mtime_ns, size)
    return clips.get(key, lambda: VideoFileClip(str(info.path), audio=False, target_resolution=size))


def _whole_frames(seconds: float, fps: Fraction) -> int:
    """Seconds to frames as ffmpeg's fade filter rounds them (to nearest, halves up), from the same
    microsecond value the ffmpeg renderer writes into its graph."""
    return math.floor(Fraction(_num(seconds)) * fps + Fraction(1, 2))


def ffmpeg_ramp(frame_index: int, start_s: float, duration_s: float, fps: Fraction) -> float:
    """How far ``fade=st=start_s:d=duration_s`` is at output frame ``frame_index``: 0 before, 1 after.
    ffmpeg (9) rounds the start and the length to whole frames, then ramps linearly over the frames."""
    start, length = _whole_frames(start_s, fps), max(1, _whole_frames(duration_s, fps))
    return min(1.0, max(0.0, (frame_index - start) / length))


def fade_factor(frame_index: int, job: SceneJob) -> float:
    """Brightness of an output frame under the scene's fades through black, as the ffmpeg renderer's
    ``fade`` filters make it (same start times and lengths as scene_ffmpeg.scene_fades)."""
    scene, fps = job.scene, job.format.fps
    factor = 1.0
    if scene.fade_in_s > 0:
        factor = ffmpeg_ramp(frame_index, 0.0, scene.fade_in_s, fps)
    if scene.fade_out_s > 0:
        last_frame_s = float(Fraction(scene.frames - 1) / fps)
        start_s = max(0.0, last_frame_s - scene.fade_out_s)
        factor = min(factor, 1.0 - ffmpeg_ramp(frame_index, start_s, scene.fade_out_s, fps))
    return factor


def overlay_layer(job: SceneJob):
    """(ImageClip of the overlay's box with its alpha as mask, x, y, shown frames, alpha per frame), or None."""
    from moviepy import ImageClip

    fmt = job.format
    timing = scene_overlay(job.scene, fmt, job.settings)
    if timing is None:
        return None
    image = render_overlay_image(job.scene.overlay_lines, fmt.width, fmt.height, job.settings)
    box = image.getbbox()
    if box is None:
        return None
    layer = ImageClip(np.asarray(image.crop(box)), transparent=True, duration=timing.duration_s)
    shown_frames = max(1, round(timing.duration_s * fmt.fps))  # as scene_ffmpeg.video_graph loops the image

    def alpha(frame_index: int) -> float:
        fade_in = ffmpeg_ramp(frame_index, 0.0, timing.fade_in_s, fmt.fps)
        return min(fade_in, 1.0 - ffmpeg_ramp(frame_index, timing.fade_out_start_s, timing.fade_out_s, fmt.fps))

    return layer, box[0], box[1], shown_frames, alpha


def subtitle_layers(job: SceneJob) -> list:
    """The forced subtitle pictures of the whole scene, as :func:`with_overlay` takes them: each shown fully
    on the frames it shows on, nowhere else (render/subtitles.py)."""
    from moviepy import ImageClip

    scene, fmt = job.scene, job.format
    layers = []
    for burned in burned_in(scene, fmt, 0, scene.frames):
        image = cue_image(burned.cue, (scene.source.width, scene.source.height), fmt, job.settings.fit)
        box = image.getbbox()
        if box is None:
            continue
        layer = ImageClip(np.asarray(image.crop(box)), transparent=True, duration=float(job.scene.duration_s))
        shown = range(burned.first, burned.end)
        layers.append((layer, box[0], box[1], burned.end, lambda k, shown=shown: 1.0 if k in shown else 0.0))
    return layers


def with_overlay(clip: "VideoClip", fps: Fraction, layer: "VideoClip", x: int, y: int, shown_frames: int,
                 alpha) -> "VideoClip":
    """``clip`` with ``layer`` blended at (x, y), its mask scaled by ``alpha(frame)``, for ``shown_frames``.

    Blends only the layer's box: CompositeVideoClip would convert whole frames
    to Pillow images and back on every frame (notes/ffmpeg-guide.md §6).
    """
    w, h = layer.size
    rgb, mask = layer.get_frame(0).astype(np.float32), layer.mask.get_frame(0)[..., None]

    def blend(get_frame, t):
        frame, frame_index = get_frame(t), round(t * fps)
        opacity = alpha(frame_index) if frame_index < shown_frames else 0.0
        if opacity <= 0:
            return frame
        out = frame.copy()
        region = out[y:y + h, x:x + w].astype(np.float32)
        out[y:y + h, x:x + w] = (region + (rgb - region) * (mask * opacity) + 0.5).astype(np.uint8)
        return out

    return clip.transform(blend)


def scene_clip(job: SceneJob, source: "VideoClip") -> "VideoClip":
    """The scene as a moviepy clip of exactly the scene's duration, frames W x H x 3 uint8."""
    scene, fmt = job.scene, job.format
    info = scene.source
    last_s = max(0.0, info.duration_s - float(1 / info.fps) - scene.start_s)  # the last frame, from the start
    clip = source.subclipped(scene.start_s)
    clip = clip.time_transform(lambda t: min(t + START_SLACK_S, last_s))
    clip = clip.with_duration(float(Fraction(scene.frames) / fmt.fps))
    clip = clip.image_transform(lambda frame: fit_frame(frame, fmt.width, fmt.height))
    if scene.fade_in_s > 0 or scene.fade_out_s > 0:
        clip = clip.transform(lambda get_frame, t: _darken(get_frame(t), fade_factor(round(t * fmt.fps), job)))
    for subtitle in subtitle_layers(job):
        clip = with_overlay(clip, fmt.fps, *subtitle)
    layer = overlay_layer(job)
    if layer is not None:
        clip = with_overlay(clip, fmt.fps, *layer)
    if job.settings.effect:
        effect = checked_effect(job.settings.effect)
        clip = clip.transform(lambda get_frame, t: effect(get_frame(t), t))
    return clip


def _darken(frame: np.ndarray, factor: float) -> np.ndarray:
    if factor >= 1.0:
        return frame
    return (frame.astype(np.float32) * factor + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- the job


def render_scene_moviepy(job: SceneJob, cancel=None, clips: "ClipCache | None" = None) -> JobResult:
    """Render one scene (or a segment of it) through moviepy clips to ``job.segment_path`` (complete or
    absent, never partial). The clip is the whole scene; a segment takes its frames from ``first_frame``.

    ``clips`` is the worker's LRU of opened sources (None: a private one, closed
    at the end). The clips derived from a source (subclip, transforms) share its
    reader, so they are left to the LRU: closing one would close the source's.
    An LRU serves one thread at a time (a moviepy reader cannot serve two).
    Raises UsageError for a bad effect, FFmpegError, Cancelled; the temporary
    file and ``job.work_dir`` are removed either way.
    """
    from megacut.render.clips import ClipCache

    check_cancel(cancel)
    started_s, cpu_before_s = time.monotonic(), process_cpu_s()
    cache = clips if clips is not None else ClipCache(1)
    fps = job.format.fps
    try:
        with writing_segment(job.name, job.segment_path, job.work_dir, job.frames, job.format) as temp:
            with warnings.catch_warnings():  # moviepy warns (prints) on reads past the end; workers never print
                warnings.simplefilter("ignore")
                clip = scene_clip(job, open_source(cache, job))
                inputs, graph = scene_audio(job)
                first = job.first_frame  # a segment's frames are the scene's from here
                write_segment(lambda k: clip.get_frame(float(Fraction(first + k) / fps)), job.frames, job.format,
                              job.settings, inputs, graph, temp, job.work_dir, cancel, reader_matrix(job.scene.source))
    finally:
        if clips is None:
            cache.clear()
    return job_result(job, started_s, cpu_before_s)
