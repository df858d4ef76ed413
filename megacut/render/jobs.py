"""Job values: what a worker renders, and what it sends back. Small, frozen and picklable.

A job is made once, when a plan becomes jobs (``megacut.run.groups``): it
carries its id (unique in a run), its segment key (a digest of everything that
decides the segment's frames and samples, computed then and never again) and
the name of its renderer. ``megacut.render.renderers`` maps that name to the
function that renders it, so the worker entry knows no job kinds.

Keys: :func:`segment_key` is the one key function. It hashes the renderer's
name and version (``RENDERER_VERSIONS``), the output format, the encoder
settings and ffmpeg's version, and the job's own content (source identity and times for a scene;
picture, text and narration files for a still; the font files that draw its
text). A rerun finds every segment whose key did not change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from fractions import Fraction
from pathlib import Path

from megacut.ffmpeg import ffmpeg_version
from megacut.plan.build import OutputFormat, Scene
from megacut.plan.fonts import font_identities
from megacut.plan.settings import Settings
from megacut.render.colour import picture_key
from megacut.render.copy_plan import CopySpan, copy_span
from megacut.render.loudness import MEASURER_VERSION, TRUE_PEAK_CEILING_DBTP
from megacut.render.overlay import OverlayTiming, scene_overlay
from megacut.render.subtitles import burned_in, burned_key

SEGMENT_SUFFIX = ".mov"

# Bump a renderer's version when a change to it alters the segments it writes: every segment it
# rendered before is then rendered again. The renderers themselves are in megacut.render.renderers.
RENDERER_VERSIONS = {
    "scene/ffmpeg": "6",
    "scene/moviepy": "6",
    "scene/copy": "2",
    "still/ffmpeg": "4",
    "still/moviepy": "4",
}


class Text(str, Enum):
    """An enum whose members are their own text, in messages, f-strings and JSON alike."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class ItemKind(Text):
    """What one item of a part or video is; each kind is a job kind too."""

    SCENE = "scene"  # a range of a source movie (the scenes CSV)
    SLIDE = "slide"  # a section of a sections spec (picture, text, narration)
    TITLE_CARD = "title card"  # a heading row of the CSV (--section-cards), or a spec's title


@dataclass(frozen=True, slots=True)
class Still:
    """What a slide or a title card shows and plays: one picture (an image, text, or both) and narration."""

    image: Path | None  # absolute
    text: str | None
    audio: Path | None  # absolute
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """Render one segment into ``segment_path``.

    The renderer writes a temporary name in the same folder and renames it when
    the segment is complete, so ``segment_path`` is never partial. ``work_dir``
    is a private scratch folder the job creates and removes. Both are given by
    the cache (:meth:`at`); id, key, renderer and frames are fixed when the job is made.
    """

    id: str
    key: str
    # A digest of what decides the segment's sound only (not its picture): a part whose segments all keep
    # their sound keeps its encoded audio track (an edited overlay re-encodes no audio). Empty: not known.
    audio_key: str = ""
    renderer: str  # a key of RENDERER_VERSIONS
    kind: ItemKind
    name: str  # for messages: "scene 3 (line 5)", "intro.json section 2"
    frames: int
    format: OutputFormat
    settings: Settings
    segment_path: Path = Path()
    work_dir: Path = Path()

    @property
    def cost(self) -> float:
        """Relative amount of work, for longest-first scheduling."""
        return self.frames

    @property
    def cost_class(self) -> str:
        """Jobs whose CPU time per unit of cost is alike: the scheduler learns it from those that ended."""
        return self.renderer

    def at(self, segment_path: Path, work_dir: Path) -> "Job":
        """This job writing ``segment_path`` with ``work_dir`` as its scratch folder."""
        return replace(self, segment_path=segment_path, work_dir=work_dir)


@dataclass(frozen=True, slots=True, kw_only=True)
class SceneJob(Job):
    """Frames ``first_frame`` to ``first_frame + frames`` of ``scene`` (all of it unless the scene is split)."""

    scene: Scene
    first_frame: int = 0

    @property
    def cost_class(self) -> str:
        """A scene's source: its size and codec decide the decoding, its content the encoding."""
        return f"{self.renderer} {self.scene.source.path}"

    @property
    def offset_s(self) -> Fraction:
        """Where the segment starts in its scene."""
        return Fraction(self.first_frame) / self.format.fps

    @property
    def overlay(self) -> OverlayTiming | None:
        """When the scene's overlay shows (scene time), if it shows in this job's frames at all."""
        timing = scene_overlay(self.scene, self.format, self.settings)
        return timing if timing is not None and self.offset_s < timing.duration_s else None


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyJob(SceneJob):
    """Frames of ``scene`` stream-copied from its source (``span``), their sound rendered as a segment's."""

    span: CopySpan

    @property
    def cost(self) -> float:
        """Copying reads packets and decodes no picture: about a hundredth of rendering them."""
        return self.frames / 100


