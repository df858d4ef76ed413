"""The scene overlay: its text block drawn with Pillow into a transparent PNG, and its timing.

The block sits in the top-right corner of a full-frame RGBA image: white text
(the first line larger) on a dark, semi-transparent rounded box sized to the
measured text. Drawing with Pillow means any text renders literally, with no
ffmpeg escaping. Fonts: ``settings.font`` (a file or an installed font's name),
else a common scalable OS font, else Pillow's built-in font; characters the
font lacks are drawn with the first OS font that has them (CJK, Arabic...).
Output depends on the fonts and Pillow version, so workers must share them.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .errors import UsageError
from .settings import Settings

FONT_EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc")
# Preferred primary fonts (file names, case-insensitive), best first.
PRIMARY_FONTS = (
    "DejaVuSans.ttf", "NotoSans-Regular.ttf", "NotoSans-Regular.otf", "LiberationSans-Regular.ttf",
    "Arial.ttf", "arial.ttf", "Helvetica.ttc", "HelveticaNeue.ttc", "segoeui.ttf", "FreeSans.ttf",
    "Roboto-Regular.ttf", "OpenSans-Regular.ttf", "Verdana.ttf",
)
# Fonts tried first for characters the primary font lacks; then every other OS font.
FALLBACK_FONTS = (
    "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansCJKjp-Regular.otf",
    "NotoSansCJK-Regular.otf", "SourceHanSans-Regular.otf", "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf", "wqy-microhei.ttc", "wqy-zenhei.ttc", "Arial Unicode.ttf",
    "PingFang.ttc", "Hiragino Sans GB.ttc", "msyh.ttc", "msgothic.ttc", "malgun.ttf",
    "NotoSans-Regular.ttf", "DejaVuSans.ttf", "FreeSans.ttf", "unifont.ttf",
)
BUILTIN = "Pillow built-in"
REGULAR_STYLES = ("regular", "book", "roman", "normal", "")
CHECK_SIZE = 32  # pixel size used to test a font's glyph coverage
MISSING_PROBE = "\U0010FFFF"  # a code point no font maps: renders as the font's .notdef glyph

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


# ------------------------------------------------------------------- fonts


def font_dirs() -> list[Path]:
    """Folders where operating systems keep fonts (only those that exist)."""
    home = Path.home()
    dirs = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), home / ".fonts",
            home / ".local/share/fonts", Path("/System/Library/Fonts"), Path("/Library/Fonts"),
            home / "Library/Fonts"]
    xdg = [os.environ.get("XDG_DATA_HOME", "")] + os.environ.get("XDG_DATA_DIRS", "").split(os.pathsep)
    dirs += [Path(d) / "fonts" for d in xdg if d]
    if sys.platform == "win32" or os.environ.get("WINDIR"):
        dirs.append(Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts")
        if os.environ.get("LOCALAPPDATA"):
            dirs.append(Path(os.environ["LOCALAPPDATA"]) / "Microsoft/Windows/Fonts")
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


@lru_cache(maxsize=1)
def system_fonts() -> tuple[Path, ...]:
    """Every scalable font file in the OS font folders, sorted by file name."""
    found: dict[str, Path] = {}
    for folder in font_dirs():
        for root, _, names in os.walk(folder):
            for name in names:
                if name.lower().endswith(FONT_EXTENSIONS):
                    path = Path(root, name)
                    found.setdefault(os.path.realpath(path), path)
    return tuple(sorted(found.values(), key=lambda p: (p.name.lower(), str(p))))


def _by_file_name(names: tuple[str, ...]) -> list[Path]:
    index: dict[str, Path] = {}
    for path in system_fonts():
        index.setdefault(path.name.lower(), path)
    return [index[n.lower()] for n in names if n.lower() in index]


@lru_cache(maxsize=256)
def load_font(spec: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font at a pixel size: ``spec`` is a font file path, or BUILTIN for Pillow's own."""
    if spec == BUILTIN:
        try:
            return ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: a fixed-size bitmap font
            return ImageFont.load_default()
    return ImageFont.truetype(spec, size)


