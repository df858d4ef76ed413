"""Tiny test media made with ffmpeg's lavfi sources (testsrc2, sine, anullsrc), for the test suite.

Plain functions, not fixtures: each writes one small file and returns its path.
The defaults keep files to a few kB and well under a second of ffmpeg time.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from megacut.ffmpeg import run_ffmpeg

DEFAULT_AUDIO: tuple[Mapping, ...] = ({"freq": 440, "language": "eng", "title": "Main", "channels": 2},)
# Container -> (video encoder, audio encoder) when none is given.
NATURAL_CODECS = {
    ".webm": ("libvpx-vp9", "libopus"),
    ".mpg": ("mpeg2video", "mp2"),
    ".avi": ("libx264", "mp3"),
}
FAST_ENCODER_ARGS = {
    "libx264": ("-preset", "ultrafast"),
    "libx265": ("-preset", "ultrafast", "-x265-params", "log-level=error"),
    "libvpx-vp9": ("-deadline", "realtime", "-cpu-used", "8"),
    "libvpx": ("-deadline", "realtime", "-cpu-used", "8"),
}


def ffmpeg(args: Sequence[str]) -> None:
    """Run ffmpeg quietly, overwriting the output; raises FFmpegError on failure."""
    run_ffmpeg(["-y", "-loglevel", "error", *args])


def _audio_input(track: Mapping, duration_s: float) -> list[str]:
    rate = int(track.get("sample_rate", 48000))
    if track.get("silent"):
        return ["-f", "lavfi", "-i", f"anullsrc=sample_rate={rate}:channel_layout=mono:duration={duration_s}"]
    freq = track.get("freq", 440)
    return ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={duration_s}"]


def _audio_output_args(i: int, track: Mapping, acodec: str) -> list[str]:
    args = [f"-c:a:{i}", track.get("codec", acodec), f"-ac:a:{i}", str(track.get("channels", 2))]
    if track.get("language"):
        args += [f"-metadata:s:a:{i}", f"language={track['language']}"]
    if track.get("title"):
        args += [f"-metadata:s:a:{i}", f"title={track['title']}"]
    args += [f"-disposition:a:{i}", "default" if track.get("default", i == 0) else "0"]
    return args


def make_video(
    path: str | Path,
    *,
    duration_s: float = 2,
    size: str = "320x180",
    fps: str | int | Fraction = "25",
    audio_tracks: Iterable[Mapping] | None = None,
    vcodec: str | None = None,
    acodec: str | None = None,
    pix_fmt: str = "yuv420p",
    start_offset_s: float = 0,
    rotation: int = 0,
    sar: str | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Write a testsrc2 video with one sine tone per audio track and return its path.

    audio_tracks: dicts with ``freq`` (Hz), ``language``, ``title``, ``channels``
    (1, 2, 6, 8...), ``default`` (bool; the first track by default), ``sample_rate``
    (48000), ``codec`` and ``silent`` (anullsrc instead of a tone); ``()`` for none.
    vcodec/acodec default to libx264/aac, or the natural codecs of .webm/.mpg/.avi.
    rotation: clockwise degrees stored as display-matrix side data (frames stay
    unrotated). sar: sample aspect ratio such as "2" or "64/45". start_offset_s:
    ``-output_ts_offset`` (a non-zero start time). extra_args go before the output.
    """
    path = Path(path)
    tracks = list(DEFAULT_AUDIO if audio_tracks is None else audio_tracks)
    natural_v, natural_a = NATURAL_CODECS.get(path.suffix.lower(), ("libx264", "aac"))
    vcodec, acodec = vcodec or natural_v, acodec or natural_a
    args: list[str] = []
    if rotation:
        args += ["-display_rotation", str((360 - rotation) % 360), "-noautorotate"]
    args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={duration_s}"]
    for track in tracks:
        args += _audio_input(track, duration_s)
    args += ["-map", "0:v"] + [a for i in range(len(tracks)) for a in ("-map", f"{i + 1}:a")]
    if sar:
        args += ["-vf", f"setsar={sar}"]
    args += ["-c:v", vcodec, *FAST_ENCODER_ARGS.get(vcodec, ()), "-pix_fmt", pix_fmt]
    for i, track in enumerate(tracks):
        args += _audio_output_args(i, track, acodec)
    if start_offset_s:
        args += ["-output_ts_offset", str(start_offset_s)]
    args += ["-t", str(duration_s), *extra_args, str(path)]
    ffmpeg(args)
    return path


