"""Timecodes, durations and frame rates as users and ffmpeg write them, turned into numbers.

Scene times accept ``SS``, ``SS.fff``, ``MM:SS(.fff)``, ``HH:MM:SS(.fff)``,
``HH:MM:SS,fff`` (SRT style) and ``HH:MM:SS:FF`` (SMPTE frames at the source's
frame rate; ``HH:MM:SS;FF`` is drop-frame at 29.97/59.94), and ``end``: the
source's end. Frame timecodes and ``end`` can only become seconds once the
source is probed, so parsing returns a :class:`Timecode` that is resolved later
with :meth:`Timecode.to_seconds`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

# A frame starting this little after an instant counts as on screen at it (the frame a scene starts on):
# absorbs timestamp rounding (Matroska stores milliseconds), far below a frame (8 ms at 120 fps).
START_SLACK_S = 0.003
TIMECODE_FORMS = "SS, SS.fff, MM:SS, HH:MM:SS(.fff), HH:MM:SS,fff or HH:MM:SS:FF"
END = "end"  # as an end time: the end of the source, whatever its length

_CLOCK = re.compile(
    r"""^(?:(?:(?P<h>\d+):)?(?P<m>\d+):)?(?P<s>\d+)
        (?:(?P<sep>[.,])(?P<frac>\d+))?$""",
    re.VERBOSE,
)
_FRAMES = re.compile(r"^(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?P<sep>[:;])(?P<ff>\d{1,3})$")


class TimecodeError(ValueError):
    """A timecode that cannot be read; the message says which forms are accepted."""


@dataclass(frozen=True, slots=True)
class Timecode:
    """A parsed scene time: plain seconds, an SMPTE frame timecode, or the source's end."""

    text: str
    seconds: float | None = None
    hms: tuple[int, int, int] | None = None  # for frame timecodes
    frame: int | None = None
    drop_frame: bool = False
    source_end: bool = False  # ``end``

    @property
    def needs_source(self) -> bool:
        """Whether it becomes seconds only with the source's frame rate or length."""
        return self.frame is not None or self.source_end

    def to_seconds(self, fps: Fraction | None = None, source_s: float | None = None) -> float:
        """Seconds from the start of the source; frame timecodes need ``fps``, ``end`` the source's length."""
        if self.seconds is not None:
            return self.seconds
        if self.source_end:
            if source_s is None:
                raise TimecodeError(f"'{self.text}' is the end of the source, whose length is unknown")
            return source_s
        if fps is None or fps <= 0:
            raise TimecodeError(f"'{self.text}' counts frames, but the source's frame rate is unknown")
        nominal = round(fps)
        h, m, s = self.hms
        if self.frame >= nominal:
            raise TimecodeError(
                f"'{self.text}': frame {self.frame} does not exist at {float(fps):.3f} fps "
                f"(frames run 00 to {nominal - 1:02d})"
            )
        frame_number = ((h * 60 + m) * 60 + s) * nominal + self.frame
        if self.drop_frame:
            frame_number -= _dropped_frames(h * 60 + m, nominal)
        return frame_number * fps.denominator / fps.numerator


def _dropped_frames(total_minutes: int, nominal: int) -> int:
    """Frame numbers skipped by drop-frame timecode before minute ``total_minutes``."""
    drop = 2 * round(nominal / 30)
    return drop * (total_minutes - total_minutes // 10)


def parse_timecode(text: str) -> Timecode:
    """Parse a scene time as written in the CSV; raise TimecodeError with a readable reason."""
    raw = text.strip()
    if not raw:
        raise TimecodeError("is empty")
    if raw.lower() == END:
        return Timecode(raw, source_end=True)
    if raw.startswith("-"):
        raise TimecodeError(f"'{raw}' is negative; times count from the start of the source")
    lowered = raw.lower()
    if lowered in {"nan", "inf", "infinity", "+inf"} or "e" in lowered:
        raise TimecodeError(f"'{raw}' is not a time; write it as {TIMECODE_FORMS}")
    frames = _FRAMES.match(raw)
    if frames:
        h, m, s = (int(frames[g]) for g in ("h", "m", "s"))
        _check_clock(raw, m, s, minutes_bounded=True)
        return Timecode(raw, hms=(h, m, s), frame=int(frames["ff"]), drop_frame=frames["sep"] == ";")
    clock = _CLOCK.match(raw)
    if not clock:
        raise TimecodeError(f"'{raw}' is not a time; write it as {TIMECODE_FORMS}")
    h = int(clock["h"] or 0)
    m = int(clock["m"] or 0)
    s = int(clock["s"])
    if clock["sep"] == "," and clock["h"] is None:
        raise TimecodeError(f"'{raw}': a comma before the fraction is only for HH:MM:SS,fff; use a dot")
    _check_clock(raw, m, s, minutes_bounded=clock["h"] is not None, seconds_bounded=clock["m"] is not None)
    fraction = int(clock["frac"]) / 10 ** len(clock["frac"]) if clock["frac"] else 0.0
    return Timecode(raw, seconds=h * 3600 + m * 60 + s + fraction)


def _check_clock(raw: str, m: int, s: int, *, minutes_bounded: bool, seconds_bounded: bool = True) -> None:
    if seconds_bounded and s >= 60:
        raise TimecodeError(f"'{raw}': seconds must be below 60")
    if minutes_bounded and m >= 60:
        raise TimecodeError(f"'{raw}': minutes must be below 60")


_UNIT_S = {"h": 3600, "m": 60, "s": 1}
_DURATION_UNITS = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """Parse a length such as ``2h``, ``90m``, ``45s``, ``1h30m``, ``5400`` or ``1:30:00`` into seconds."""
    raw = text.strip().lower().replace(" ", "")
    seconds: float | None = None
    units = _DURATION_UNITS.match(raw) if raw else None
    if units and any(units.groupdict().values()):
        seconds = sum(float(v) * _UNIT_S[k] for k, v in units.groupdict().items() if v)
    else:
        try:
            seconds = parse_timecode(raw).to_seconds()
        except TimecodeError:
            seconds = None
    if seconds is None or not math.isfinite(seconds):
        raise TimecodeError(f"'{text}' is not a duration; write e.g. 2h, 90m, 45s, 5400 or 1:30:00")
    if seconds <= 0:
        raise TimecodeError(f"'{text}' must be longer than zero")
    return seconds


def format_seconds(seconds: float) -> str:
    """``H:MM:SS`` for tables and messages (``M:SS.s`` under a minute is not used: one form everywhere)."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def format_timestamp(seconds: float) -> str:
    """``H:MM:SS.mmm``: a precise time for messages about a position in a source."""
    millis = int(round(seconds * 1000))
    return f"{millis // 3600000}:{millis % 3600000 // 60000:02d}:{millis % 60000 // 1000:02d}.{millis % 1000:03d}"


def snap_fps(text: str) -> Fraction:
    """Frame rate from ffmpeg's printed value ("29.97", "25", "90k"), NTSC rates made exact."""
    scale = 1000 if text.endswith("k") else 1
    value = Fraction(text.rstrip("k")) * scale
    if value <= 0:
        return Fraction(0)
    nearest = round(value)
    if abs(value - nearest) < Fraction(6, 1000):
        return Fraction(nearest)
    ntsc = round(value * Fraction(1001, 1000))
    if ntsc and abs(value - Fraction(ntsc * 1000, 1001)) < Fraction(6, 1000):
        return Fraction(ntsc * 1000, 1001)
    return value
