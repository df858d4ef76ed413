"""Loudness: one constant gain per source, so that films and episodes sound equally loud.

The one home of loudness. Each source's chosen track is measured once over its whole length (ITU-R
BS.1770 / EBU R128 integrated loudness, and its true peak), as the output will carry it: resampled and
placed in the output's channel layout by the same filters as its scenes (plan/channels.py), so a 5.1
film measured for a stereo part is measured as its downmix. Its gain brings it to the target
(``--loudness``), capped so that its true peak stays at or below ``TRUE_PEAK_CEILING_DBTP``: a gain never
clips and needs no limiter of its own. The gain is the same for every scene of a source: a quiet scene
stays quiet, a loud one loud (never per scene, never ffmpeg's dynamic ``loudnorm``, which compresses).

Where it applies: segments keep their sound as the source has it (placed in the output's layout); the
gain is applied to their PCM when the part's audio is encoded (join/audio.py). Changing the target
re-encodes the parts' audio, never a segment. A measurement is kept in the cache by :func:`measurement_key`
(the source's identity, the track, the layout, the measuring code and ffmpeg), so a rerun measures nothing.

The default target is -27 LUFS, film level: film mixes on disc sit near it (-27 to -31 LUFS integrated,
true peaks near 0 dBTP), so the hours of film keep their mix and the episodes (-16 to -24) come down to
them. EBU R128's -23 would raise the films by 4 dB or more, which their peaks do not allow without a
limiter: capped at their peaks they would stay 4 LU under the episodes. docs/rendering.md, "Sound".
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from megacut.ffmpeg import ffmpeg_version, input_file, run_ffmpeg
from megacut.files import write_json_atomic
from megacut.plan.build import AUDIO_SAMPLE_RATE
from megacut.plan.channels import BY_COUNT, mapping_filter, track_layout
from megacut.plan.probe import AudioTrack, SourceInfo

TRUE_PEAK_CEILING_DBTP = -1.0
SILENT_LUFS = -70.0  # BS.1770's absolute gate: a track no louder has no loudness to match
MEASURER_VERSION = "1"  # bump when a change alters what is measured: every measurement is made again
MEASURE_TIMEOUT_S = 4 * 3600.0

_INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?[\d.]+|-inf|nan)\s*LUFS")
_TRUE_PEAK = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+|-inf|nan)\s*dBFS")


@dataclass(frozen=True, slots=True)
class Loudness:
    """A track's integrated loudness (LUFS) and true peak (dBTP) over its whole length."""

    integrated_lufs: float
    true_peak_dbtp: float

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.integrated_lufs) or self.integrated_lufs <= SILENT_LUFS

    def gain_db(self, target_lufs: float | None) -> float:
        """The gain that brings this track to ``target_lufs``, its true peak kept at or below the ceiling;
        0 with no target or for silence."""
        if target_lufs is None or self.silent:
            return 0.0
        headroom = TRUE_PEAK_CEILING_DBTP - self.true_peak_dbtp if math.isfinite(self.true_peak_dbtp) else 0.0
        return round(min(target_lufs - self.integrated_lufs, headroom), 2)

    def describe(self, target_lufs: float | None) -> str:
        """``-27.1 LUFS, peak -0.4 dBTP: gain -1.0 dB (capped by its peak)`` for plan tables and reports."""
        if self.silent:
            return "silent: no gain"
        text = f"{self.integrated_lufs:.1f} LUFS, peak {self.true_peak_dbtp:.1f} dBTP"
        if target_lufs is None:
            return text
        gain = self.gain_db(target_lufs)
        capped = " (capped by its peak)" if gain < round(target_lufs - self.integrated_lufs, 2) else ""
        return f"{text}: gain {gain:+.1f} dB{capped}"


def measurement_key(source: SourceInfo, track: AudioTrack, channels: int) -> str:
    """What decides a measurement: the source file's identity, the track, the layout it is measured in,
    the measuring code and ffmpeg."""
    fields = [str(source.path), source.size_bytes, source.mtime_ns, track.index, track.layout, track.channels,
              channels, MEASURER_VERSION, ffmpeg_version()]
    return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()[:32]


def measure_args(path: Path, stream: str, mapping: str) -> list[str]:
    """The ffmpeg arguments that measure stream ``stream`` of ``path`` (its sound alone, nothing written),
    through ``mapping`` (filters placing its channels, or "")."""
    filters = [f"aresample={AUDIO_SAMPLE_RATE}", *([mapping] if mapping else []),
               "ebur128=peak=true:framelog=quiet"]
    return ["-nostats", *input_file(path, "-vn", "-sn", "-dn"), "-map", stream, "-af", ",".join(filters),
            "-f", "null", "-"]


def parse_summary(stderr: str) -> Loudness:
    """The integrated loudness and true peak from ebur128's summary; ValueError when it has none."""
    integrated, peak = _INTEGRATED.findall(stderr), _TRUE_PEAK.findall(stderr)
    if not integrated or not peak:
        raise ValueError("ffmpeg printed no loudness summary")
    return Loudness(float(integrated[-1]), float(peak[-1]))


def measure_track(source: SourceInfo, track: AudioTrack, channels: int, cancel=None) -> Loudness:
    """Measure ``track`` of ``source`` over its whole length as a part of ``channels`` channels carries it."""
    mapping = mapping_filter(track_layout(track.layout, track.channels), channels)
    completed = run_ffmpeg(measure_args(source.path, f"0:{track.index}", mapping), cancel=cancel,
                           timeout_s=MEASURE_TIMEOUT_S)
    return parse_summary(completed.stderr)


def measure_file(path: Path, channels: int, cancel=None) -> Loudness:
    """Measure the first audio stream of ``path`` (a narration) as ffmpeg places it in ``channels``."""
    completed = run_ffmpeg(measure_args(path, "0:a:0", f"aformat=channel_layouts={BY_COUNT[channels]}"),
                           cancel=cancel)
    return parse_summary(completed.stderr)


def read_measurement(folder: Path, key: str) -> Loudness | None:
    """A measurement kept in ``folder`` under ``key``, or None."""
    try:
        data = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        return Loudness(float(data["integrated_lufs"]), float(data["true_peak_dbtp"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keep_measurement(folder: Path, key: str, loudness: Loudness) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{key}.json", asdict(loudness))


class Gain:
    """Multiplies s16le PCM by a constant gain, chunk after chunk (a chunk may end inside a sample)."""

    def __init__(self, gain_db: float):
        self.factor = 10 ** (gain_db / 20)
        self.rest = b""

    def __call__(self, data: bytes) -> bytes:
        if self.factor == 1.0:
            return data
        data = self.rest + data
        whole = len(data) // 2 * 2
        self.rest = data[whole:]
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.float32) * np.float32(self.factor)
        return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()
