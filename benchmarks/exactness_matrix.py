"""The exactness matrix: scenes cut from sources made the many ways real files are made, checked frame by
frame and beep by beep, whole and split, on every executor.

    python benchmarks/exactness_matrix.py [--out DIR] [--only NAME ...] [--executors process,inline,dask]

Each source is generated here (a few seconds of 160x120 pictures whose every frame shows its own index,
and a 1 kHz beep at irregular instants in its sound), in the codec, container, sample rate, channel
layout, frame rate and timing quirk its row names. The sources are rendered in groups of one frame rate
(output rate = the sources' own, so every output frame maps to one source frame), once with every scene
whole and once split into segments, and checked against **ffmpeg playing the source** (the reference:
what a player shows and plays at each instant, priming, edit lists and muxing delays included):

- frames: each output frame shows the source frame on screen at its instant of the scene, the first on
  the requested frame, and the scene has its planned frame count;
- beeps: every beep of the scene is heard within one output frame of where ffmpeg plays it in the source
  (the worst offset is printed; the bar is 2 ms, every source measuring 1 ms or less);
- length: the part's decoded sound lasts exactly as long as its video;
- split = whole: the split scene's frames are the whole scene's, its segments' samples are the whole
  scene's bit for bit, and the sound rendered alone for each segment (a part's sound rendered ahead) is its
  segment's, bit for bit;
- executors: the parts of the split renders are byte-identical in the process pool, ``--no-threading``
  and a local Dask cluster (and a few sources through the moviepy backend have the ffmpeg backend's
  samples);
- sound: all of the above with stereo parts and again with 5.1 parts (``--channels``), each source's
  channels placed in them by megacut's rules (its level kept: gains are constant per source).

It prints one row per source and writes ``matrix.json``. ``tests/test_exactness_matrix.py`` runs the
same matrix in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from framecode import base_frame, decode_frames, draw_frame, exact_times, read_indices  # noqa: E402  (the tests' frame codes)

from megacut.ffmpeg import run_ffmpeg  # noqa: E402
from megacut.join import audio as join_audio  # noqa: E402
from megacut.plan.probe import probe_source  # noqa: E402

SIZE = (160, 120)
BEEP_S = 0.06
BEEP_HZ = 1000
RATE = 48000  # what the reference and the parts are decoded at
BAR_S = 0.002  # the bar for the worst beep offset: under a tenth of a frame at 50 fps
SPLIT_S = 1.0  # segment length of the split renders: three or four segments per scene
SLACK_S = 0.003  # as megacut: a frame starting this little after an instant counts as on screen at it


def beep_times(duration_s: float) -> list[float]:
    """Irregular instants (every 0.5 s plus 0-90 ms), so no shift by a whole period can match them."""
    return [round(0.25 + 0.5 * k + 0.01 * ((k * 7) % 10), 3) for k in range(int(duration_s / 0.5))
            if 0.25 + 0.5 * k + 0.1 < duration_s]


@dataclass(frozen=True)
class Source:
    """One row of the matrix: how its file is made, and the scene cut from it."""

    name: str  # the file name; its extension is the container
    what: str  # the quirk, for the table
    fps: str = "25"
    vfr: tuple = ()  # ((frames, rate), ...) before ``fps``: a variable frame rate
    video: tuple = ("-c:v", "libx264", "-preset", "ultrafast")
    pix_fmt: str = "yuv420p"
    audio: tuple = ("-c:a", "aac")
    rate: int = 48000
    layout: str = "stereo"
    duration_s: float = 6.0
    audio_s: float | None = None  # the sound ends early
    video_delay_s: float = 0.0  # the picture starts this much after the sound
    audio_delay_s: float = 0.0  # the sound starts this much after the picture
    extra: tuple = ()  # more output options (container start offsets, interlacing)
    edit_s: float = 0.0  # remuxed by stream copy from this instant: an MP4 whose edit list starts mid-GOP
    scene: tuple[float, float] = (1.3, 4.8)  # scene start and end, in frames of ``fps`` (+ a quarter frame)


AAC_MP4 = dict(audio=("-c:a", "aac"))
X264_B = ("-c:v", "libx264", "-preset", "veryfast")  # 3 B-frames, B-pyramid, closed GOPs of 250 frames
SOURCES: tuple[Source, ...] = (
    # sample rates (AAC in MP4, the web rip's format)
    *(Source(f"aac-{rate}.mp4", f"AAC {rate / 1000:g} kHz", rate=rate)
      for rate in (8000, 16000, 22050, 32000, 44100, 48000, 88200, 96000)),
    # codecs
    Source("mp3-44100.mkv", "MP3 44.1 kHz in MKV", audio=("-c:a", "libmp3lame"), rate=44100),
    Source("mp3-44100.avi", "MPEG-4 Part 2 + MP3 in AVI", video=("-c:v", "mpeg4", "-q:v", "4"),
           audio=("-c:a", "libmp3lame"), rate=44100),
    Source("ac3-48000-5.1.mkv", "AC-3 5.1 48 kHz", audio=("-c:a", "ac3"), layout="5.1"),
    Source("ac3-44100.mp4", "AC-3 44.1 kHz in MP4", audio=("-c:a", "ac3"), rate=44100),
    Source("eac3-48000.mkv", "E-AC-3 48 kHz", audio=("-c:a", "eac3")),
    Source("opus-48000.mkv", "Opus in MKV", audio=("-c:a", "libopus", "-b:a", "64k")),
    Source("vorbis-44100.mkv", "Vorbis 44.1 kHz", audio=("-c:a", "libvorbis"), rate=44100),
    Source("flac-96000.mkv", "FLAC 96 kHz", audio=("-c:a", "flac"), rate=96000),
    Source("pcm16-44100.mov", "PCM 16 bit 44.1 kHz in MOV", audio=("-c:a", "pcm_s16le"), rate=44100),
    Source("pcm24-96000.mkv", "PCM 24 bit 96 kHz in MKV", audio=("-c:a", "pcm_s24le"), rate=96000),
    # channel layouts
    Source("aac-mono-44100.mp4", "AAC mono 44.1 kHz", rate=44100, layout="mono"),
    Source("aac-5.1-48000.mp4", "AAC 5.1 48 kHz", layout="5.1"),
    # timing
    Source("audio-late.mp4", "sound starts 0.4 s after the picture (MP4)", audio_delay_s=0.4, rate=44100),
    Source("audio-late.mkv", "sound starts 0.4 s after the picture (MKV)", audio_delay_s=0.4, rate=44100),
    Source("audio-early.mkv", "sound starts 0.4 s before the picture", video_delay_s=0.4, rate=44100),
    Source("audio-short.mp4", "sound ends at 3.5 s, inside the scene", audio_s=3.5, rate=44100),
    Source("aac-priming.mkv", "AAC priming in MKV (no edit list)", rate=44100),
    Source("aac-priming.ts", "AAC (ADTS) in MPEG-TS", video=X264_B, rate=44100, scene=(2.3, 5.8)),
    Source("edit-list.mp4", "MP4 with an edit list starting mid-GOP", video=X264_B, rate=44100, edit_s=1.1,
           duration_s=7.0),
    Source("start-offset.mkv", "MKV starting at 2 s", extra=("-output_ts_offset", "2"), rate=44100),
    # video
    Source("bpyramid.mp4", "H.264 B-pyramid", video=X264_B, rate=44100),
    Source("open-gop.mp4", "H.264 open GOP", rate=44100, video=(
        *X264_B, "-x264-params", "open-gop=1:keyint=30:min-keyint=30:scenecut=0")),
    Source("long-gop.mp4", "H.264 10 s GOP", rate=44100, duration_s=8.0, scene=(4.3, 7.8), video=(
        *X264_B, "-g", "250", "-keyint_min", "250", "-sc_threshold", "0")),
    Source("interlaced.mkv", "H.264 interlaced (TFF)", rate=44100, video=(
        "-c:v", "libx264", "-preset", "veryfast", "-flags", "+ildct+ilme", "-x264-params", "tff=1")),
    Source("hevc-8bit.mp4", "HEVC 8 bit, open GOP (x265 default)", rate=44100, video=(
        "-c:v", "libx265", "-preset", "superfast", "-x265-params", "keyint=30:log-level=error", "-tag:v", "hvc1")),
    Source("hevc-10bit.mkv", "HEVC 10 bit, open GOP", pix_fmt="yuv420p10le", video=(
        "-c:v", "libx265", "-preset", "superfast", "-x265-params", "keyint=30:log-level=error")),
    *(Source(name, what, pix_fmt="yuv420p10le", rate=44100, video=(
        "-vf", f"zscale=pin=bt709:tin=bt709:p=bt2020:t={transfer}:m=bt2020nc:r=tv:npl=203",  # white at 203 cd/m²
        "-c:v", "libx265", "-preset", "superfast", "-x265-params",
        f"keyint=30:log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc{levels}"))
      for name, what, transfer, levels in (
        ("hdr10.mkv", "HEVC 10 bit HDR10 (PQ), tone-mapped", "smpte2084",
         ":master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400"),
        ("hlg.mp4", "HEVC 10 bit HLG, tone-mapped", "arib-std-b67", ""))),
    Source("vp9.webm", "VP9 + Opus in WebM", video=("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used",
                                                     "8", "-g", "30"), audio=("-c:a", "libopus")),
    Source("mpeg2.ts", "MPEG-2 + MP2 in MPEG-TS (no seek index)", video=("-c:v", "mpeg2video", "-q:v", "4"),
           audio=("-c:a", "mp2"), rate=44100, scene=(2.3, 5.8)),
    Source("vfr.mkv", "variable frame rate (25 and 50 fps)", vfr=((40, 25), (60, 50), (20, 25)), rate=44100),
    # frame rates
    Source("fps-23.976.mp4", "23.976 fps", fps="24000/1001", video=X264_B, rate=44100),
    Source("fps-24.mkv", "24 fps", fps="24", rate=44100),
    Source("fps-29.97.mp4", "29.97 fps", fps="30000/1001", video=X264_B),
    Source("fps-30.mov", "30 fps in MOV", fps="30", rate=44100),
    Source("fps-50.mp4", "50 fps", fps="50", rate=32000),
    Source("fps-59.94.mkv", "59.94 fps", fps="60000/1001", rate=44100),
)
MOVIEPY_SOURCES = ("aac-22050.mp4", "audio-late.mkv", "fps-29.97.mp4")  # also through --backend moviepy
LAYOUTS = ("stereo", "5.1")  # every source is cut into parts of each


# ----------------------------------------------------------------------------------- making sources


def _rate_text(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def _frames(source: Source) -> int:
    return round(source.duration_s * Fraction(source.fps)) if not source.vfr else (
        sum(n for n, _ in source.vfr) + round((source.duration_s - float(exact_times(
            sum(n for n, _ in source.vfr), Fraction(source.fps), source.vfr)[1])) * Fraction(source.fps)))


def _pictures(folder: Path, frames: int) -> Path:
    """Raw RGB frame-code pictures 0..frames-1, written once and shared by every source that needs them."""
    raw = folder / f"frames-{frames}.rgb"
    if not raw.exists():
        base = base_frame(*SIZE)
        with open(raw.with_suffix(".tmp"), "wb") as handle:
            for index in range(frames):
                handle.write(draw_frame(base, index).tobytes())
        raw.with_suffix(".tmp").replace(raw)
    return raw


def _vfr_filter(source: Source, frames: int) -> list[str]:
    """setpts giving frame N its time at a variable rate (the tests' framecode helper's expression)."""
    from framecode import _setpts_expr

    return ["-vf", _setpts_expr(frames, Fraction(source.fps), source.vfr), "-fps_mode", "passthrough",
            "-enc_time_base:v", "1/1000"]


def make_source(source: Source, folder: Path) -> Path:
    """Encode ``source`` into ``folder``; its path."""
    path = folder / source.name
    frames = _frames(source)
    pictures = _pictures(folder, frames)
    audio_s = source.audio_s if source.audio_s is not None else source.duration_s
    gate = "+".join(f"between(t,{t:.3f},{t + BEEP_S:.3f})" for t in beep_times(audio_s))
    sound = f"aevalsrc='0.5*sin(2*PI*{BEEP_HZ}*t)*({gate})':s={source.rate}:c={source.layout}:d={audio_s}"
    args = ["-y", "-loglevel", "error"]
    args += ["-itsoffset", str(source.video_delay_s)] if source.video_delay_s else []
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE[0]}x{SIZE[1]}",
             "-framerate", _rate_text(Fraction(source.fps)), "-i", str(pictures)]
    args += ["-itsoffset", str(source.audio_delay_s)] if source.audio_delay_s else []
    args += ["-f", "lavfi", "-i", sound, "-map", "0:v", "-map", "1:a"]
    args += _vfr_filter(source, frames) if source.vfr else []
    args += [*source.video, "-pix_fmt", source.pix_fmt, *source.audio, *source.extra]
    target = path.with_name("whole-" + path.name) if source.edit_s else path
    run_ffmpeg([*args, str(target)])
    if source.edit_s:  # stream copy from a mid-GOP instant: the MP4 keeps the GOP and hides its head
        run_ffmpeg(["-y", "-loglevel", "error", "-ss", str(source.edit_s), "-i", str(target), "-map", "0",
                    "-c", "copy", str(path)])
        target.unlink()
    return path


def make_sources(sources, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for frames in {_frames(s) for s in sources}:
        _pictures(folder, frames)
    with ThreadPoolExecutor(2) as pool:
        return dict(zip([s.name for s in sources], pool.map(lambda s: make_source(s, folder), sources)))


# ----------------------------------------------------------------------------------- the reference


# How the reference reads a PQ source's pictures: its 203-cd/m² white back to white (read as BT.709, the
# frame codes' white cells are a grey too close to the background's)
PQ_TO_SDR = "zscale=t=linear:npl=203,format=gbrpf32le,zscale=p=bt709:t=bt709:m=bt709:r=tv,"


def played_frames(path: Path, workdir: Path) -> list[tuple[float, int]]:
    """(content time, frame index) of every frame ffmpeg shows when it plays ``path`` from its start."""
    raw = workdir / (path.name + ".ref.rgb")
    shown = PQ_TO_SDR if probe_source(path).dynamic_range.transfer == "pq" else ""
    proc = run_ffmpeg(["-y", "-i", str(path), "-map", "0:v:0", "-vf", f"{shown}showinfo", "-fps_mode", "passthrough",
                       "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw)])
    times = [float(t) for t in re.findall(r"pts_time:(-?[\d.]+)", proc.stderr)]
    frames = np.fromfile(raw, dtype=np.uint8).reshape(-1, SIZE[1], SIZE[0], 3)
    raw.unlink()
    assert len(times) == len(frames), (path, len(times), len(frames))
    return list(zip(times, read_indices(frames)))


def decode_pcm(path: Path, workdir: Path, surround: bool = False) -> np.ndarray:
    """The first audio stream as ffmpeg plays it: mono int16 at 48 kHz, sample 0 at content time 0 (silence
    before a sound that starts late). ``surround``: a 5.1 part, whose mono is its front channels' (a stereo
    source's beeps are in the front pair, a mono source's in the centre)."""
    raw = workdir / (path.name + ".pcm")
    mono = ["-af", f"aresample={RATE}:async=1:first_pts=0" + (",pan=mono|c0=0.5*c0+0.5*c1+0.5*c2" if surround
                                                                else ""), *([] if surround else ["-ac", "1"])]
    run_ffmpeg(["-y", "-i", str(path), "-map", "0:a:0", *mono, "-f", "s16le", str(raw)])
    samples = np.fromfile(raw, dtype=np.int16)
    raw.unlink()
    return samples


def onsets_s(samples: np.ndarray, threshold: int = 3000) -> list[float]:
    """Where each beep starts (seconds): the first loud sample after at least 0.2 s of quiet."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    starts = [int(x) for i, x in enumerate(loud) if i == 0 or x - loud[i - 1] > 0.2 * RATE]
    return [x / RATE for x in starts]


