"""Fonts: finding them on the system, checking which characters they draw, choosing one per character.

Overlays, captions and title cards are drawn with Pillow in the font given
with ``--font`` (a file or an installed font's name), else a common scalable
OS font, else Pillow's built-in font; characters the main font lacks are drawn
with the first OS font that has them (CJK, Arabic...). The plan uses the same
lookup to warn about characters no installed font can draw, before rendering.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

import PIL
from PIL import ImageFont

from megacut.errors import UsageError
from megacut.plan.settings import Settings

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


@lru_cache(maxsize=4096)
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


FONT_ADVICE = {
    # Pillow draws outline glyphs only: colour emoji fonts (Noto Color Emoji, Apple Color Emoji) are
    # bitmaps at fixed sizes that FreeType cannot scale, so megacut cannot use them.
    "emoji": "a font with black-and-white emoji, e.g. Noto Emoji or Symbola (colour emoji fonts such as "
             "Noto Color Emoji cannot be drawn)",
    "cjk": "a CJK font, e.g. Noto Sans CJK",
    "other": "a font that has them (e.g. Noto Sans for their script)",
}
CJK_NAMES = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC", "HALFWIDTH", "FULLWIDTH")


def _script_kind(char: str) -> str:
    code = ord(char)
    if 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF or code == 0xFE0F:
        return "emoji"
    return "cjk" if unicodedata.name(char, "").startswith(CJK_NAMES) else "other"


def missing_glyphs_warning(text: str, settings: Settings, where: str) -> str | None:
    """The warning for ``text`` drawn in ``where`` ("the overlay", "the caption"...) when no
    installed font draws some of its characters, with a font to install that fits their script."""
    missing = uncovered_chars(text, settings)
    if not missing:
        return None
    advice = " and ".join(FONT_ADVICE[kind] for kind in dict.fromkeys(map(_script_kind, missing)))
    return (f"no installed font can draw {missing!r} in {where}: they would show as boxes; install {advice}, "
            "or pass one with --font FILE")


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


def _run_fonts(text: str, primary: str) -> set[str]:
    """The fonts of ``text``'s runs (as :func:`font_runs` splits it), from its distinct characters: a run
    of spaces joins the run before it, so the primary font draws one only where the text starts with it."""
    specs = {font_for_char(primary, char) or primary for char in set(text) if not _always_drawable(char)}
    return specs | {primary} if _always_drawable(text[0]) else specs


def font_identities(texts, settings: Settings) -> list:
    """The font files that draw ``texts`` (path, size, mtime; Pillow's version for its own font), sorted:
    installing or replacing a font that changes how the text is drawn changes this."""
    primary = primary_font(settings)
    specs = {spec for text in texts if text for spec in _run_fonts(text, primary)}
    identities = []
    for spec in sorted(specs):
        if spec == BUILTIN:
            identities.append([BUILTIN, PIL.__version__])
        else:
            stat = os.stat(spec)
            identities.append([spec, stat.st_size, stat.st_mtime_ns])
    return identities
