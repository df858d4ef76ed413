"""Narrated-slide specs (JSON) read into validated sections, with every problem reported at once.

A spec (SPEC §6) names an ``output`` (an .mp4 inside the output folder), an
optional ``resolution``, ``fps`` and ``title``, and its ``sections``: each an
``image``, a ``text``, or both (a caption), with optional narration ``audio``,
``duration`` and ``padding``. Paths are relative to the spec file.

Durations, resolved here so planning needs no more probing:

* ``duration`` given: exactly that; narration shorter than it is followed by
  silence, and narration longer than it is an error (it would be cut);
* else with ``audio``: the audio's measured length plus ``padding`` (default
  0.5 s);
* else (an image or text with no audio): ``DEFAULT_STILL_S`` (3 s);
* ``padding`` where it would be ignored (with ``duration``, or without
  ``audio``) is an error;
* the ``title`` becomes a first title card (index 0) of ``TITLE_CARD_S``.

Every problem of every spec is collected before one InputError lists them,
each naming the spec file and the section's 1-based index, e.g.
``intro.json: section 3: audio 'voice/03.mp3' not found``. Keys starting with
``_`` and ``comment`` keys are ignored; other unknown keys are reported (they
are usually typos). Audio is measured once per file (path, size, mtime) by
decoding it with ffmpeg: narration is short and a header's duration is only an
estimate for many MP3s.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from PIL import Image

from megacut.errors import FFmpegError, InputError, UsageError
from megacut.ffmpeg import input_file, run_ffmpeg, stderr_tail
from megacut.plan.build import OutputFormat
from megacut.plan.scenes import Problem
from megacut.plan.settings import Settings, parse_fps, parse_resolution

DEFAULT_PADDING_S = 0.5  # silence after the narration
DEFAULT_STILL_S = 3.0  # a section with neither audio nor duration
TITLE_CARD_S = 3.0  # the spec's optional title card
SPEC_KEYS = ("output", "resolution", "fps", "title", "sections")
SECTION_KEYS = ("image", "text", "audio", "duration", "padding")
AUDIO_PROBE_TIMEOUT_S = 600.0
IMAGE_CHECK_SIZE = (512, 512)  # JPEGs are decoded at a reduced scale just to prove they are readable


@dataclass(frozen=True, slots=True)
class Section:
    """One slide: what it shows and hears, and how long it lasts (resolved)."""

    spec_path: Path  # absolute
    index: int  # 1-based position in the spec's "sections"; 0 for the title card
    image: Path | None  # absolute
    text: str | None
    audio: Path | None  # absolute
    duration_s: float  # audio length + padding, or duration
    padding_s: float  # the silence after the narration; 0 when "duration" decides the length

    @property
    def label(self) -> str:
        return "title" if self.index == 0 else f"section {self.index}"

    @property
    def name(self) -> str:
        return f"{self.spec_path.name} {self.label}"


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A validated spec: one output video made of its sections, in order."""

    path: Path  # absolute
    output: PurePosixPath  # relative to the output folder, ends in .mp4
    resolution: tuple[int, int] | None  # None: the command line's, else the default
    fps: Fraction | None
    title: str | None
    sections: tuple[Section, ...]  # the title card first when there is a title

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.sections)


def load_section_spec(path: str | Path) -> SectionSpec:
    """Read and check one spec; InputError listing every problem."""
    return load_section_specs([path])[0]


def load_section_specs(paths: Iterable[str | Path]) -> list[SectionSpec]:
    """Read and check specs (also that no two write the same output); one InputError listing every problem."""
    specs, outputs, problems = [], [], []
    for path in paths:
        spec, output, found = _read_spec(Path(path))
        problems += found
        if output is not None:
            outputs.append((str(path), output))
        if spec is not None:
            specs.append(spec)
    problems += _duplicate_outputs(outputs)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        error = InputError(f"{count} in the section specs:\n" + "\n".join(problems))
        error.problems = tuple(problems)
        raise error
    return specs


def section_font_warnings(specs: Iterable[SectionSpec], settings: Settings) -> list[Problem]:
    """Warn about titles, captions and text cards with characters no installed font can draw."""
    from megacut.plan.fonts import missing_glyphs_warning

    warnings = []
    for spec in specs:
        for section in spec.sections:
            if not section.text:
                continue
            where = "the title" if section.index == 0 else "the caption" if section.image else "the text card"
            message = missing_glyphs_warning(section.text, settings, where)
            if message:
                warnings.append(Problem(f"{section.label}: {message}", str(spec.path), severity="warning"))
    return warnings


def _duplicate_outputs(outputs: list[tuple[str, PurePosixPath]]) -> list[str]:
    problems, seen = [], {}
    for shown, output in outputs:
        key = os.path.normcase(str(output))
        if key in seen:
            problems.append(f"{shown}: output '{output}' is also written by {seen[key]}; "
                            "give each spec its own output")
        else:
            seen[key] = shown
    return problems