# ----------------------------------------------------------------------------------- rendering


def _groups(sources) -> dict[str, list[Source]]:
    groups: dict[str, list[Source]] = {}
    for source in sources:
        groups.setdefault(source.fps, []).append(source)
    return groups


def scene_times(source: Source) -> tuple[float, float]:
    """The scene's start and end: a quarter of a frame into the frames its row names (as times read off a
    player fall inside frames)."""
    fps = float(Fraction(source.fps))
    first, last = (round(t * fps) for t in source.scene)
    return (first + 0.25) / fps, (last + 0.25) / fps


def write_csv(path: Path, sources) -> Path:
    lines = ["movie,start,end"] + [f"{s.name},{scene_times(s)[0]:.6f},{scene_times(s)[1]:.6f}" for s in sources]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def render(csv: Path, movies: Path, output: Path, fps: str, *, split: bool, backend: str = "ffmpeg",
           executor: str = "process", scheduler: str | None = None, layout: str = "stereo", container: str = "mp4"):
    """Render ``csv`` into a part of ``layout`` sound (its sources' levels kept: the gains of --loudness are
    constant per source, and the beeps are found by level), in a ``container`` part."""
    from megacut import RunOptions, Settings, prepare_plan, render_plan

    settings = Settings(resolution=SIZE, fps=Fraction(fps), preset="ultrafast", segment_s=SPLIT_S if split else 0,
                        chunk_duration_s=86400, backend=backend, channels=layout, loudness=None, container=container)
    plan = prepare_plan(csv, movies, settings)
    if plan.errors:
        raise RuntimeError(f"{csv}: {[str(p) for p in plan.errors]}")
    started = time.monotonic()
    result = render_plan(plan, RunOptions(output_dir=output, executor=executor, scheduler=scheduler,
                                          max_workers=2, quiet=True))
    failed = [(item.item.name, item.error) for item in result.items.values() if item.error]
    if result.exit_code != 0 or failed:
        raise RuntimeError(f"{csv} ({executor}, {backend}, split={split}): exit {result.exit_code}: {failed}")
    return plan, result, time.monotonic() - started


