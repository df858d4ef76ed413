"""Channel layouts: which one the output has, and how each source track's channels reach it.

The one home of channels. The plan chooses the output's layout like its size (:func:`choose_layout`):
5.1 when the tracks chosen for most of the planned time have 5.1 or more channels, else stereo, or what
``--channels`` says. Every renderer and the loudness measurement place a track's channels with the same
filter (:func:`mapping_filter`), so what is measured is what is heard.

The rules (``docs/rendering.md``, "Sound"):

- Into 5.1: each channel goes where it is (side surrounds to the surround pair); 7.1's side and back
  surrounds fold into the surround pair at -3 dB each; a stereo track plays from the front left and right,
  a mono track from the centre. No surround, centre or LFE is invented.
- Into stereo (the downmix): left = front left + centre at -3 dB + left surround at -3 dB, and the same on
  the right; the LFE is dropped; a mono track plays on both sides at its own level. Nothing is
  renormalised (ffmpeg's default matrix lowers everything, the dialogue in the centre 4.5 dB below the
  front channels): where the sum passes full scale, a limiter with look-ahead holds the peaks below it
  instead of clipping them.
- A track already in the output's layout passes untouched, sample for sample.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

STEREO, SURROUND = 2, 6
LAYOUT_NAMES = {STEREO: "stereo", SURROUND: "5.1"}
CHOICES = ("auto", "stereo", "5.1")
MINUS_3_DB = 0.7071  # 10 ** (-3 / 20), the level of a channel folded into two
# Peaks of a downmix are held below this (-0.5 dBFS) by a look-ahead limiter instead of clipping; the
# loudness gain that comes later is capped by the true peak measured after it (render/loudness.py).
LIMIT = 0.944

# ffmpeg's channel order of each layout it names (the order the decoder hands the channels over).
ORDERS = {
    "mono": ("FC",), "stereo": ("FL", "FR"), "downmix": ("DL", "DR"), "2.1": ("FL", "FR", "LFE"),
    "3.0": ("FL", "FR", "FC"), "3.0(back)": ("FL", "FR", "BC"), "4.0": ("FL", "FR", "FC", "BC"),
    "quad": ("FL", "FR", "BL", "BR"), "quad(side)": ("FL", "FR", "SL", "SR"), "3.1": ("FL", "FR", "FC", "LFE"),
    "5.0": ("FL", "FR", "FC", "BL", "BR"), "5.0(side)": ("FL", "FR", "FC", "SL", "SR"),
    "4.1": ("FL", "FR", "FC", "LFE", "BC"), "5.1": ("FL", "FR", "FC", "LFE", "BL", "BR"),
    "5.1(side)": ("FL", "FR", "FC", "LFE", "SL", "SR"), "6.0": ("FL", "FR", "FC", "BC", "SL", "SR"),
    "6.1": ("FL", "FR", "FC", "LFE", "BC", "SL", "SR"), "6.1(back)": ("FL", "FR", "FC", "LFE", "BC", "BL", "BR"),
    "7.0": ("FL", "FR", "FC", "BL", "BR", "SL", "SR"), "7.1": ("FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"),
    "7.1(wide)": ("FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC"),
    "7.1(wide-side)": ("FL", "FR", "FC", "LFE", "FLC", "FRC", "SL", "SR"),
}
# A layout ffmpeg gives only as a count ("6 channels"): the usual order of that many channels.
BY_COUNT = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
# Where each channel goes in 5.1, before the surround pair is shared out (see _bed).
_TO_BED = {"FL": {"FL": 1.0}, "FR": {"FR": 1.0}, "FC": {"FC": 1.0}, "LFE": {"LFE": 1.0},
           "DL": {"FL": 1.0}, "DR": {"FR": 1.0}, "FLC": {"FL": 1.0}, "FRC": {"FR": 1.0},
           "BC": {"BL": MINUS_3_DB, "BR": MINUS_3_DB}}
_BED = ("FL", "FR", "FC", "LFE", "BL", "BR")


@dataclass(frozen=True, slots=True)
class Layout:
    """A track's channels as ffmpeg orders them (``("FL", "FR", "FC", "LFE", "SL", "SR")``); ``name`` is
    ffmpeg's name for it ("5.1(side)")."""

    name: str
    channels: tuple[str, ...]


