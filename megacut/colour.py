"""One colour space for every segment: BT.709, limited range, tagged.

Sources disagree: DVD-era SD material is BT.601, HD is BT.709, and many
files say nothing. Joined by stream copy, a part carries the colour tags of
its first segment only, so a BT.601 scene after a BT.709 one would play with
shifted colours (a saturated red off by 15 levels). Every renderer therefore
converts its pictures to BT.709 and tags them so (``OUTPUT_TAGS``); slides
drawn in RGB are converted the same way.

A source's matrix is its tag; an untagged one is guessed as players guess:
BT.709 when wider than 1024 or taller than 576 pixels, else BT.601.
"""

from __future__ import annotations

import numpy as np

from .probe import SourceInfo

OUTPUT_MATRIX = "bt709"
OUTPUT_TAGS = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
# for RGB pictures (slides, moviepy frames); accurate rounding keeps a colour within a level or two
RGB_TO_OUTPUT = f"scale=out_color_matrix={OUTPUT_MATRIX}:out_range=tv:flags=bicubic+accurate_rnd"
# ffmpeg's colour-space tags, as the scale filter names the matrices
SCALE_MATRICES = {"bt709": "bt709", "bt470bg": "bt470", "smpte170m": "smpte170m", "bt2020nc": "bt2020",
                  "bt2020c": "bt2020", "smpte240m": "smpte240m", "fcc": "fcc"}
LUMA = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114), "bt470": (0.299, 0.114),
        "smpte170m": (0.299, 0.114), "smpte240m": (0.212, 0.087), "fcc": (0.30, 0.11), "bt2020": (0.2627, 0.0593)}


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


def _rgb_to_ycbcr(matrix: str) -> np.ndarray:
    kr, kb = LUMA[matrix]
    kg = 1.0 - kr - kb
    return np.array([[kr, kg, kb],
                     [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
                     [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))]])


def reader_correction(info: SourceInfo) -> np.ndarray | None:
    """The 3 x 3 matrix that turns RGB as ffmpeg's RGB conversion gives it (with the source's tag, else
    BT.601: what moviepy's reader gets) into RGB with the source's real matrix; None when they agree."""
    if not is_yuv(info.pix_fmt):
        return None
    assumed = SCALE_MATRICES.get(info.color_matrix, "bt601")
    real = source_matrix(info)
    if LUMA[assumed] == LUMA[real]:
        return None
    return (np.linalg.inv(_rgb_to_ycbcr(real)) @ _rgb_to_ycbcr(assumed)).astype(np.float32)


def apply_correction(frame: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """``frame`` (H x W x 3 uint8) with ``correction`` applied to every pixel."""
    out = frame.reshape(-1, 3).astype(np.float32) @ correction.T
    return (out + 0.5).clip(0, 255).astype(np.uint8).reshape(frame.shape)