def segment_pcm(path: Path) -> bytes:
    """A segment's PCM, as stored."""
    return b"".join(join_audio.segment_pcm(path))


def part_frames(path: Path, workdir: Path) -> list[int]:
    return read_indices(decode_frames(path, *SIZE, workdir))


# ----------------------------------------------------------------------------------- checking


@dataclass
class Row:
    """What the matrix found for one source."""

    source: str
    what: str
    layout: str = "stereo"  # the part's sound
    segments: int = 0
    frames: int = 0  # planned
    frames_right: int = 0  # output frames showing the source frame on screen at their instant (split render)
    first_frame_right: bool = False
    beeps: int = 0  # in the scene, as ffmpeg plays the source
    beeps_found: int = 0  # heard within one output frame in the split render
    worst_offset_ms: float = 0.0  # over whole and split renders
    whole_worst_offset_ms: float = 0.0
    audio_video_samples: int = 0  # the part's decoded sound minus its video's length, in samples (0: exact)
    split_frames_equal: bool = False
    split_pcm_max_diff: int = -1  # largest sample difference between split and whole segments (0: identical)
    split_pcm_rms_ratio: float = -1.0  # RMS of that difference against the scene's RMS
    alone_identical: bool = False  # every segment's sound rendered alone is its segment's, bit for bit
    executors_identical: bool | None = None
    moviepy_identical: bool | None = None
    problems: list[str] = field(default_factory=list)