def track_layout(layout: str, count: int) -> Layout | None:
    """The layout of a track that ffmpeg describes as ``layout`` ("5.1(side)", "stereo", "6 channels") with
    ``count`` channels; None when its channels' places are not known (an unusual count)."""
    name = layout.strip().lower()
    if name in ORDERS:
        return Layout(name, ORDERS[name])
    name = BY_COUNT.get(count, "")
    return Layout(name, ORDERS[name]) if name else None


def _bed(layout: Layout) -> dict[str, dict[str, float]]:
    """{5.1 channel: {input channel: gain}}: ``layout`` in 5.1, nothing invented. Side and back surrounds
    both present (7.1) share the surround pair at -3 dB each."""
    both = {"SL", "BL"} <= set(layout.channels)
    surround = {"SL": "BL", "SR": "BR", "BL": "BL", "BR": "BR"}
    bed: dict[str, dict[str, float]] = {name: {} for name in _BED}
    for channel in layout.channels:
        if channel in surround:
            bed[surround[channel]][channel] = MINUS_3_DB if both else 1.0
        for target, gain in _TO_BED.get(channel, {}).items():
            bed[target][channel] = gain
    return bed


def matrix(layout: Layout, channels: int) -> dict[str, dict[str, float]]:
    """{output channel: {input channel: gain}} that takes ``layout`` into the output's ``channels``
    (2 or 6), by the rules in the module's doc."""
    bed = _bed(layout)
    if channels == SURROUND:
        return bed
    if layout.channels in (("FC",),):  # a mono track: the same on both sides, at its own level
        return {"FL": {"FC": 1.0}, "FR": {"FC": 1.0}}
    stereo: dict[str, dict[str, float]] = {"FL": {}, "FR": {}}
    for side, surround in (("FL", "BL"), ("FR", "BR")):
        for source, weight in ((side, 1.0), ("FC", MINUS_3_DB), (surround, MINUS_3_DB)):
            for channel, gain in bed[source].items():
                stereo[side][channel] = stereo[side].get(channel, 0.0) + weight * gain
    return stereo


def mapping_filter(layout: Layout | None, channels: int) -> str:
    """The ffmpeg filters (comma-separated, possibly none) that take a track of ``layout`` to the output's
    layout: nothing for a track already in it, else a ``pan`` in floating point with explicit gains (no
    renormalisation), and a limiter where a sum can pass full scale. An unknown layout is left to
    ffmpeg's own conversion."""
    out_name = LAYOUT_NAMES[channels]
    if layout is None or layout.channels == ORDERS[out_name]:
        return ""
    gains = matrix(layout, channels)
    terms = []
    for out in ORDERS[out_name]:
        parts = [f"{gain:.4f}*c{layout.channels.index(channel)}" for channel, gain in gains[out].items() if gain]
        terms.append(f"{out}={'+'.join(parts) if parts else '0*c0'}")
    filters = ["aformat=sample_fmts=fltp", f"pan={out_name}|" + "|".join(terms)]
    if any(sum(gains[out].values()) > 1.0001 for out in ORDERS[out_name]):
        filters.append(limiter())
    return ",".join(filters)


def limiter() -> str:
    """Peaks held under ``LIMIT`` with 5 ms of look-ahead, the delay compensated (the samples stay where they
    were; under the limit they pass unchanged), no automatic make-up gain."""
    return f"alimiter=limit={LIMIT}:attack=5:release=50:level=0:latency=1:asc=0"


def stereo_downmix_filter() -> str:
    """The filters that make a 5.1 part's stereo track from its 5.1 sound (the same downmix as above)."""
    return mapping_filter(Layout("5.1", ORDERS["5.1"]), STEREO)


def choose_layout(tracks: list[tuple[int, float]], asked: str = "auto") -> tuple[int, str]:
    """(output channels, a note for the plan) from (channels of each scene's chosen track, 0 for none;
    seconds it plays): 5.1 when tracks of 5.1 or more cover most of the planned time, else stereo;
    ``asked`` ("stereo", "5.1") decides instead."""
    if asked != "auto":
        channels = SURROUND if asked == "5.1" else STEREO
        return channels, f"{LAYOUT_NAMES[channels]} sound from --channels"
    covered: Counter = Counter()
    for count, seconds in tracks:
        covered[SURROUND if count >= SURROUND else STEREO] += seconds
    total = sum(covered.values())
    if not total:
        return STEREO, "stereo sound"
    channels = SURROUND if covered[SURROUND] > covered[STEREO] else STEREO
    return channels, f"{LAYOUT_NAMES[channels]} sound covers {covered[channels] / total:.0%}"

