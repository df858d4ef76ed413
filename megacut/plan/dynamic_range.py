"""What a source's picture is (SDR, HDR10, HDR10+, HLG, Dolby Vision) and its light levels, from ffmpeg's words.

``ffmpeg -i`` prints the transfer tag in the stream line ("bt2020nc/bt2020/smpte2084"), the codec tag
("dvh1", "dvhe", "dav1": a Dolby Vision track) and, under "Side data", the Dolby Vision configuration
record and the mastering display and content light levels a container carries (Matroska's Colour element,
MP4's mdcv and clli boxes). Many files carry those levels only in the stream's SEI messages, and HDR10+
(SMPTE 2094-40) lives there alone: for an HDR source the probe decodes one frame (``showinfo``) to read them.

Dolby Vision is classified by its base layer's compatibility id: 1 and 6 an HDR10 base (profiles 7 and
8.1), 4 an HLG base (8.4), 2 an SDR base (8.2, 9), 0 none (profile 5, 10.0: IPT-PQ-C2 colours that no
zscale/tonemap chain reads; libplacebo's Dolby Vision path needs a Vulkan device). Profile 5 is often not
tagged PQ at all, so the record and the codec tag decide, not the transfer tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PQ, HLG = "pq", "hlg"
TRANSFERS = {"smpte2084": PQ, "arib-std-b67": HLG}
# The peak (cd/m²) a source's tone map assumes when its metadata names none: the mastering peak of most
# HDR10 releases, and the nominal peak of BT.2100's HLG reference display.
DEFAULT_PEAK_NITS = {PQ: 1000.0, HLG: 1000.0}
# Light levels at or under this are no HDR peak (an unset or nonsense MaxCLL): ignored.
MIN_PLAUSIBLE_PEAK_NITS = 100.0
DOLBY_VISION_TAGS = ("dvh1", "dvhe", "dav1", "dva1", "dvav")
DV_BASE_LAYERS = {1: PQ, 6: PQ, 4: HLG, 2: ""}  # compatibility id -> the base layer's transfer ("" SDR)
_DOVI_RE = re.compile(r"DOVI configuration record:.*?profile: (?P<profile>\d+).*?compatibility id: (?P<compat>\d+)")
_CLL_RE = re.compile(r"MaxCLL=(?P<cll>\d+), MaxFALL=(?P<fall>\d+)")
_MASTERING_RE = re.compile(r"min_luminance=(?P<min>[\d.]+), max_luminance=(?P<max>[\d.]+)")
_HDR10_PLUS = "SMPTE2094-40"


@dataclass(frozen=True, slots=True)
class DynamicRange:
    """A source's dynamic range: what it is, how it is coded, and its light levels (0: not given)."""

    kind: str = "SDR"  # "SDR", "HDR10", "HDR10+", "HLG", "Dolby Vision"
    transfer: str = ""  # how the picture megacut decodes is coded: PQ, HLG, or "" (SDR)
    dv_profile: int | None = None  # Dolby Vision only; None when the file says no profile
    dv_compatibility: int | None = None  # its base layer's compatibility id
    max_cll: int = 0  # cd/m²
    max_fall: int = 0
    mastering_max: float = 0.0
    mastering_min: float = 0.0

    @property
    def hdr(self) -> bool:
        return self.kind != "SDR" and (bool(self.transfer) or self.unsupported is not None)

    @property
    def peak(self) -> tuple[float, str]:
        """(the peak the tone map assumes in cd/m², where it comes from): MaxCLL, else the mastering
        display's peak, else the default for the transfer."""
        if self.max_cll > MIN_PLAUSIBLE_PEAK_NITS:
            return float(self.max_cll), "MaxCLL"
        if self.mastering_max > MIN_PLAUSIBLE_PEAK_NITS:
            return self.mastering_max, "mastering display"
        return DEFAULT_PEAK_NITS.get(self.transfer, DEFAULT_PEAK_NITS[PQ]), "default"

    @property
    def signal(self) -> str:
        """What megacut reads: "HDR10" (PQ: HDR10+ without its dynamic metadata, Dolby Vision's HDR10 base),
        "HLG", or "SDR"."""
        return {PQ: "HDR10", HLG: "HLG"}.get(self.transfer, "SDR")

    @property
    def unsupported(self) -> str | None:
        """Why megacut cannot show this picture right (None when it can): Dolby Vision without a base layer
        that a standard decoder shows."""
        if self.kind != "Dolby Vision" or self.dv_compatibility in DV_BASE_LAYERS:
            return None
        if self.dv_compatibility is None and self.transfer:
            return None  # tagged as a DV track but with no record: its stream is what its tags say
        profile = f"profile {self.dv_profile}" if self.dv_profile is not None else "an unknown profile"
        return (f"is Dolby Vision {profile} with no HDR10, HLG or SDR base layer: its colours (IPT-PQ-C2) "
                "need a Dolby Vision decoder, which megacut's ffmpeg has only on a Vulkan device, and would "
                "come out green and purple; give megacut an HDR10 or SDR version of it (or convert it, e.g. "
                "dovi_tool to profile 8.1), or leave its rows out")

    def __str__(self) -> str:
        if self.kind == "SDR":
            return "SDR"
        if self.kind == "Dolby Vision":
            profile = "" if self.dv_profile is None else f" profile {self.dv_profile}"
            if self.dv_profile in (8, 10) and self.dv_compatibility is not None:
                profile += f".{self.dv_compatibility}"
            base = {PQ: "HDR10 base layer", HLG: "HLG base layer", "": "SDR base layer"}.get(
                DV_BASE_LAYERS.get(self.dv_compatibility, "?"), "no compatible base layer")
            if self.dv_compatibility is None:
                base = f"no configuration record, tagged {self.transfer.upper() or 'SDR'}"
            text = f"Dolby Vision{profile} ({base})"
        else:
            text = f"{self.kind} ({self.transfer.upper()})" if self.kind != "HLG" else "HLG"
        levels = []
        if self.mastering_max:
            levels.append(f"mastering display {self.mastering_max:g}/{self.mastering_min:g} cd/m²")
        if self.max_cll:
            levels.append(f"MaxCLL {self.max_cll}, MaxFALL {self.max_fall}")
        return text + (", " + ", ".join(levels) if levels else "")

    def treatment(self, output: str = "sdr") -> str:
        """What megacut does with the picture for an ``output`` ("sdr" or "hdr") part, in words."""
        if self.unsupported:
            return "refused (Dolby Vision without a base layer)"
        if not self.hdr or not self.transfer:
            return "SDR" if output == "sdr" else "SDR placed at 203 cd/m² (BT.2408)"
        if output == "hdr":
            return f"{self.signal} kept" if self.transfer == PQ else "HLG converted to PQ"
        nits, origin = self.peak
        return f"tone-mapped ({self.signal}, peak {nits:g} nits{' by default' if origin == 'default' else ''})"