def make_audio(path: str | Path, *, duration_s: float = 2, freq: float = 440, sample_rate: int = 48000,
               channels: int = 2, codec: str | None = None) -> Path:
    """Write a sine tone audio file (format from the extension: .wav, .mp3, .m4a, .flac...)."""
    path = Path(path)
    args = ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={sample_rate}:duration={duration_s}",
            "-ac", str(channels)]
    if codec:
        args += ["-c:a", codec]
    ffmpeg([*args, str(path)])
    return path


def make_image(path: str | Path, *, size: str = "320x180") -> Path:
    """Write one testsrc2 frame as an image (format from the extension: .png, .jpg...)."""
    path = Path(path)
    ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=1", "-frames:v", "1", str(path)])
    return path


def make_text_file(path: str | Path, text: str = "this is not a video\n") -> Path:
    """A plain text file (for "not a media file" tests, e.g. named .mkv)."""
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


def make_truncated(source: str | Path, path: str | Path, *, keep_fraction: float = 0.5) -> Path:
    """Copy the first ``keep_fraction`` of ``source`` to ``path`` (an interrupted download)."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: max(1, int(len(data) * keep_fraction))])
    return path


def packet_span_s(path: str | Path, stream: str = "v:0") -> tuple[float, float]:
    """(first timestamp, end of the last packet) of one stream in absolute seconds, by a packet scan.

    Reads packets without decoding (``-copyts -c copy -f framecrc``), an
    independent check of a probe's start and duration.
    """
    proc = run_ffmpeg(["-copyts", "-i", str(path), "-map", f"0:{stream}", "-c", "copy", "-f", "framecrc", "-"])
    time_base, first, end = Fraction(1), None, None
    for line in proc.stdout.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            _, dts, pts, duration = (int(x) for x in line.split(",")[:4])
            stamp = pts if pts != -(2**63) else dts
            first = stamp if first is None else min(first, stamp)
            end = stamp + duration if end is None else max(end, stamp + duration)
    if first is None:
        raise ValueError(f"no packets in stream {stream} of {path}")
    return float(first * time_base), float(end * time_base)


def make_collection_video(path: str | Path, *, layout: str, tones: Sequence[float], lufs: float,
                          codec: str = "aac", duration_s: float = 3, size: str = "160x90", fps: int = 25,
                          amplitudes: Sequence[float] | None = None, codec_args: Sequence[str] = ()) -> Path:
    """Write a video whose one audio track is like a real film's or episode's: ``layout`` ("5.1(side)",
    "5.1", "7.1", "stereo", "mono") with one sine tone per channel (``tones``, Hz, in ffmpeg's channel
    order; 0: that channel silent), ``amplitudes`` relative to one another (default: all equal), the whole
    brought to an integrated loudness of ``lufs`` (measured, then corrected), encoded with ``codec`` (and ``codec_args``: ``-strict -2`` for TrueHD)."""
    path = Path(path)
    raw = path.with_name(path.stem + ".tones.wav")
    args, labels = [], []
    for n, (freq, amplitude) in enumerate(zip(tones, amplitudes or [1.0] * len(tones))):
        source = (f"sine=frequency={freq}:sample_rate=48000:duration={duration_s},volume={amplitude}" if freq
                  else f"anullsrc=sample_rate=48000:channel_layout=mono:duration={duration_s}")
        args += ["-f", "lavfi", "-i", source]
        labels.append(f"[{n}:a]")
    if len(tones) > 1:
        order = "|".join(str(n) for n in range(len(tones)))  # the n-th tone on the layout's n-th channel
        graph = f"{''.join(labels)}amerge=inputs={len(tones)},channelmap=map={order}:channel_layout={layout}[a]"
    else:
        graph = "[0:a]anull[a]"
    ffmpeg([*args, "-filter_complex", graph, "-map", "[a]", "-c:a", "pcm_f32le", str(raw)])
    measured = run_ffmpeg(["-nostats", "-i", str(raw), "-af", "ebur128=framelog=quiet", "-f", "null", "-"]).stderr
    integrated = float(measured.split("Integrated loudness:")[1].split("I:")[1].split("LUFS")[0])
    audio = ["-c:a", codec, *codec_args, "-af", f"volume={lufs - integrated:.3f}dB"]
    ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={duration_s}", "-i", str(raw),
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            *audio, "-t", str(duration_s), str(path)])
    raw.unlink()
    return path