def _scene_range(plan, index: int) -> tuple[int, int]:
    scenes = plan.scenes
    first = sum(s.frames for s in scenes[:index])
    return first, first + scenes[index].frames


def expected_indices(reference: list[tuple[float, int]], start_s: float, frames: int, fps: Fraction) -> list[int]:
    """The source frame on screen at each output frame's instant (the last one past the source's end)."""
    times = np.array([t for t, _ in reference])
    out = []
    for k in range(frames):
        at = start_s + float(k / fps) + SLACK_S
        position = max(0, int(np.searchsorted(times, at + 1e-9, side="right")) - 1)
        out.append(reference[position][1])
    return out


def beep_offsets(reference_onsets: list[float], output: np.ndarray, scene_start_s: float, part_offset_s: float,
                 duration_s: float, frame_s: float) -> tuple[int, list[float]]:
    """(beeps in the scene, offset of each one heard within a frame of where it belongs)."""
    inside = [t - scene_start_s for t in reference_onsets if 0 <= t - scene_start_s < duration_s - BEEP_S]
    window = output[int(part_offset_s * RATE):int((part_offset_s + duration_s) * RATE)]
    heard = onsets_s(window)
    offsets = []
    for t in inside:
        near = [h - t for h in heard if abs(h - t) <= frame_s]
        if near:
            offsets.append(min(near, key=abs))
    return len(inside), offsets