# ------------------------------------------------------------------ the spec


def _load_json(path: Path) -> tuple[Any, str | None]:
    """(data, None), or (None, why the file is not a JSON object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None, "file not found"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot be read ({exc})"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if not isinstance(data, dict):
        return None, f'the spec must be a JSON object {{"output": ..., "sections": [...]}}, not {_json_type(data)}'
    return data, None


def _read_spec(path: Path) -> tuple[SectionSpec | None, PurePosixPath | None, list[str]]:
    """(spec or None, its output if valid, problems), each problem prefixed with the file."""
    shown = str(path)
    data, problem = _load_json(path)
    if problem:
        return None, None, [f"{shown}: {problem}"]
    problems: list[str] = []

    def complain(message: str) -> None:
        problems.append(f"{shown}: {message}")

    _unknown_keys(data, SPEC_KEYS, complain)
    output = _output(data.get("output"), complain)
    resolution, fps = _resolution(data.get("resolution"), complain), _fps(data.get("fps"), complain)
    title = _title(data.get("title"), complain)
    absolute = path.absolute()
    sections = [Section(absolute, 0, None, title, None, TITLE_CARD_S, 0.0)] if title else []
    sections += _sections(data.get("sections"), absolute, complain)
    if problems:
        return None, output, problems
    return SectionSpec(absolute, output, resolution, fps, title, tuple(sections)), output, []


def _sections(raw_sections: Any, spec_path: Path, complain) -> list[Section]:
    if not isinstance(raw_sections, list) or not raw_sections:
        complain('"sections" is missing or empty; give a list such as '
                 '[{"image": "slide1.png", "audio": "voice1.mp3"}, {"text": "The end", "duration": 3}]')
        return []
    sections = []
    for index, raw in enumerate(raw_sections, start=1):
        section = _section(raw, spec_path, index, lambda message, i=index: complain(f"section {i}: {message}"))
        if section is not None:
            sections.append(section)
    return sections


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _unknown_keys(data: dict, known: tuple[str, ...], complain) -> None:
    for key in data:
        if key not in known and not str(key).startswith("_") and key != "comment":
            complain(f"unknown key \"{key}\" (known: {', '.join(known)})")


def _output(value: Any, complain) -> PurePosixPath | None:
    if value is None:
        complain('"output" is missing; give the video\'s file name, e.g. "output": "intro.mp4"')
        return None
    if not isinstance(value, str) or not value.strip():
        complain(f'"output" must be a file name such as "intro.mp4", not {_json_type(value)}')
        return None
    relative = PurePosixPath(value.strip().replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or Path(value.strip()).is_absolute():
        complain(f"output '{value}' leaves the output folder; give a name inside it, e.g. \"intro.mp4\"")
        return None
    if relative.suffix.lower() != ".mp4":
        complain(f"output '{value}' must end in .mp4")
        return None
    return relative


def _resolution(value: Any, complain) -> tuple[int, int] | None:
    if value is None:
        return None
    text = "x".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if isinstance(value, (bool, dict)) or (isinstance(value, list) and len(value) != 2):
        text = ""
    try:
        return parse_resolution(text)
    except UsageError:
        complain(f"resolution {json.dumps(value)} is not WIDTHxHEIGHT with even numbers from 16 to 8192; "
                 'write e.g. "1920x1080" or "720p"')
        return None


def _fps(value: Any, complain) -> Fraction | None:
    if value is None:
        return None
    if isinstance(value, (bool, list, dict)):
        value_text = ""
    else:
        value_text = str(value)
    try:
        return parse_fps(value_text)
    except UsageError:
        complain(f"fps {json.dumps(value)} is not a frame rate from 1 to 240; write e.g. 30, 25 or \"30000/1001\"")
        return None


def _title(value: Any, complain) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        complain('"title" must be non-empty text (or left out)')
        return None
    return value.strip()


# -------------------------------------------------------------- a section


def _section(raw: Any, spec_path: Path, index: int, complain) -> Section | None:
    if not isinstance(raw, dict):
        complain(f'must be an object such as {{"image": "slide.png", "audio": "voice.mp3"}}, not {_json_type(raw)}')
        return None
    count = _Tally(complain)
    _unknown_keys(raw, SECTION_KEYS, count)
    folder = spec_path.parent
    image = _file(raw.get("image"), "image", folder, count)
    audio = _file(raw.get("audio"), "audio", folder, count)
    text = raw.get("text")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        count('"text" must be non-empty text')
        text = None
    if raw.get("image") is None and raw.get("text") is None:
        count('has neither "image" nor "text"; give one or both')
    duration_s = _number(raw, "duration", count, positive=True)
    padding_s = _number(raw, "padding", count, positive=False)
    if image is not None:
        _check_image(image, raw["image"], count)
    length_s = _audio_length(audio, raw["audio"], count) if audio is not None else None
    _check_length(raw, duration_s, padding_s, length_s, count)
    if count.problems:
        return None
    if duration_s is None and length_s is not None:
        padding_s = DEFAULT_PADDING_S if padding_s is None else padding_s
        duration_s = length_s + padding_s
    else:
        padding_s = 0.0
        duration_s = DEFAULT_STILL_S if duration_s is None else duration_s
    return Section(spec_path, index, image, text.strip() if text else None, audio, duration_s, padding_s)


def _check_length(raw: dict, duration_s: float | None, padding_s: float | None, length_s: float | None,
                  complain) -> None:
    """The length rule: "duration" if given, else the narration plus "padding"; nothing is silently
    cut or ignored."""
    if duration_s is not None and length_s is not None and length_s > duration_s:
        needed_s = math.ceil(round(length_s * 100, 6)) / 100
        complain(f"the narration '{raw['audio']}' lasts {needed_s:.2f} s, longer than its \"duration\" of "
                 f"{duration_s:g} s: it would be cut; raise \"duration\" to at least {needed_s:.2f} or remove it "
                 "(the section then lasts the narration plus \"padding\")")
    if padding_s is None:
        return
    if duration_s is not None:
        complain('"padding" and "duration" are both given, and a section with "duration" lasts exactly that; '
                 "remove one of them")
    elif raw.get("audio") is None:
        complain('"padding" is the silence after the narration, and this section has no "audio"; '
                 'give "duration" instead')


class _Tally:
    """Passes messages on and counts them, so a section knows whether it is valid."""

    def __init__(self, complain):
        self.complain, self.problems = complain, 0

    def __call__(self, message: str) -> None:
        self.problems += 1
        self.complain(message)


def _file(value: Any, key: str, folder: Path, complain) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        complain(f'"{key}" must be a file path relative to the spec, not {_json_type(value)}')
        return None
    path = (folder / value.strip()).absolute()
    if not path.is_file():
        complain(f"{key} '{value}' not found" + ("" if not path.exists() else " (it is a folder)"))
        return None
    return path


def _number(raw: dict, key: str, complain, *, positive: bool) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or (number <= 0 if positive else number < 0):
        need = "a positive number of seconds" if positive else "a number of seconds, 0 or more"
        complain(f'"{key}" is {json.dumps(value)}; it must be {need}')
        return None
    return number


def _check_image(path: Path, shown: str, complain) -> None:
    """Complain unless Pillow can decode the image."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", IMAGE_CHECK_SIZE)
            image.load()
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, DecompressionBombError...)
        complain(f"image '{shown}' cannot be read as an image ({type(exc).__name__}: {exc})")


