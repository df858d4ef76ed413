"""Sources with subtitle tracks made as rips have them: SRT, ASS, mov_text and WebVTT, full and forced tracks
marked by the forced flag, by their title only, or by their few cues, and a PGS track with forced pictures.

Each cue's text names it ("F1", "X2"), so a cue read back from a part says where it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from media import ffmpeg

from megacut.subtitles.pgs import ImageCue, PgsObject

Cue = tuple[float, float, str]  # start, end (seconds, content time), text


def srt(cues: Sequence[Cue]) -> str:
    def stamp(s: float) -> str:
        ms = round(s * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{n}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n" for n, (a, b, text) in enumerate(cues, start=1))


def ass(cues: Sequence[Cue], style: str = "Sign", font_size: int = 24) -> str:
    def stamp(s: float) -> str:
        cs = round(s * 100)
        return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"

    header = ("[Script Info]\nScriptType: v4.00+\nPlayResX: 640\nPlayResY: 360\n\n[V4+ Styles]\n"
              "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
              "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
              "Alignment, MarginL, MarginR, MarginV, Encoding\n"
              f"Style: {style},Arial,{font_size},&H0000FFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,"
              "0,8,10,10,20,1\n\n[Events]\n"
              "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")
    return header + "".join(f"Dialogue: 0,{stamp(a)},{stamp(b)},{style},,0,0,0,,{text}\n" for a, b, text in cues)


def vtt(cues: Sequence[Cue]) -> str:
    return "WEBVTT\n\n" + srt(cues).replace(",", ".")


def box_cue(start_s: float, end_s: float, *, forced: bool, x: int, y: int, w: int = 96, h: int = 24,
            colour: tuple[int, int, int, int] = (235, 128, 128, 255), canvas: tuple[int, int] = (320, 180),
            more: Sequence[tuple[int, int, bool]] = ()) -> ImageCue:
    """A PGS picture: a box of palette colour 1 (Y, Cr, Cb, A) at (x, y), forced or not, with ``more`` boxes
    ((x, y, forced)) of the same size beside it."""
    palette = [(16, 128, 128, 0)] * 256
    palette[1] = colour
    objects = [PgsObject(x, y, w, h, bytes([1]) * (w * h), forced)]
    objects += [PgsObject(ox, oy, w, h, bytes([1]) * (w * h), f) for ox, oy, f in more]
    return ImageCue(start_s, end_s, canvas, tuple(palette), tuple(objects))


def make_subtitled_video(path: Path, tracks: Sequence[Mapping], *, duration_s: float = 8.0, size: str = "320x180",
                         fps: str = "24", start_offset_s: float = 0.0, colour: str = "0x404040") -> Path:
    """A plain-coloured video with a tone and the subtitle ``tracks``: dicts with ``form`` (srt, ass, vtt,
    mov_text, sup, or dvdsub: the pictures as DVD VobSub, ffmpeg's dvdsub encoder keeping their forced flags),
    ``cues`` (text cues, or ImageCues for sup and dvdsub), ``language``, ``title``, ``forced`` (the flag)."""
    from megacut.subtitles.pgs import write_sup

    folder = path.parent / f".{path.stem}-subtitles"
    folder.mkdir(exist_ok=True)
    args = ["-copyts", "-f", "lavfi", "-i", f"color=c={colour}:s={size}:r={fps}:d={duration_s}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration_s}"]
    outputs = ["-map", "0:v", "-map", "1:a"]
    for n, track in enumerate(tracks):
        form = track["form"]
        if form in ("sup", "dvdsub"):
            file = folder / f"{n}.sup"
            file.write_bytes(write_sup(track["cues"]))
            args += ["-fix_sub_duration"] if form == "dvdsub" else []  # each picture's end, not a far default
        else:
            suffix = {"srt": "srt", "mov_text": "srt", "ass": "ass", "vtt": "vtt"}[form]
            file = folder / f"{n}.{suffix}"
            text = {"srt": srt, "mov_text": srt, "ass": ass, "vtt": vtt}[form](track["cues"])
            file.write_text(text, encoding="utf-8")
        args += ["-i", str(file)]
        codec = {"srt": "srt", "ass": "ass", "vtt": "webvtt", "mov_text": "mov_text", "sup": "copy",
                 "dvdsub": "dvdsub"}[form]
        outputs += ["-map", f"{n + 2}:s", f"-c:s:{n}", codec]
        if track.get("language"):
            outputs += [f"-metadata:s:s:{n}", f"language={track['language']}"]
        if track.get("title"):
            outputs += [f"-metadata:s:s:{n}", f"title={track['title']}"]
        outputs += [f"-disposition:s:{n}", "forced" if track.get("forced") else "0"]
    outputs += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "24", "-pix_fmt", "yuv420p", "-c:a", "aac",
                "-metadata:s:a:0", "language=eng"]
    if start_offset_s:
        outputs += ["-output_ts_offset", str(start_offset_s)]
    ffmpeg([*args, *outputs, "-t", str(duration_s), str(path)])
    return path
