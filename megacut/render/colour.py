"""One colour space for every segment: BT.709, limited range, tagged.

Sources disagree: DVD-era SD material is BT.601, HD is BT.709, and many
files say nothing. Joined by stream copy, a part carries the colour tags of
its first segment only, so a BT.601 scene after a BT.709 one would play with
shifted colours (a saturated red off by 15 levels). Every renderer therefore
converts its pictures to BT.709 and tags them so (``OUTPUT_TAGS``); slides
drawn in RGB and moviepy's frames are converted the same way.

A source's matrix is its tag; an untagged one is guessed as players guess:
BT.709 when wider than 1024 or taller than 576 pixels, else BT.601.

HDR sources (PQ: HDR10, HDR10+, Dolby Vision's HDR10 base; HLG) are tone-mapped
(``tone_map_filters``), after scaling to the output size so the per-pixel work is
done on the output's pixels: to linear light (zscale, 1.0 = 100 cd/m²), BT.2020 to
BT.709 primaries, ``tonemap`` with the Möbius curve (linear, so the SDR grade
unchanged, up to 30 % of SDR white, then rolled off so the source's peak lands on
white; hue kept, no desaturation) and the peak from the source's metadata, then
BT.709's transfer (as a BT.1886 display shows it) and matrix, limited range. Read
as BT.709 instead, PQ's 100-cd/m² white came out a mid grey.

An HDR output (``--dynamic-range hdr``; its pixel format, ``yuv420p10le``, says so to
every renderer) is BT.2020, PQ, limited range, tagged so: PQ sources pass as they
are (scaled), HLG is converted to PQ (BT.2100's 1000-cd/m² display), and SDR
pictures (sources, slides, the overlay) are placed with their white at BT.2408's
203 cd/m² (BT.1886's light, then PQ).
"""

from __future__ import annotations

from megacut.plan.dynamic_range import HLG, PQ, DynamicRange
from megacut.plan.probe import SourceInfo
from megacut.plan.settings import OUTPUT_PIX_FMTS

OUTPUT_MATRIX = "bt709"
OUTPUT_TAGS = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
HDR_OUTPUT_TAGS = "setparams=colorspace=bt2020nc:color_primaries=bt2020:color_trc=smpte2084:range=tv"
# ffmpeg's colour-space tags, as the scale filter names the matrices
SCALE_MATRICES = {"bt709": "bt709", "bt470bg": "bt470", "smpte170m": "smpte170m", "bt2020nc": "bt2020",
                  "bt2020c": "bt2020", "smpte240m": "smpte240m", "fcc": "fcc"}
# the scale filter's matrix names as zscale names them
ZSCALE_MATRICES = {"bt709": "bt709", "bt601": "170m", "bt470": "470bg", "smpte170m": "170m", "bt2020": "2020_ncl",
                   "smpte240m": "240m", "fcc": "fcc"}
REFERENCE_WHITE_NITS = 203  # BT.2408: SDR white (and graphics white) in an HDR picture
# The HDR output's mastering display, written in every segment's SEI (x265): P3 primaries in a BT.2020
# container, D65, 1000 cd/m² peak, 0.0001 minimum (the common HDR10 master); MaxCLL is not claimed.
MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"


# zscale's linear light: 1.0 is this many cd/m², SDR's reference white (HLG too: zimg applies the OOTF of
# BT.2100's 1000-cd/m² reference display)
LINEAR_NITS = 100
TONE_MAP = "mobius"
TONE_MAP_KNEE = 0.3  # Möbius is the identity below this (30 cd/m²): shadows and mid-tones as graded
DESATURATION = 0  # explicit: the stock default (2) greys highlights; hue and saturation are kept
HDR_TRANSFER_TAGS = {PQ: "smpte2084", HLG: "arib-std-b67"}


def tone_map_filters(dynamic_range: DynamicRange, pix_fmt: str) -> list[str]:
    """Filters from a decoded HDR picture (already at the output size) to tagged BT.709 ``pix_fmt``.

    The source's colour is stated (``setparams``) rather than trusted: a Dolby Vision base layer or a
    remux may be untagged, and zscale needs every tag. HLG is linearised with ``agamma=0``: zscale's
    default approximates HLG's OOTF channel by channel, which made HLG colours up to 40 % more saturated
    than BT.2100's (exact, it costs about twice the PQ chain's CPU; PQ's approximation is within a level)."""
    nits, _ = dynamic_range.peak
    return [_source_tags(dynamic_range),
            f"zscale=t=linear:npl={LINEAR_NITS}{':agamma=0' if dynamic_range.transfer == HLG else ''}",
            "format=gbrpf32le", "zscale=p=bt709",
            f"tonemap=tonemap={TONE_MAP}:param={TONE_MAP_KNEE}:desat={DESATURATION}:peak={nits / LINEAR_NITS:g}",
            "zscale=t=bt709:m=bt709:r=tv", f"format={pix_fmt}"]