def check_group(sources, paths, runs, workdir: Path) -> list[Row]:
    """Rows for one group's sources from its renders (``runs``: name -> (plan, result))."""
    rows = []
    plan, whole, _ = runs["whole"]
    split_plan, split, _ = runs["split"]
    fps = plan.format.fps
    frame_s = float(1 / fps)
    surround = plan.format.channels == 6
    outputs = {name: (decode_pcm(run[1].parts[0].path, workdir, surround), part_frames(run[1].parts[0].path, workdir))
               for name, run in runs.items() if name in ("whole", "split")}
    for index, source in enumerate(sources):
        row = Row(source.name, source.what, "5.1" if surround else "stereo")
        path = paths[source.name]
        scene = plan.scenes[index]
        start_s, _ = scene_times(source)
        row.frames = scene.frames
        duration_s = float(scene.frames / fps)
        reference = played_frames(path, workdir)
        expected = expected_indices(reference, start_s, scene.frames, fps)
        first, last = _scene_range(plan, index)
        got = {name: indices[first:last] for name, (_, indices) in outputs.items()}
        row.frames_right = sum(a == b for a, b in zip(got["split"], expected))
        row.first_frame_right = bool(got["split"]) and got["split"][0] == expected[0] == got["whole"][0]
        if len(got["split"]) != scene.frames or row.frames_right != scene.frames:
            row.problems.append(f"frames: expected {expected[:6]}..., split {got['split'][:6]}..., "
                                f"{row.frames_right} of {scene.frames} right")
        row.split_frames_equal = got["split"] == got["whole"]
        reference_onsets = onsets_s(decode_pcm(path, workdir))
        worst = {}
        for name, (pcm, _) in outputs.items():
            offset_s = float(sum(s.frames for s in plan.scenes[:index]) / fps)
            count, offsets = beep_offsets(reference_onsets, pcm, start_s, offset_s, duration_s, frame_s)
            row.beeps = count
            if name == "split":
                row.beeps_found = len(offsets)
            worst[name] = max((abs(o) for o in offsets), default=0.0) * 1000
            if len(offsets) != count:
                row.problems.append(f"beeps ({name}): {len(offsets)} of {count} within a frame")
        row.worst_offset_ms = round(max(worst.values()), 2)
        row.whole_worst_offset_ms = round(worst["whole"], 2)
        whole_item, split_item = whole.items[f"scene-{scene.index}"], split.items[f"scene-{scene.index}"]
        row.segments = len(split_item.segments)
        cache = lambda run, key: run.options.output_dir / ".megacut-cache" / "segments" / f"{key}.mov"  # noqa: E731
        whole_pcm = segment_pcm(cache(whole, whole_item.segments[0].key))
        split_pcm = b"".join(segment_pcm(cache(split, s.key)) for s in split_item.segments)
        a = np.frombuffer(whole_pcm, dtype=np.int16).astype(np.int32)
        b = np.frombuffer(split_pcm, dtype=np.int16).astype(np.int32)
        if len(a) != len(b):
            row.problems.append(f"split sound has {len(b)} values, whole {len(a)}")
        else:
            row.split_pcm_max_diff = int(np.abs(a - b).max()) if len(a) else 0
            row.split_pcm_rms_ratio = round(float(np.sqrt(np.mean((a - b) ** 2.0)) / max(1.0, np.sqrt(np.mean(
                a ** 2.0)))), 5)
            if row.split_pcm_max_diff != 0:
                row.problems.append(f"split sound differs from whole: RMS ratio {row.split_pcm_rms_ratio}")
        row.alone_identical = sounds_alone_match(split_plan, split_plan.scenes[index], split, workdir)
        if not row.alone_identical:
            row.problems.append("a segment's sound rendered alone differs from the segment's")
        part_video_s = float(sum(s.frames for s in plan.scenes) / fps)
        row.audio_video_samples = len(outputs["split"][0]) - round(part_video_s * RATE)
        if abs(row.audio_video_samples) > 1:
            row.problems.append(f"the part's sound is {row.audio_video_samples} samples longer than its video")
        if row.worst_offset_ms > BAR_S * 1000:
            row.problems.append(f"worst beep offset {row.worst_offset_ms} ms, over the {BAR_S * 1000:g} ms bar")
        rows.append(row)
    return rows


