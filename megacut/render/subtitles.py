"""Forced subtitle pictures burned into a scene's picture: which show in a job's frames, drawn where the
source's picture lands in the output, and their part of the job's key.

A PGS picture is drawn on a canvas the size of the source's picture (the "video size" of its
composition). The canvas is scaled and padded or cropped exactly as the picture is (``--fit``), so a
subtitle sits where it sat in the film. A frame shows a picture when the picture is on screen at the
frame's instant, as a player shows it; a segment of a split scene draws the pictures the whole scene
draws on its frames, so split and whole give the same frames.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image

from megacut.plan.build import OutputFormat, Scene, fitted_size
from megacut.subtitles.pgs import ImageCue, write_sup

RESAMPLE = Image.Resampling.LANCZOS


@dataclass(frozen=True, slots=True)
class BurnedCue:
    """A picture shown on the scene's frames ``first`` to ``end`` (exclusive, scene frame numbers)."""

    cue: ImageCue
    first: int
    end: int


def shown_frames(cue: ImageCue, fmt: OutputFormat, scene_frames: int) -> tuple[int, int]:
    """(first, end) scene frames on whose instant ``cue`` is on screen: frame k at k / fps."""
    fps = Fraction(fmt.fps)
    first = math.ceil(Fraction(cue.start_s) * fps - Fraction(1, 10**6))
    end = scene_frames if cue.end_s is None else math.ceil(Fraction(cue.end_s) * fps - Fraction(1, 10**6))
    return max(0, first), min(scene_frames, end)


def burned_in(scene: Scene, fmt: OutputFormat, first_frame: int, frames: int) -> list[BurnedCue]:
    """The scene's forced pictures that show on its frames ``first_frame`` to ``first_frame + frames``."""
    shown = []
    for cue in scene.subtitles.burned:
        first, end = shown_frames(cue, fmt, scene.frames)
        if first < end and first < first_frame + frames and end > first_frame:
            shown.append(BurnedCue(cue, first, end))
    return shown


def burned_key(cues: list[BurnedCue]) -> list[str]:
    """What of the burned pictures decides the frames: each picture (as PGS) and its frames."""
    return [f"{hashlib.sha256(write_sup([c.cue])).hexdigest()[:16]} {c.first}-{c.end}" for c in cues]


def picture_rect(source_size: tuple[int, int], fmt: OutputFormat, fit: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the source's picture in the output frame: scaled as the renderers scale it,
    centred, the offset rounded down to even pixels as ffmpeg's pad and crop place it (negative: cropped)."""
    w, h = fitted_size(*source_size, fmt, fit)

    def offset(frame: int, picture: int) -> int:
        return ((frame - picture) // 2) & ~1 if picture <= frame else -(((picture - frame) // 2) & ~1)

    return offset(fmt.width, w), offset(fmt.height, h), w, h


def cue_image(cue: ImageCue, source_size: tuple[int, int], fmt: OutputFormat, fit: str) -> Image.Image:
    """The picture drawn on a transparent output-size frame, where the source's picture lands."""
    x, y, w, h = picture_rect(source_size, fmt, fit)
    drawn = cue.rgba()
    box = drawn.getbbox()
    frame = Image.new("RGBA", (fmt.width, fmt.height), (0, 0, 0, 0))
    if box is None:
        return frame
    sx, sy = w / drawn.width, h / drawn.height
    left, top = math.floor(box[0] * sx), math.floor(box[1] * sy)
    right, bottom = math.ceil(box[2] * sx), math.ceil(box[3] * sy)
    part = drawn.resize((right - left, bottom - top), RESAMPLE,
                        box=(left / sx, top / sy, right / sx, bottom / sy))
    frame.paste(part, (x + left, y + top))  # onto nothing: its pixels as they are (cropped at the edges)
    return frame


@dataclass(frozen=True, slots=True)
class DrawnCue:
    """A picture drawn to a PNG of its visible box, to lay at (x, y) of the output frame."""

    png: Path
    x: int
    y: int
    burned: BurnedCue


def write_cue_images(cues: list[BurnedCue], scene: Scene, fmt: OutputFormat, fit: str,
                     folder: Path) -> list[DrawnCue]:
    """Each picture drawn to a PNG in ``folder`` (the job's scratch folder), cropped to what it shows: only
    those pixels are converted and blended, on its frames only."""
    written = []
    for number, burned in enumerate(cues):
        image = cue_image(burned.cue, (scene.source.width, scene.source.height), fmt, fit)
        box = image.getbbox()
        if box is None:
            continue
        path = folder / f"subtitle-{number}.png"
        image.crop(box).save(path)
        written.append(DrawnCue(path, box[0], box[1], burned))
    return written