def hdr_output(pix_fmt: str) -> bool:
    """Whether the output format ``pix_fmt`` is the HDR output's."""
    return pix_fmt == OUTPUT_PIX_FMTS["hdr"]


def output_tags(pix_fmt: str) -> str:
    """The colour tags of every picture in an output of ``pix_fmt``."""
    return HDR_OUTPUT_TAGS if hdr_output(pix_fmt) else OUTPUT_TAGS


def _source_tags(dynamic_range: DynamicRange) -> str:
    """The HDR source's colour, stated: BT.2020 and its transfer."""
    transfer = HDR_TRANSFER_TAGS[dynamic_range.transfer]
    return f"setparams=colorspace=bt2020nc:color_primaries=bt2020:color_trc={transfer}"


def _sdr_to_pq(matrix: str = "") -> str:
    """zscale from SDR (BT.709 primaries and transfer; YCbCr with zscale's ``matrix``, or RGB) to PQ BT.2020,
    its white at 203 cd/m²."""
    given = f"min={matrix}:" if matrix else ""
    return (f"zscale={given}pin=bt709:tin=bt709:p=bt2020:t=smpte2084:m=bt2020nc:r=tv:"
            f"npl={REFERENCE_WHITE_NITS}")


# The source's frame side data (mastering display, light levels, Dolby Vision and HDR10+ metadata) dropped:
# an encoder would write it into the segment (libx265 does), and a segment's headers would then differ
# from its part's others, or an SDR stream claim HDR light levels.
DROP_SIDE_DATA = "sidedata=mode=delete"


def picture_conversion(info: SourceInfo, pix_fmt: str) -> tuple[str, list[str]]:
    """(options for the scene's scale filter, filters right after it): the source's picture to the output's
    colour. An HDR source is scaled as it is, then tone-mapped (or, into an HDR output, converted to PQ) at
    the output size."""
    dynamic_range = info.dynamic_range
    if not hdr_output(pix_fmt):
        if not dynamic_range.transfer:
            return scale_options(info), []
        return "", [*tone_map_filters(dynamic_range, pix_fmt), DROP_SIDE_DATA]
    if dynamic_range.transfer == PQ:
        convert = [_source_tags(dynamic_range)]
    elif dynamic_range.transfer == HLG:
        convert = [_source_tags(dynamic_range),
                   f"zscale=p=bt2020:t=smpte2084:m=bt2020nc:r=tv:npl={LINEAR_NITS}:agamma=0"]
    else:
        convert = [_sdr_to_pq(ZSCALE_MATRICES[source_matrix(info)])]
    return "", [*convert, f"format={pix_fmt}", DROP_SIDE_DATA]


def picture_key(info: SourceInfo, pix_fmt: str) -> list | None:
    """What of the picture's colour processing is not in the output format: part of the segment keys of an
    HDR source's scenes and of every scene of an HDR output (so a change to the tone map or the placement
    renders them again); None for an SDR source into an SDR output."""
    if hdr_output(pix_fmt):
        return ["hdr", info.dynamic_range.transfer, REFERENCE_WHITE_NITS, MASTER_DISPLAY]
    if not info.dynamic_range.transfer:
        return None
    return [info.dynamic_range.transfer, info.dynamic_range.peak[0], TONE_MAP, TONE_MAP_KNEE, DESATURATION, LINEAR_NITS]


def overlay_to_output(label: str, pix_fmt: str) -> str:
    """What ends a filter chain of RGBA pictures to make them ``[label]``, ready to lay over the output's
    pictures: the label alone in an SDR output; in an HDR one, their colour converted to PQ (white at
    203 cd/m²) with their alpha kept apart (zscale would read RGBA as premultiplied)."""
    if not hdr_output(pix_fmt):
        return f"[{label}]"
    return (f",split[{label}c][{label}a];[{label}c]format=gbrp,{_sdr_to_pq()},format=yuv444p10le[{label}y];"
            f"[{label}a]alphaextract[{label}m];[{label}y][{label}m]alphamerge[{label}]")


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
    keeps a colour within a level or two. Into an HDR output: to PQ, white at 203 cd/m²."""
    if hdr_output(pix_fmt):
        return f"format=gbrp,{_sdr_to_pq()},format={pix_fmt},{HDR_OUTPUT_TAGS}"
    return f"scale=out_color_matrix={matrix}:out_range=tv:flags=bicubic+accurate_rnd,format={pix_fmt},{OUTPUT_TAGS}"