@dataclass(frozen=True, slots=True, kw_only=True)
class StillJob(Job):
    still: Still


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a worker reports for a finished job (failures are raised, not returned)."""

    job_id: str
    key: str
    segment_path: Path
    render_s: float
    cpu_s: float
    ended_at: float = 0.0  # wall clock (time.time()) when it ended: with render_s, when it ran
    host: str = ""  # the machine that rendered it

def segment_key(renderer: str, content: dict, fmt: OutputFormat, settings: Settings) -> str:
    """The one key function: a stable digest of everything that decides a segment."""
    return _digest(content, _segment_fields(renderer, fmt, settings, ffmpeg_version()))


def audio_key(renderer: str, content: dict, fmt: OutputFormat) -> str:
    """The digest of what decides a segment's samples: its sound's content, the frame count and rate that
    give its sample count, and the renderer and ffmpeg that make them (never the picture or its encoder)."""
    return _digest(content, _audio_fields(renderer, fmt, ffmpeg_version()))


@lru_cache(maxsize=64)
def _segment_fields(renderer: str, fmt: OutputFormat, settings: Settings, version: str) -> str:
    return _json_fields({
        "encode": [settings.video_codec, settings.crf, settings.preset, settings.encoder_threads, version],
        "format": [fmt.width, fmt.height, str(fmt.fps), fmt.pix_fmt, fmt.sample_rate, fmt.channels],
        "renderer": [renderer, RENDERER_VERSIONS[renderer]],
    })


@lru_cache(maxsize=64)
def _audio_fields(renderer: str, fmt: OutputFormat, version: str) -> str:
    return _json_fields({"renderer": [renderer, RENDERER_VERSIONS[renderer], version],
                         "sound": [str(fmt.fps), fmt.sample_rate, fmt.channels]})


def _json_fields(fields: dict) -> str:
    return "".join(f", {json.dumps(name)}: {json.dumps(value, sort_keys=True)}" for name, value in sorted(fields.items()))


def _digest(content: dict, fields: str) -> str:
    """sha256 of ``{"content": content, **fields}`` as ``json.dumps(..., sort_keys=True)`` writes it ("content"
    sorts first; the other fields, the same for every job of a run, written once)."""
    text = '{"content": ' + json.dumps(content, sort_keys=True) + fields + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def file_identity(path: Path | None) -> list | None:
    """A file's path, size and modification time: any edit of the file changes it."""
    if path is None:
        return None
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def segment_bounds(frames: int, segment_frames: int) -> list[tuple[int, int]]:
    """(first frame, frames) of each segment of a scene of ``frames`` frames: consecutive segments of
    ``segment_frames`` from the scene's start, the last one between half and one and a half of that
    (no tiny tail). Depends on these two numbers only: never on the machine, the worker count or
    other rows, so output and cache keys do not either."""
    if segment_frames <= 0 or frames < segment_frames * 3 // 2:
        return [(0, frames)]
    count = max(1, (frames + segment_frames // 2) // segment_frames)
    starts = [k * segment_frames for k in range(count)]
    return [(start, (starts[k + 1] if k + 1 < count else frames) - start) for k, start in enumerate(starts)]


def scene_jobs(scene: Scene, fmt: OutputFormat, settings: Settings) -> tuple[SceneJob, ...]:
    """The jobs that render ``scene``: one, or one per segment when it is longer than ``settings.segment_s``
    (each segment an independent encode starting on a keyframe, joined by stream copy), keys computed now.
    With smart copy, a scene whose source is what the output is (render/copy_plan.py) is three pieces
    at most: its head rendered, the run of its source's packets copied, its tail rendered."""
    span = copy_span(scene, fmt, settings) if settings.copy != "off" else None
    if isinstance(span, CopySpan):
        pieces = [(0, span.first_frame, None), (span.first_frame, span.frames, span),
                  (span.first_frame + span.frames, scene.frames - span.first_frame - span.frames, None)]
        pieces = [piece for piece in pieces if piece[1] > 0]
        return tuple(scene_job(scene, fmt, settings, first, frames, (number, len(pieces)), copy)
                     for number, (first, frames, copy) in enumerate(pieces, start=1))
    bounds = segment_bounds(scene.frames, fmt.frames_for(settings.segment_s))
    return tuple(scene_job(scene, fmt, settings, first, frames, (number, len(bounds)))
                 for number, (first, frames) in enumerate(bounds, start=1))


def scene_job(scene: Scene, fmt: OutputFormat, settings: Settings, first_frame: int = 0, frames: int | None = None,
              segment: tuple[int, int] = (1, 1), copy: CopySpan | None = None) -> SceneJob:
    """The job that renders ``frames`` frames of ``scene`` from ``first_frame`` (all of it by default), segment
    ``segment[0]`` of ``segment[1]`` (copied as ``copy`` says, if given); its key is computed now."""
    frames = scene.frames - first_frame if frames is None else frames
    renderer = "scene/copy" if copy else f"scene/{settings.backend}"
    source = scene.source
    start_s, end_s = first_frame / fmt.fps, (first_frame + frames) / fmt.fps
    content = {
        "effect": [settings.effect, settings.effect_digest],
        "source": [str(source.path), source.size_bytes, source.mtime_ns],
        "start_s": repr(scene.start_s),
        "first_frame": first_frame,
        "frames": frames,
        "audio": scene.audio.index if scene.audio else None,
        "fit": settings.fit,
        **_scene_effects(scene, fmt, settings, float(start_s), float(end_s)),
    }
    if (picture := picture_key(source, fmt.pix_fmt)) is not None:  # HDR's colour (SDR keys stay as they were)
        content["picture"] = picture
    if copy:  # the packets copied: the picture is the source's, whatever the encoder settings
        content["copy"] = [source.video_index, copy.first_dts, copy.end_dts]
    number, count = segment
    sound = {k: v for k, v in content.items() if k in SCENE_SOUND}
    fields = dict(id=f"scene-{scene.index}" + (f".{number}" if count > 1 else ""),
                  key=segment_key(renderer, content, fmt, settings),
                  audio_key=audio_key("scene/ffmpeg" if copy else renderer, sound, fmt),  # a copy's sound: ffmpeg's
                  renderer=renderer, kind=ItemKind.SCENE,
                  name=scene.name + (f", {'copied' if copy else 'segment'} {number}/{count}" if count > 1 else ""),
                  frames=frames, format=fmt, settings=settings, first_frame=first_frame,
                  scene=replace(scene, subtitles=scene.subtitles.for_render()))  # no more than its render needs
    return CopyJob(**fields, span=copy) if copy else SceneJob(**fields)


# What of a scene job's content decides its sound: the source, the times and frames, the track, the fades.
SCENE_SOUND = ("source", "start_s", "first_frame", "frames", "audio", "fade_in", "fade_out")


def _scene_effects(scene: Scene, fmt: OutputFormat, settings: Settings, start_s: float, end_s: float) -> dict:
    """What is drawn over a segment from ``start_s`` to ``end_s`` of the scene: the overlay and the fades,
    each only where it shows there, so editing an overlay re-renders the segments that show it only."""
    effects = {}
    timing = scene_overlay(scene, fmt, settings)
    if timing is not None and start_s < timing.duration_s:
        effects["overlay"] = list(scene.overlay_lines)
        effects["overlay_style"] = [settings.font, settings.font_size, settings.overlay_duration_s,
                                    scene.duration_s if timing.duration_s >= scene.duration_s else None,
                                    font_identities(scene.overlay_lines, settings)]
    first, frames = fmt.frames_for(start_s), fmt.frames_for(end_s - start_s)
    if burned := burned_in(scene, fmt, first, frames):
        effects["burned_subtitles"] = burned_key(burned)
    if scene.fade_in_s > 0 and start_s < scene.fade_in_s:
        effects["fade_in"] = scene.fade_in_s
    if scene.fade_out_s > 0 and end_s > scene.duration_s - scene.fade_out_s - float(1 / fmt.fps):
        effects["fade_out"] = [scene.fade_out_s, scene.frames]
    return effects


def still_job(job_id: str, kind: ItemKind, name: str, still: Still, fmt: OutputFormat,
              settings: Settings) -> StillJob:
    """The job that renders ``still`` (a slide or a title card), its key computed now (files are read)."""
    renderer = f"still/{settings.backend}"
    frames = max(1, fmt.frames_for(still.duration_s))
    content = {
        "image": file_identity(still.image),
        "audio": file_identity(still.audio),
        "text": still.text,
        "frames": frames,
        "font": [settings.font, settings.font_size, font_identities((still.text,), settings)] if still.text else None,
        "loudness": [settings.loudness, TRUE_PEAK_CEILING_DBTP, MEASURER_VERSION] if still.audio else None,
    }
    sound = {"audio": content["audio"], "frames": frames, "loudness": content["loudness"]}
    return StillJob(id=job_id, key=segment_key(renderer, content, fmt, settings),
                    audio_key=audio_key(renderer, sound, fmt), renderer=renderer, kind=kind,
                    name=name, frames=frames, format=fmt, settings=settings, still=still)