def sounds_alone_match(plan, scene, run, workdir: Path) -> bool:
    """Every segment's sound rendered alone (a part's sound rendered ahead of its video) is the segment's."""
    from megacut.render.jobs import scene_jobs
    from megacut.render.scene_ffmpeg import sound_args

    for job in scene_jobs(scene, plan.format, plan.settings):
        path = run.options.output_dir / ".megacut-cache" / "segments" / f"{job.key}.mov"
        alone = workdir / f"{job.key}.s16"
        run_ffmpeg(sound_args(job, alone))
        same = alone.read_bytes() == segment_pcm(path)
        alone.unlink()
        if not same:
            return False
    return True


def run_matrix(folder: Path, sources=SOURCES, executors=("process", "inline", "dask"), moviepy=MOVIEPY_SOURCES,
               log=print, layouts=LAYOUTS, container: str = "mp4") -> list[Row]:
    """Make, render and check every source in ``sources`` under ``folder``, into ``container`` parts of each of
    ``layouts``; one Row each, in order (every source for the first layout, then for the next)."""
    folder = Path(folder)
    started = time.monotonic()
    paths = make_sources(sources, folder / "movies")
    log(f"made {len(paths)} sources in {time.monotonic() - started:.1f} s")
    rows: dict[tuple[str, str], Row] = {}
    with _cluster("dask" in executors) as scheduler:
        for layout in layouts:
            for fps, group in _groups(sources).items():
                tag = fps.replace("/", "_") + ("" if layout == "stereo" else f"-{layout}")
                movies = folder / f"movies-{tag}"
                movies.mkdir(exist_ok=True)
                for source in group:
                    link = movies / source.name
                    if not link.exists():
                        os.link(paths[source.name], link)
                csv = write_csv(folder / f"scenes-{tag}.csv", group)
                runs = {"whole": render(csv, movies, folder / f"out-{tag}-whole", fps, split=False, layout=layout,
                                        container=container),
                        "split": render(csv, movies, folder / f"out-{tag}-split", fps, split=True, layout=layout,
                                        container=container)}
                for executor in executors[1:]:
                    runs[executor] = render(csv, movies, folder / f"out-{tag}-{executor}", fps, split=True,
                                            executor=executor, scheduler=scheduler if executor == "dask" else None,
                                            layout=layout, container=container)
                found = {row.source: row for row in check_group(group, paths, runs, folder)}
                reference = runs["split"][1].parts[0].path.read_bytes()
                for executor in executors[1:]:
                    same = runs[executor][1].parts[0].path.read_bytes() == reference
                    for source in group:
                        row = found[source.name]
                        row.executors_identical = same and row.executors_identical is not False
                        if not same:
                            row.problems.append(f"the part rendered by {executor} differs from the process pool's")
                chosen = [s for s in group if s.name in moviepy]
                if chosen and layout == layouts[0]:
                    check_moviepy(chosen, paths, fps, runs["split"], folder, tag, found)
                rows.update({(name, layout): row for name, row in found.items()})
                log(f"{fps} fps, {layout}: {len(group)} sources checked ({time.monotonic() - started:.1f} s)")
    return [rows[(s.name, layout)] for layout in layouts for s in sources]


