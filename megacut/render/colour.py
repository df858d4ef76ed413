"""One colour space for every segment: BT.709, limited range, tagged.

Sources disagree: DVD-era SD material is BT.601, HD is BT.709, and many
files say nothing. Joined by stream copy, a part carries the colour tags of
its first segment only, so a BT.601 scene after a BT.709 one would play with
shifted colours (a saturated red off by 15 levels). Every renderer therefore
converts its pictures to BT.709 and tags them so (``OUTPUT_TAGS``); slides
drawn in RGB and moviepy's frames are converted the same way.

A source's matrix is its tag; an untagged one is guessed as players guess:
BT.709 when wider than 1024 or taller than 576 pixels, else BT.601.
"""

from __future__ import annotations

from megacut.plan.probe import SourceInfo

OUTPUT_MATRIX = "bt709"
OUTPUT_TAGS = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
# ffmpeg's colour-space tags, as the scale filter names the matrices
SCALE_MATRICES = {"bt709": "bt709", "bt470bg": "bt470", "smpte170m": "smpte170m", "bt2020nc": "bt2020",
                  "bt2020c": "bt2020", "smpte240m": "smpte240m", "fcc": "fcc"}


def is_yuv(pix_fmt: str) -> bool:
    return pix_fmt.startswith(("yuv", "nv", "p01", "p21", "p41", "y210", "y410", "ayuv", "uyvy", "yuyv", "vuya"))


def source_matrix(info: SourceInfo) -> str:
    """The source's YCbCr matrix, as the scale filter's ``in_color_matrix`` names it."""
    tagged = SCALE_MATRICES.get(info.color_matrix)
    if tagged:
        return tagged
    return "bt709" if info.width > 1024 or info.height > 576 else "bt601"


def scale_options(info: SourceInfo) -> str:
    """Options for the scene's scale filter: from the source's matrix to BT.709 limited range."""
    return f"in_color_matrix={source_matrix(info)}:out_color_matrix={OUTPUT_MATRIX}:out_range=tv"


def reader_matrix(info: SourceInfo) -> str:
    """The matrix the moviepy renderer encodes its RGB frames of ``info`` with.

    moviepy's reader converts to RGB with the source's tag, or BT.601 when
    there is none: right for tagged and SD sources (their frames are true RGB,
    encoded as BT.709), not for an untagged HD source. Encoding that one's
    frames with BT.601 again gives back the source's BT.709 values exactly, at
    no cost (correcting every frame in numpy cost more than the rest of the
    frame's work); a user's effect then sees its colours slightly off.
    """
    assumed = SCALE_MATRICES.get(info.color_matrix, "bt601")
    return assumed if is_yuv(info.pix_fmt) and source_matrix(info) == OUTPUT_MATRIX else OUTPUT_MATRIX


def rgb_to_output(pix_fmt: str, matrix: str = OUTPUT_MATRIX) -> str:
    """Filters from RGB pictures to tagged BT.709 ``pix_fmt``, converting with ``matrix``; accurate rounding
    keeps a colour within a level or two."""
    return f"scale=out_color_matrix={matrix}:out_range=tv:flags=bicubic+accurate_rnd,format={pix_fmt},{OUTPUT_TAGS}"
