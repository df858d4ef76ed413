"""The scene overlay: its text block drawn with Pillow into a transparent PNG, and its timing.

The block sits in the top-right corner of a full-frame RGBA image: white text
(the first line larger) on a dark, semi-transparent rounded box sized to the
measured text. Drawing with Pillow means any text renders literally, with no
ffmpeg escaping. Fonts are chosen per character by :mod:`megacut.plan.fonts`.
Output depends on the fonts and Pillow version, so workers must share them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from megacut.plan.build import OutputFormat, Scene
from megacut.plan.fonts import font_runs, load_font, primary_font
from megacut.plan.settings import Settings

HEIGHT_TO_SIZE = 0.045  # first line's pixel size per pixel of output height
MIN_SIZE = 10
SECOND_LINE_SCALE = 0.7
MARGIN_PER_HEIGHT = 0.035
BOX_RGBA = (0, 0, 0, 150)
TEXT_RGBA = (255, 255, 255, 255)

OVERLAY_FADE_S = 0.5  # fade-in and fade-out of the overlay, each at most half its display time


# ------------------------------------------------------------------ timing


@dataclass(frozen=True, slots=True)
class OverlayTiming:
    """When the overlay shows within a scene (seconds from the scene start)."""

    duration_s: float  # shown from 0 to here
    fade_in_s: float
    fade_out_s: float  # the fade-out ends at duration_s

    @property
    def fade_out_start_s(self) -> float:
        return self.duration_s - self.fade_out_s


def overlay_timing(scene_duration_s: float, settings: Settings) -> OverlayTiming | None:
    """The overlay's display time clipped to the scene; None when it would not show at all."""
    duration_s = min(float(settings.overlay_duration_s), float(scene_duration_s))
    if duration_s <= 0:
        return None
    fade_s = min(OVERLAY_FADE_S, duration_s / 2)
    return OverlayTiming(duration_s=duration_s, fade_in_s=fade_s, fade_out_s=fade_s)


def scene_overlay(scene: Scene, fmt: OutputFormat, settings: Settings, soft: bool = False) -> OverlayTiming | None:
    """When the scene's overlay shows (from the scene start): drawn into the picture, or with ``soft`` as the
    dates subtitle track; None when it has none, or is not drawn (``--overlay soft``) and ``soft`` is not asked."""
    if not scene.overlay_lines or (not soft and settings.overlay == "soft"):
        return None
    return overlay_timing(scene.frames / float(fmt.fps), settings)


# ----------------------------------------------------------------- drawing


@dataclass(frozen=True)
class _Line:
    runs: list[tuple[str, object]]  # (text, font)
    width: float
    ascent: int
    descent: int


def _clean(text: str) -> str:
    text = re.sub(r"[\r\n\t]+", " ", text)
    return "".join(c for c in text if unicodedata.category(c) != "Cc").strip()


def _metrics(font) -> tuple[int, int]:
    if hasattr(font, "getmetrics"):
        return font.getmetrics()
    box = font.getbbox("Ag")
    return box[3], 0


def _measure_line(text: str, primary: str, size: int) -> _Line:
    runs = [(run, load_font(spec, size)) for run, spec in font_runs(_clean(text), primary)]
    width = sum(font.getlength(run) for run, font in runs)
    metrics = [_metrics(font) for _, font in runs] or [_metrics(load_font(primary, size))]
    return _Line(runs, width, max(m[0] for m in metrics), max(m[1] for m in metrics))


def line_sizes(height: int, settings: Settings) -> tuple[int, int]:
    """Pixel sizes of the first and the following lines."""
    first = settings.font_size or max(MIN_SIZE, round(height * HEIGHT_TO_SIZE))
    return first, max(6, round(first * SECOND_LINE_SCALE))


def _layout(lines: tuple[str, ...], primary: str, sizes: tuple[int, int]) -> tuple[list[_Line], int, int]:
    """Measured lines, the box's padding and the gap between lines."""
    measured = [_measure_line(text, primary, sizes[0] if i == 0 else sizes[1]) for i, text in enumerate(lines)]
    return measured, max(2, round(sizes[0] * 0.45)), max(1, round(sizes[0] * 0.2))


def _box_size(measured: list[_Line], pad: int, gap: int) -> tuple[int, int]:
    width = max(line.width for line in measured) + 2 * pad
    height = sum(line.ascent + line.descent for line in measured) + gap * (len(measured) - 1) + 2 * pad
    return round(width), round(height)


def _fitting_layout(lines, primary, width, height, settings, margin):
    """Layout whose box fits the frame width, shrinking the text if needed."""
    sizes = line_sizes(height, settings)
    for _ in range(5):
        measured, pad, gap = _layout(lines, primary, sizes)
        box = _box_size(measured, pad, gap)
        available = width - 2 * margin
        if box[0] <= available or sizes[1] <= 6:
            return measured, pad, gap, box
        scale = available / box[0]
        sizes = (max(6, int(sizes[0] * scale)), max(6, int(sizes[1] * scale)))
    return measured, pad, gap, box


def render_overlay_image(lines: tuple[str, ...], width: int, height: int, settings: Settings) -> Image.Image:
    """The overlay as a width x height RGBA image: the text block in the top-right corner."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    lines = tuple(line for line in lines if _clean(line))
    if not lines:
        return image
    primary = primary_font(settings)
    margin = max(2, round(height * MARGIN_PER_HEIGHT))
    measured, pad, gap, (box_w, box_h) = _fitting_layout(lines, primary, width, height, settings, margin)
    right, top = width - margin, margin
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((right - box_w, top, right, top + box_h), radius=max(2, round(pad * 0.8)), fill=BOX_RGBA)
    y = top + pad
    for line in measured:
        x = right - pad - line.width
        for run, font in line.runs:
            if isinstance(font, ImageFont.FreeTypeFont):
                draw.text((x, y + line.ascent), run, font=font, fill=TEXT_RGBA, anchor="ls")
            else:
                draw.text((x, y), run, font=font, fill=TEXT_RGBA)
            x += font.getlength(run)
        y += line.ascent + line.descent + gap
    return image


def render_overlay_png(lines: tuple[str, ...], width: int, height: int, settings: Settings, path: Path) -> Path:
    """Write the overlay image for ``lines`` at the output size to ``path`` (PNG) and return it."""
    path = Path(path)
    render_overlay_image(lines, width, height, settings).save(path, format="PNG")
    return path