def check_moviepy(chosen, paths, fps, split_run, folder: Path, tag: str, rows) -> None:
    """The moviepy backend's segments carry exactly the ffmpeg backend's samples (same graph, same seek)."""
    movies = folder / f"movies-{tag}-moviepy"
    movies.mkdir(exist_ok=True)
    for source in chosen:
        if not (movies / source.name).exists():
            os.link(paths[source.name], movies / source.name)
    csv = write_csv(folder / f"scenes-{tag}-moviepy.csv", chosen)
    plan, result, _ = render(csv, movies, folder / f"out-{tag}-moviepy", fps, split=True, backend="moviepy")
    _, reference, _ = split_run
    for index, source in enumerate(chosen):
        item = result.items[f"scene-{plan.scenes[index].index}"]
        ours = b"".join(segment_pcm(result.options.output_dir / ".megacut-cache" / "segments" / f"{s.key}.mov")
                        for s in item.segments)
        ref_item = next(i for i in reference.items.values() if i.item.origin.source.path.name == source.name)
        theirs = b"".join(segment_pcm(reference.options.output_dir / ".megacut-cache" / "segments" /
                                      f"{s.key}.mov") for s in ref_item.segments)
        row = rows[source.name]
        row.moviepy_identical = ours == theirs
        if not row.moviepy_identical:
            row.problems.append("the moviepy backend's samples differ from the ffmpeg backend's")