def _normalized(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _find_named_font(name: str) -> Path | None:
    """An installed font by file name (with or without extension) or by family/full name."""
    wanted = _normalized(re.sub(r"\.(ttf|otf|ttc|otc)$", "", name.strip(), flags=re.IGNORECASE))
    fonts = system_fonts()
    for path in fonts:
        stem = _normalized(path.stem)
        if stem in (wanted, wanted + "regular", wanted + "book"):
            return path
    for path in fonts:
        try:
            family, style = ImageFont.truetype(str(path), CHECK_SIZE).getname()
        except OSError:
            continue
        regular = (style or "").casefold() in REGULAR_STYLES
        if wanted == _normalized(f"{family} {style}") or (regular and wanted == _normalized(family or "")):
            return path
    return None


@lru_cache(maxsize=16)
def _user_font(font: str) -> str:
    """The font file for ``--font``: an existing path, else an installed font's name."""
    candidate = Path(os.path.expanduser(font))
    path = candidate if candidate.is_file() else _find_named_font(font)
    if path is None:
        looked = ", ".join(str(d) for d in font_dirs()) or "no font folders found"
        raise UsageError(f"--font: '{font}' is neither a font file nor the name of an installed font "
                         f"(looked in {looked}); give the path of a .ttf, .otf or .ttc file")
    try:
        load_font(str(path), CHECK_SIZE)
    except OSError as exc:
        raise UsageError(f"--font: cannot load '{path}' as a font ({exc}); give a .ttf, .otf or .ttc file") from None
    return str(path)


def primary_font(settings: Settings) -> str:
    """The main font's file path (or BUILTIN): ``settings.font``, else the best OS font found."""
    if settings.font:
        return _user_font(settings.font)
    return _default_primary()


@lru_cache(maxsize=1)
def _default_primary() -> str:
    for path in _by_file_name(PRIMARY_FONTS):
        if _loads(str(path)):
            return str(path)
    return BUILTIN


def _loads(spec: str) -> bool:
    try:
        load_font(spec, CHECK_SIZE)
        return True
    except OSError:
        return False


def overlay_font_name(settings: Settings) -> str:
    """The main overlay font's file name, or "Pillow built-in"."""
    spec = primary_font(settings)
    return spec if spec == BUILTIN else Path(spec).name


@lru_cache(maxsize=1)
def _fallback_order() -> tuple[str, ...]:
    preferred = [str(p) for p in _by_file_name(FALLBACK_FONTS)]
    rest = [str(p) for p in system_fonts() if str(p) not in preferred]
    return tuple(preferred + rest + [BUILTIN])


def _always_drawable(char: str) -> bool:
    """Spaces and invisible format/control characters need no glyph."""
    return unicodedata.category(char) in ("Zs", "Zl", "Zp", "Cc", "Cf")


@lru_cache(maxsize=4096)
def has_glyph(spec: str, char: str) -> bool:
    """Whether a font draws ``char`` as a real glyph rather than its .notdef box."""
    if _always_drawable(char):
        return True
    try:
        mask, notdef = load_font(spec, CHECK_SIZE).getmask(char), _notdef(spec)
    except (OSError, UnicodeError, ValueError):
        return False
    return not (mask.size == notdef[0] and bytes(mask) == notdef[1])


@lru_cache(maxsize=64)
def _notdef(spec: str) -> tuple[tuple[int, int], bytes]:
    """(size, pixels) of the box a font draws for a character it lacks: drawn once per font."""
    mask = load_font(spec, CHECK_SIZE).getmask(MISSING_PROBE)
    return mask.size, bytes(mask)


@lru_cache(maxsize=4096)
def font_for_char(primary: str, char: str) -> str | None:
    """The font that draws ``char``: the primary if it can, else the first fallback that can; None if none."""
    if has_glyph(primary, char):
        return primary
    for spec in _fallback_order():
        if spec != primary and _loads(spec) and has_glyph(spec, char):
            return spec
    return None


def uncovered_chars(text: str, settings: Settings) -> str:
    """The characters of ``text`` no available font can draw (they would show as boxes)."""
    primary = primary_font(settings)
    return "".join(dict.fromkeys(c for c in text if font_for_char(primary, c) is None))


def font_runs(text: str, primary: str) -> list[tuple[str, str]]:
    """``text`` split into (run, font spec) pieces, each drawn with one font."""
    runs: list[tuple[str, str]] = []
    for char in text:
        spec = primary if _always_drawable(char) else (font_for_char(primary, char) or primary)
        if runs and (runs[-1][1] == spec or _always_drawable(char)):
            runs[-1] = (runs[-1][0] + char, runs[-1][1])
        else:
            runs.append((char, spec))
    return runs


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