def _audio_length(path: Path, shown: str, complain) -> float | None:
    try:
        stat = path.stat()
        length_s = measure_audio_s(str(path), stat.st_size, stat.st_mtime_ns)
    except (OSError, FFmpegError) as exc:
        reason = getattr(exc, "stderr_tail", "") or str(exc)
        complain(f"audio '{shown}' cannot be read ({reason.splitlines()[-1] if reason else 'unknown error'})")
        return None
    if length_s <= 0:
        complain(f"audio '{shown}' holds no sound (its length is 0)")
        return None
    return length_s


@lru_cache(maxsize=4096)
def measure_audio_s(path: str, size_bytes: int, mtime_ns: int) -> float:
    """Length of the file's first audio stream in seconds, by decoding it (cached per file identity).

    ffmpeg reports the decoded length on its ``-progress`` channel; a header's
    duration is only an estimate for MP3s without a Xing header.
    """
    del size_bytes, mtime_ns  # part of the cache key only
    proc = run_ffmpeg(["-loglevel", "error", "-nostats", "-progress", "pipe:1", *input_file(path),
                       "-map", "0:a:0", "-vn", "-f", "null", "-"], check=False, timeout_s=AUDIO_PROBE_TIMEOUT_S)
    lengths = [line.split("=", 1)[1] for line in proc.stdout.splitlines() if line.startswith("out_time_us=")]
    if proc.returncode != 0 or not lengths or not lengths[-1].strip().lstrip("-").isdigit():
        tail = stderr_tail(proc.stderr, 2) or "no audio stream"
        if "matches no streams" in tail:
            tail = "it has no audio stream"
        raise FFmpegError(f"cannot decode {path}", stderr_tail=tail)
    return max(0, int(lengths[-1])) / 1e6


DEFAULT_RESOLUTION = (1920, 1080)  # of a spec that gives none, rendered with no --resolution
DEFAULT_FPS = Fraction(30)


def spec_format(spec: SectionSpec, settings: Settings) -> OutputFormat:
    """The spec's output format: its own resolution and fps, else the settings', else 1080p at 30 fps."""
    width, height = spec.resolution or settings.resolution or DEFAULT_RESOLUTION
    return OutputFormat(width=width, height=height, fps=spec.fps or settings.fps or DEFAULT_FPS,
                        pix_fmt=settings.pix_fmt)