@contextlib.contextmanager
def _cluster(wanted: bool):
    if not wanted:
        yield None
        return
    from megacut.run.cluster import Cluster

    with Cluster("local:2") as cluster:
        cluster.client.wait_for_workers(2, timeout=60)
        yield cluster.local.scheduler_address


# ----------------------------------------------------------------------------------- the table


def table(rows: list[Row]) -> str:
    head = ("source", "what", "sound", "segs", "frames right", "beeps found", "worst ms", "whole ms", "A-V smp",
            "split=whole", "alone", "executors")
    lines = [head]
    for r in rows:
        pcm = "bit-exact" if r.split_pcm_max_diff == 0 else f"~{r.split_pcm_rms_ratio:.4f}"
        lines.append((r.source, r.what, r.layout, str(r.segments), f"{r.frames_right}/{r.frames}",
                      f"{r.beeps_found}/{r.beeps}", f"{r.worst_offset_ms:.2f}", f"{r.whole_worst_offset_ms:.2f}",
                      str(r.audio_video_samples), f"{'frames ' if r.split_frames_equal else 'FRAMES DIFFER '}{pcm}",
                      "same" if r.alone_identical else "DIFFER",
                      {True: "same", False: "DIFFER", None: "-"}[r.executors_identical]
                      + {True: " +moviepy", False: " MOVIEPY DIFFERS", None: ""}[r.moviepy_identical]))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in lines]
    failed = [f"{r.source} ({r.layout}): {p}" for r in rows for p in r.problems]
    return "\n".join(text + ([""] + failed if failed else ["", f"all {len(rows)} rows pass"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/exactness"))
    parser.add_argument("--only", nargs="*", help="source names (default: all)")
    parser.add_argument("--executors", default="process,inline,dask",
                        help="the first renders whole and split; the others the split render again")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="the parts' sound, each in turn "
                        f"(default: {','.join(LAYOUTS)})")
    parser.add_argument("--container", choices=("mp4", "mkv"), default="mp4", help="the parts' (default: mp4)")
    args = parser.parse_args()
    sources = [s for s in SOURCES if not args.only or s.name in args.only]
    if args.out.exists():
        shutil.rmtree(args.out)
    rows = run_matrix(args.out, sources, tuple(args.executors.split(",")), layouts=tuple(args.layouts.split(",")),
                      container=args.container)
    print(table(rows))
    (args.out / "matrix.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 1 if any(r.problems for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