SDR = DynamicRange()


def _dolby_vision_record(side_data: list[str]) -> re.Match | None:
    return next((m for m in map(_DOVI_RE.search, side_data) if m), None)


def needs_frame_metadata(transfer_tag: str, codec_tag: str, side_data: list[str]) -> bool:
    """Whether a source may be HDR and its stream's side data lacks the light levels: one frame's SEI
    messages then say them (and whether it is HDR10+)."""
    hdr = transfer_tag in TRANSFERS or codec_tag in DOLBY_VISION_TAGS or _dolby_vision_record(side_data)
    return bool(hdr) and not any(_CLL_RE.search(line) or _MASTERING_RE.search(line) for line in side_data)


def dynamic_range(transfer_tag: str, codec_tag: str, side_data: list[str], frame_text: str = "") -> DynamicRange:
    """Classify a video stream from its transfer tag ("smpte2084"), codec tag ("dvh1"), side-data lines and
    what ``showinfo`` printed for its first frame ("" when not read)."""
    text = "\n".join(side_data) + "\n" + frame_text
    cll, mastering = _CLL_RE.search(text), _MASTERING_RE.search(text)
    levels = dict(max_cll=int(cll["cll"]) if cll else 0, max_fall=int(cll["fall"]) if cll else 0,
                  mastering_max=float(mastering["max"]) if mastering else 0.0,
                  mastering_min=float(mastering["min"]) if mastering else 0.0)
    transfer = TRANSFERS.get(transfer_tag, "")
    dovi = _dolby_vision_record(side_data)
    if dovi or codec_tag in DOLBY_VISION_TAGS:
        compatibility = int(dovi["compat"]) if dovi else None
        if compatibility in DV_BASE_LAYERS:
            transfer = DV_BASE_LAYERS[compatibility]  # the base layer is what the decoder shows
        elif compatibility is not None:
            transfer = ""  # IPT-PQ-C2: not a picture any tag describes
        return DynamicRange("Dolby Vision", transfer, int(dovi["profile"]) if dovi else None, compatibility,
                            **levels)
    if transfer == PQ:
        return DynamicRange("HDR10+" if _HDR10_PLUS in frame_text else "HDR10", PQ, **levels)
    if transfer == HLG:
        return DynamicRange("HLG", HLG, **levels)
    return SDR
