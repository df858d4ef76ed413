"""How megacut compares with the original moviepy script and with one hand-written ffmpeg command.

    python benchmarks/performance_demo.py                  # ~60 s of 720p from 9 generated scenes
    python benchmarks/performance_demo.py --quick          # 3 scenes of 2 s at 320x180, well under a minute
    python benchmarks/performance_demo.py --workload long  # 20 minutes of 480p from 30 scenes of 5 s to 4 min
    python benchmarks/performance_demo.py --csv scenes.csv --movies ~/Movies   # your own workload
    python benchmarks/performance_demo.py --configs ffmpeg-command,megacut-2w --out bench-out
    python benchmarks/performance_demo.py --repeat 3       # rounds of everything, fastest run of each kept

Every configuration renders the same scenes (same cut points, overlay texts,
output size, frame rate, libx264 preset and crf) in a fresh process, one at a
time, and is measured the same way: wall time, CPU time (user + sys of the
whole process tree, from ``os.wait4``: it counts every descendant that was
waited for, i.e. workers and their ffmpeg processes) and the peak of the
tree's summed RSS, sampled with psutil every 50 ms. Configurations:

    moviepy-baseline    the original approach: a CompositeVideoClip with a TextClip per scene,
                        concatenate_videoclips, one write_videofile (run as ``--run-baseline JOB``)
    ffmpeg-command      one ffmpeg command: an input per scene, Pillow overlays, concat, one encode
    ffmpeg-command-709  the same command converting each scene's colours to BT.709 and tagging them, as
                        megacut does (an SD source's BT.601 picture is converted: the same work as megacut)
    megacut-inline      megacut process --no-threading
    megacut-1w ... -Nw  megacut process --max-workers k, k = 1..N (N = CPUs available, at least 2)
    megacut-whole       megacut process --segment-duration 0: every scene one job, never split
    megacut-copy        megacut process --copy auto (smart copy; the notes give its share of the full
                        re-encode's time and the PSNR of what it re-encoded)
    megacut-threads     megacut process --executor thread --max-workers N
    megacut-moviepy-inline  megacut process --backend moviepy --no-threading
    megacut-moviepy     megacut process --backend moviepy --max-workers N (these two only when megacut
                        offers that backend; the notes give the speed-up between them, and the most
                        any worker count could give: CPUs / the cores the inline run kept busy)
    megacut-rerun-edit  after a full N-worker run, one row's overlay edited, then the same command again
    megacut-dask-local  megacut process --executor dask --scheduler local:N: the same jobs on a local Dask
                        cluster of N worker processes (only with megacut[cluster] installed; the notes give
                        its wall time against megacut-Nw's)

Figures count only when the output is right: one 1280x720 (or the planned
size) video stream and one audio stream, both within 0.1 s of the planned
duration, and for megacut a report with exit code 0. The table goes to stdout;
``performance.json`` (all figures and the machine) and ``performance.png`` (a
bar chart) go to ``--out``. The table's last column is the 1-minute load
average when each run started: on a shared machine, compare within one run and
mistrust rows started under load (``--repeat`` helps). Generated sources are
seeded and kept in ``--work`` (default ``OUT/work``) between runs. Exit code 0
when every configuration run produced valid output, 1 otherwise, 2 for bad
options.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import importlib.util
import io
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import psutil
from PIL import Image, ImageDraw, ImageFont

import megacut
from megacut.cli.options import option_type
from megacut.ffmpeg import ffmpeg_exe, ffmpeg_version, run_ffmpeg
from megacut.mov import read_tracks
from megacut.plan.fonts import BUILTIN, primary_font
from megacut.plan.settings import parse_fps, parse_resolution
from megacut.render.colour import OUTPUT_MATRIX, OUTPUT_TAGS, source_matrix
from megacut.render.overlay import MARGIN_PER_HEIGHT, line_sizes, overlay_timing, render_overlay_png

SAMPLE_INTERVAL_S = 0.05
STALL_S = 20.0  # a process tree using no CPU this long is stuck: killed, and the run done again
STALL_RETRIES = 2
DURATION_TOLERANCE_S = 0.1
AUDIO_BITRATE = "192k"
MEGACUT_ENCODER_THREADS = megacut.Settings().encoder_threads  # megacut's default --encoder-threads, left as is
OK_PART_STATUSES = ("written", "current")


# ------------------------------------------------------------------ workload


@dataclass(frozen=True)
class SourceSpec:
    name: str
    size: str
    fps: str
    duration_s: int
    video: str  # lavfi source graph; {size} {fps} {d} are filled in
    tones: tuple[int, int]  # left, right Hz
    sample_rate: int = 48000
    encode: tuple[str, ...] = ("-g", "96")  # more x264 options


# Different sizes and rates, content with motion and grain so x264 has real work to do.
FULL_SOURCES = (
    SourceSpec("Harbor Lights", "640x360", "25", 40, "mandelbrot=size={size}:rate={fps}", (330, 440)),
    SourceSpec("Northern Line", "1280x720", "24000/1001", 40,
               "testsrc2=size={size}:rate={fps},noise=alls=4:allf=t", (392, 523), 44100),
    SourceSpec("The Long Winter", "1920x1080", "30000/1001", 40,
               "life=size=480x270:rate={fps}:mold=10:ratio=0.1:death_color=#C83232:life_color=#00FF00,"
               "scale={size}:flags=neighbor,noise=alls=6:allf=t", (262, 349)),
    SourceSpec("Glass Harbor", "854x480", "30", 40,
               "testsrc2=size={size}:rate={fps},hue=H=t/2,noise=alls=5:allf=t", (494, 587)),
)
QUICK_SOURCES = (
    SourceSpec("Harbor Lights", "320x180", "25", 8, "mandelbrot=size={size}:rate={fps}", (330, 440)),
    SourceSpec("Northern Line", "426x240", "24000/1001", 8, "testsrc2=size={size}:rate={fps}", (392, 523), 44100),
    SourceSpec("The Long Winter", "640x360", "30000/1001", 8, "testsrc2=size={size}:rate={fps},hue=H=t",
               (262, 349)),
)
# The long workload: 20 minutes of 854x480 from 30 scenes of 5 s to 4 min over 480p-720p sources, the
# lengths a saga's part has (a few long scenes hold most of its time); at veryfast it runs in a few minutes.
LONG_SOURCES = (
    SourceSpec("Harbor Lights 480p", "854x480", "25", 300, "testsrc2=size={size}:rate={fps},hue=H=t/7", (330, 440)),
    SourceSpec("Northern Line 720p", "1280x720", "24000/1001", 300,
               "testsrc2=size={size}:rate={fps},noise=alls=3:allf=t", (392, 523), 44100),
    SourceSpec("Glass Harbor 576p", "1024x576", "30", 300, "testsrc2=size={size}:rate={fps},hue=H=t/3", (494, 587)),
)
LONG_SCENES, LONG_TOTAL_S, LONG_MIN_S, LONG_MAX_S = 30, 1200.0, 5.0, 240.0
# The uniform saga: sources already in the output format (H.264 High with B-frames, closed GOPs of 2 to
# 5 s, 854x480 at 23.976 fps, tagged BT.709), as a saga of Blu-ray rips and web episodes is; 20 scenes of
# 20 s to 3 min, 25 minutes in all, each with a 4 s date overlay. What smart copy (--copy) is for.
UNIFORM_TAGS = "colorprim=bt709:transfer=bt709:colormatrix=bt709"
UNIFORM_SOURCES = tuple(
    SourceSpec(f"Saga {n} 480p", "854x480", "24000/1001", 480,
               f"testsrc2=size={{size}}:rate={{fps}},hue=H=t/{n + 3},noise=alls=2:allf=t", (330 + 40 * n, 440 + 30 * n),
               encode=("-bf", "3", "-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:{UNIFORM_TAGS}",
                       "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"))
    for n, gop in enumerate((48, 72, 96, 120), start=1))
UNIFORM_SCENES, UNIFORM_TOTAL_S, UNIFORM_MIN_S, UNIFORM_MAX_S, UNIFORM_OVERLAY_S = 20, 1500.0, 20.0, 180.0, 4.0
OVERLAYS = ("12 March 2187", "Stardate 47634.4", 'Winter 1943 — "Operation Frost"', "22 BBY",
            "Year 3 of the Long Winter", "Autumn, 2nd Age 1701", "Day 1: 06:00", "The Night Before",
            "Cycle 8 · Ceres Station")


@dataclass
class Cut:
    """One scene as every renderer needs it (taken from megacut's plan)."""

    source: str
    start_s: float
    duration_s: float
    frames: int
    audio_index: int | None  # absolute stream index in the source, None: silence
    lines: list[str]
    matrix: str = "bt709"  # the source's YCbCr matrix as megacut reads it (render/colour.py)


@dataclass
class Workload:
    label: str
    csv: Path
    movies: Path
    width: int
    height: int
    fps: Fraction
    preset: str
    crf: int
    cuts: list[Cut]
    total_s: float
    overlay_duration_s: float = 3.0

    @property
    def fps_text(self) -> str:
        return str(self.fps)  # 25 or 30000/1001

    @property
    def settings(self) -> megacut.Settings:
        return megacut.Settings(resolution=(self.width, self.height), fps=self.fps, preset=self.preset,
                                crf=self.crf, overlay_duration_s=self.overlay_duration_s)


def usage_error(message: str):
    print(f"performance_demo: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def make_source(spec: SourceSpec, folder: Path) -> Path:
    """Write one seeded test source (kept between runs) and return its path."""
    path = folder / f"{spec.name}.mp4"
    if path.exists():
        return path
    left, right = spec.tones
    video = spec.video.format(size=spec.size, fps=spec.fps)
    audio = (f"aevalsrc=0.2*sin(2*PI*{left}*t)|0.2*sin(2*PI*{right}*t)*(0.6+0.4*sin(2*PI*t/3))"
             f":s={spec.sample_rate}:c=stereo")
    temporary = path.with_name(f".{path.stem}.partial.mp4")
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
                "-t", str(spec.duration_s), "-c:v", "libx264", "-preset", "veryfast", "-crf", "22", *spec.encode,
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-y", str(temporary)], stall_timeout_s=None)
    temporary.replace(path)
    return path


def scene_rows(sources: tuple[SourceSpec, ...], count: int, total_s: float, seed: int) -> list[dict]:
    """``count`` scenes over ``sources`` whose lengths add up to ``total_s``, at seeded positions."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.75, 1.25) for _ in range(count)]
    lengths = [round(total_s * w / sum(weights), 3) for w in weights]
    lengths[-1] = round(total_s - sum(lengths[:-1]), 3)
    rows = []
    for i, length in enumerate(lengths):
        spec = sources[i % len(sources)]
        start = round(rng.uniform(0.5, spec.duration_s - length - 0.5), 3)
        rows.append({"movie": spec.name, "start": timecode(start), "end": timecode(start + length),
                     "overlay": OVERLAYS[i % len(OVERLAYS)]})
    return rows


def power_lengths(count: int, low: float, high: float, total: float, seed: int) -> list[float]:
    """``count`` lengths from ``low`` to ``high`` adding up to ``total``, in a seeded order: low + (high - low)
    * (k / (count - 1)) ** p, p chosen for the total (a few long scenes hold much of the time, as in a saga)."""

    def lengths(p: float) -> list[float]:
        return [low + (high - low) * (k / (count - 1)) ** p for k in range(count)]

    lo, hi = 0.01, 50.0
    for _ in range(60):  # the total falls as p grows
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(lengths(mid)) > total else (lo, mid)
    values = [round(v, 3) for v in lengths(lo)]
    values[-2] = round(values[-2] + total - sum(values), 3)  # the exact total, the longest kept at ``high``
    random.Random(seed).shuffle(values)
    return values


def long_rows(sources: tuple[SourceSpec, ...], seed: int, shape=(LONG_SCENES, LONG_MIN_S, LONG_MAX_S, LONG_TOTAL_S)
              ) -> list[dict]:
    """The long workload's scenes (or another ``shape``: count, shortest, longest, total):
    ``power_lengths`` at seeded positions in the sources."""
    rng = random.Random(seed)
    rows = []
    lengths = power_lengths(*shape, seed)
    for i, length in enumerate(lengths):
        spec = sources[i % len(sources)]
        start = round(rng.uniform(0.5, spec.duration_s - length - 0.5), 3)
        rows.append({"movie": spec.name, "start": timecode(start), "end": timecode(start + length),
                     "overlay": OVERLAYS[i % len(OVERLAYS)]})
    return rows


def timecode(seconds: float) -> str:
    minutes, rest = divmod(round(seconds * 1000), 60000)
    return f"00:{minutes:02d}:{rest / 1000:06.3f}"


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["movie", "start", "end", "overlay"])
        writer.writeheader()
        writer.writerows(rows)


def generate(work: Path, name: str, sources: tuple[SourceSpec, ...], key: tuple, rows) -> tuple[Path, Path]:
    """(scenes CSV, movies folder) of a generated workload in ``work/NAME-TAG`` (TAG from ``sources`` and
    ``key``: the sources are kept between runs); ``rows()`` gives the CSV's rows."""
    tag = hashlib.sha1(repr((sources, *key)).encode()).hexdigest()[:8]
    folder = work / f"{name}-{tag}"
    movies = folder / "movies"
    movies.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for spec in sources:
        make_source(spec, movies)
    print(f"sources ready in {movies} ({time.monotonic() - started:.1f} s)", flush=True)
    csv_path = folder / "scenes.csv"
    write_csv(csv_path, rows())
    return csv_path, movies


def generated_workload(args) -> Workload:
    if args.workload == "long":
        return long_workload(args)
    if args.workload == "uniform":
        return uniform_workload(args)
    sources = QUICK_SOURCES if args.quick else FULL_SOURCES
    count, total_s = (3, 6.0) if args.quick else (9, 60.0)
    csv_path, movies = generate(args.work, "quick" if args.quick else "full", sources, (count, total_s, args.seed),
                                lambda: scene_rows(sources, count, total_s, args.seed))
    size = (320, 180) if args.quick else (1280, 720)
    preset = args.preset or ("ultrafast" if args.quick else "medium")
    return plan_workload("quick" if args.quick else "generated", csv_path, movies, size, Fraction(25), preset,
                         args.crf)


def long_workload(args) -> Workload:
    csv_path, movies = generate(args.work, "long", LONG_SOURCES, (LONG_SCENES, LONG_TOTAL_S, args.seed),
                                lambda: long_rows(LONG_SOURCES, args.seed))
    return plan_workload("long", csv_path, movies, (854, 480), Fraction(25), args.preset or "veryfast", args.crf)


def uniform_workload(args) -> Workload:
    shape = (UNIFORM_SCENES, UNIFORM_MIN_S, UNIFORM_MAX_S, UNIFORM_TOTAL_S)
    csv_path, movies = generate(args.work, "uniform", UNIFORM_SOURCES, (*shape, args.seed),
                                lambda: long_rows(UNIFORM_SOURCES, args.seed, shape))
    workload = plan_workload("uniform", csv_path, movies, (854, 480), Fraction(24000, 1001), args.preset or "medium",
                             args.crf)
    workload.overlay_duration_s = UNIFORM_OVERLAY_S
    return workload


def user_workload(args) -> Workload:
    """The user's CSV in the output format megacut chooses for it (one plan: each source probed once)."""
    return plan_workload("user", args.csv, args.movies, args.resolution, args.fps, args.preset or "medium", args.crf,
                         problem="the CSV has errors; run `megacut plan` and fix them first")


def plan_workload(label, csv_path, movies, size, fps, preset, crf,
                  problem: str = "megacut cannot plan the workload") -> Workload:
    """The workload as megacut plans it: the scenes, their exact frame counts and the total (``size`` and
    ``fps`` None: the format megacut chooses)."""
    settings = megacut.Settings(resolution=size, fps=fps, preset=preset, crf=crf)
    plan = megacut.prepare_plan(csv_path, movies, settings)
    if plan.errors:
        usage_error(f"{problem}:\n  " + "\n  ".join(str(p) for p in plan.errors[:10]))
    scenes = [s for part in plan.selected_parts for s in part.scenes]
    cuts = [Cut(str(s.source.path), s.start_s, s.duration_s, s.frames, s.audio.index if s.audio else None,
                list(s.overlay_lines), source_matrix(s.source)) for s in scenes]
    fmt = plan.format
    return Workload(label, Path(csv_path), Path(movies), fmt.width, fmt.height, fmt.fps, preset, crf, cuts,
                    sum(c.duration_s for c in cuts))


# --------------------------------------------------------------- measuring


@dataclass
class Result:
    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    returncode: int | None = None
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    stalled: bool = False  # its process tree used no CPU for STALL_S and was killed
    command: list[str] = field(default_factory=list)
    log: str = ""
    load_before: float = 0.0  # 1-minute load average when the run started: the machine is shared
    details: dict = field(default_factory=dict)
    read_bytes: int = 0  # bytes its process tree read (rchar: from files, cached or not, and pipes)


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants; keeps the peak.

    A tree that uses no CPU for ``STALL_S`` is stuck (ffmpeg 9 deadlocks now and then
    on multi-input graphs): it is killed and the run marked stalled, to be run again.
    A tree's CPU includes what its processes' reaped children used, so it never
    drops when an ffmpeg run ends and a run that starts ffmpeg after ffmpeg is not
    taken for a stalled one.
    """

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()
        self.stalled = False
        self.cpu_s, self.progress_at = -1.0, time.monotonic()

    def sample(self) -> None:
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total, cpu_s = 0, 0.0
        for proc in tree:
            try:
                total += proc.memory_info().rss
                times = proc.cpu_times()  # with the children it reaped: finished ffmpeg runs still count
                cpu_s += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:
                continue
        self.peak = max(self.peak, total)
        if cpu_s > self.cpu_s:
            self.cpu_s, self.progress_at = cpu_s, time.monotonic()
        elif time.monotonic() - self.progress_at > STALL_S:
            self.stalled = True
            for proc in reversed(tree):
                with contextlib.suppress(psutil.Error):
                    proc.kill()

    def run(self) -> None:
        self.sample()
        while not self.done.wait(SAMPLE_INTERVAL_S):
            self.sample()


def measure(name: str, command: list[str], folder: Path) -> Result:
    """Run ``command`` in a fresh process (cwd ``folder``, output to run.log) and measure it."""
    folder.mkdir(parents=True, exist_ok=True)
    log, load = folder / "run.log", os.getloadavg()[0]
    read_before = bytes_read()
    with open(log, "wb") as handle:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=folder, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall_s = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = Result(name, wall_s, usage.ru_utime + usage.ru_stime, sampler.peak, proc.returncode,
                    command=[str(c) for c in command], log=str(log), load_before=load)
    result.stalled = sampler.stalled
    result.read_bytes = bytes_read() - read_before  # the reaped tree's reads count as this process's
    return result


def bytes_read() -> int:
    """What this process and the children it reaped have read (Linux's rchar), 0 where unknown."""
    try:
        with open("/proc/self/io", encoding="ascii") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("rchar"))
    except (OSError, StopIteration, ValueError):
        return 0


# -------------------------------------------------------------- validating


def probe_streams(path: Path) -> tuple[list[str], list[str]]:
    """(video stream lines, audio stream lines) as ``ffmpeg -i`` lists them."""
    stderr = run_ffmpeg(["-i", str(path)], check=False).stderr
    streams = [line for line in stderr.splitlines() if re.match(r"\s*Stream #", line)]
    return [s for s in streams if "Video:" in s], [s for s in streams if "Audio:" in s]


def file_problems(path: Path, expected_s: float, width: int, height: int) -> list[str]:
    """What is wrong with an output file, or [] when it is right."""
    if not path.is_file():
        return [f"{path.name} was not written"]
    video, audio = probe_streams(path)
    problems = []
    if len(video) != 1 or len(audio) != 1:
        problems.append(f"{path.name}: {len(video)} video and {len(audio)} audio streams, expected 1 and 1")
    if video and f" {width}x{height}" not in video[0]:
        problems.append(f"{path.name}: video is not {width}x{height}: {video[0].strip()}")
    try:
        tracks = read_tracks(path)
    except (OSError, ValueError) as exc:
        return problems + [f"{path.name}: cannot read the track table ({exc})"]
    for track in tracks:
        seconds = track.duration / track.timescale if track.timescale else 0.0
        if abs(seconds - expected_s) > DURATION_TOLERANCE_S:
            problems.append(f"{path.name}: {track.handler} track lasts {seconds:.3f} s, planned {expected_s:.3f} s")
    return problems


def megacut_problems(output: Path, workload: Workload) -> tuple[list[str], dict]:
    """Check a megacut run through its report: exit code, every part's file, the total duration."""
    report_path = output / "megacut-report.json"
    if not report_path.is_file():
        return ["no megacut-report.json"], {}
    report = json.loads(report_path.read_text(encoding="utf-8"))
    problems = [] if report.get("exit_code") == 0 else [f"report exit_code {report.get('exit_code')}"]
    total_s = 0.0
    for part in report["parts"]:
        if part["status"] not in OK_PART_STATUSES or not part["path"]:
            problems.append(f"part {part['n']}: {part['status']} {part.get('error') or ''}".strip())
            continue
        total_s += part["duration_s"]
        problems += file_problems(Path(part["path"]), part["duration_s"], workload.width, workload.height)
    if abs(total_s - workload.total_s) > DURATION_TOLERANCE_S:
        problems.append(f"parts add up to {total_s:.3f} s, planned {workload.total_s:.3f} s")
    return problems, report_summary(report)


def report_summary(report: dict) -> dict:
    scenes = report.get("scenes", [])
    statuses: dict[str, int] = {}
    for scene in scenes:
        statuses[scene["status"]] = statuses.get(scene["status"], 0) + 1
    return {"report_wall_s": report.get("wall_s"), "report_cpu_s": report.get("cpu_s"),
            "report_peak_rss_bytes": report.get("peak_rss_bytes"), "workers": report.get("workers"),
            "scene_statuses": statuses, "encoder_threads": report.get("settings", {}).get("encoder_threads"),
            "scene_render_s": [s.get("render_s") for s in scenes],
            "scene_duration_s": [s.get("duration_s") for s in scenes]}


# ----------------------------------------------------- the moviepy baseline


def baseline_job(workload: Workload, output: Path, folder: Path) -> Path:
    """The baseline's instructions, written as JSON for its own process."""
    font = primary_font(workload.settings)
    job = {"width": workload.width, "height": workload.height, "fps": float(workload.fps),
           "preset": workload.preset, "crf": workload.crf, "output": str(output), "temp_dir": str(folder),
           "font": None if font == BUILTIN else font,
           "font_size": line_sizes(workload.height, workload.settings)[0],
           "scenes": [{**asdict(cut), "overlay": overlay_dict(cut, workload)} for cut in workload.cuts]}
    path = folder / "baseline-job.json"
    path.write_text(json.dumps(job, indent=1), encoding="utf-8")
    return path


def overlay_dict(cut: Cut, workload: Workload) -> dict | None:
    timing = overlay_timing(cut.duration_s, workload.settings) if cut.lines else None
    return None if timing is None else {"duration_s": timing.duration_s, "fade_s": timing.fade_in_s}


def run_baseline(job_path: Path) -> int:
    """The original sequential moviepy script: composite per scene, concatenate, one write."""
    from moviepy import concatenate_videoclips

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    opened: list = []
    scenes = [baseline_scene(scene, job, opened) for scene in job["scenes"]]
    final = concatenate_videoclips(scenes)
    final.write_videofile(job["output"], fps=job["fps"], codec="libx264", audio_codec="aac", audio_fps=48000,
                          audio_bitrate=AUDIO_BITRATE, preset=job["preset"],
                          ffmpeg_params=["-crf", str(job["crf"]), "-pix_fmt", "yuv420p"],
                          temp_audiofile_path=job["temp_dir"], logger=None)
    for clip in [final, *scenes, *opened]:
        clip.close()
    return 0


def baseline_scene(scene: dict, job: dict, opened: list):
    from moviepy import CompositeVideoClip, VideoFileClip

    source = VideoFileClip(scene["source"], audio=scene["audio_index"] is not None, audio_fps=48000)
    opened.append(source)
    clip = source.subclipped(scene["start_s"], scene["start_s"] + scene["duration_s"])
    width, height = job["width"], job["height"]
    scale = min(width / clip.w, height / clip.h)
    if abs(scale - 1) > 1e-6:
        clip = clip.resized(scale)
    layers = [clip.with_position("center")]
    if scene["overlay"]:
        layers.append(baseline_text(scene, job))
    return CompositeVideoClip(layers, size=(width, height), bg_color=(0, 0, 0)).with_duration(scene["duration_s"])


def baseline_text(scene: dict, job: dict):
    from moviepy import TextClip, vfx

    size, overlay = job["font_size"], scene["overlay"]
    pad, margin = max(2, round(size * 0.45)), max(2, round(job["height"] * MARGIN_PER_HEIGHT))
    text = TextClip(font=job["font"], text="\n".join(scene["lines"]), font_size=size, color="white",
                    bg_color=(0, 0, 0), margin=(pad, pad), text_align="right")
    text = text.with_duration(overlay["duration_s"]).with_position((job["width"] - text.w - margin, margin))
    return text.with_effects([vfx.CrossFadeIn(overlay["fade_s"]), vfx.CrossFadeOut(overlay["fade_s"])])


# ------------------------------------------------- the hand-written command


def ffmpeg_command(workload: Workload, overlays: list[Path | None], output: Path, colour: bool = False) -> list[str]:
    """One ffmpeg command: a cut input (and an overlay image) per scene, concat, one encode. ``colour``: each
    scene converted to BT.709 and tagged as megacut does (``ffmpeg-command-709``), else no conversion (an SD
    source's BT.601 colours shown as BT.709 ones, as a hand-written command often does)."""
    args = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    graph, labels, index = [], [], 0
    for i, (cut, png) in enumerate(zip(workload.cuts, overlays)):
        args += ["-ss", f"{cut.start_s:.6f}", "-t", f"{cut.duration_s + 0.5:.6f}", "-i", f"file:{cut.source}"]
        if png:
            args += ["-f", "image2", "-pattern_type", "none", "-i", f"file:{png}"]
        graph += scene_graph(i, index, cut, workload, png is not None, colour)
        labels.append(f"[v{i}][a{i}]")
        index += 2 if png else 1
    graph.append(f"{''.join(labels)}concat=n={len(labels)}:v=1:a=1[v{'c' if colour else ''}][a]")
    if colour:
        graph.append(f"[vc]{OUTPUT_TAGS}[v]")
    return args + ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]", "-c:v", "libx264",
                   "-preset", workload.preset, "-crf", str(workload.crf), "-pix_fmt", "yuv420p", "-c:a", "aac",
                   "-b:a", AUDIO_BITRATE, "-ar", "48000", "-movflags", "+faststart", f"file:{output}"]


def scene_graph(i: int, index: int, cut: Cut, workload: Workload, with_overlay: bool, colour: bool = False
                ) -> list[str]:
    w, h, rate = workload.width, workload.height, workload.fps_text
    samples = round(cut.frames * 48000 / workload.fps)
    convert = f":in_color_matrix={cut.matrix}:out_color_matrix={OUTPUT_MATRIX}:out_range=tv" if colour else ""
    fit = (f"scale={w}:{h}:force_original_aspect_ratio=decrease{convert},pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:black,"
           "setsar=1,"
           f"fps={rate},trim=end_frame={cut.frames},setpts=PTS-STARTPTS")
    source = "anullsrc=r=48000:cl=stereo," if cut.audio_index is None else f"[{index}:{cut.audio_index}]"
    audio = (f"{source}aresample=48000,aformat=channel_layouts=stereo,apad,atrim=end_sample={samples},"
             "asetpts=PTS-STARTPTS")
    if not with_overlay:
        return [f"[{index}:v:0]{fit}[v{i}]", f"{audio}[a{i}]"]
    timing = overlay_timing(cut.duration_s, workload.settings)
    shown = max(1, round(timing.duration_s * workload.fps))
    image = (f"[{index + 1}:v]format=rgba,loop=loop={shown - 1}:size=1:start=0,setpts=N/({rate})/TB,"
             f"fade=t=in:st=0:d={timing.fade_in_s}:alpha=1,"
             f"fade=t=out:st={timing.fade_out_start_s}:d={timing.fade_out_s}:alpha=1")
    return [f"[{index}:v:0]{fit}[b{i}]", f"{image}[o{i}]",
            f"[b{i}][o{i}]overlay=0:0:eof_action=pass,format=yuv420p[v{i}]", f"{audio}[a{i}]"]


def overlay_pngs(workload: Workload, folder: Path) -> list[Path | None]:
    folder.mkdir(parents=True, exist_ok=True)
    return [render_overlay_png(tuple(cut.lines), workload.width, workload.height, workload.settings,
                               folder / f"overlay-{i}.png") if cut.lines else None
            for i, cut in enumerate(workload.cuts)]


# ---------------------------------------------------------- configurations


@dataclass
class Context:
    workload: Workload
    runs: Path
    workers: int
    repeat: int = 1


def fresh_folder(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_moviepy_baseline(ctx: Context, name: str) -> Result:
    folder = fresh_folder(ctx.runs / name)
    output = folder / "baseline.mp4"
    job = baseline_job(ctx.workload, output, folder)
    result = measure(name, [sys.executable, str(Path(__file__).resolve()), "--run-baseline", str(job)], folder)
    result.problems = file_problems(output, ctx.workload.total_s, ctx.workload.width, ctx.workload.height)
    return result


def run_ffmpeg_command(ctx: Context, name: str, colour: bool = False) -> Result:
    folder = fresh_folder(ctx.runs / name)
    started = time.perf_counter()
    pngs = overlay_pngs(ctx.workload, folder / "overlays")
    prep_s = time.perf_counter() - started
    output = folder / "ffmpeg.mp4"
    result = measure(name, ffmpeg_command(ctx.workload, pngs, output, colour), folder)
    result.problems = file_problems(output, ctx.workload.total_s, ctx.workload.width, ctx.workload.height)
    result.details["overlay_png_prep_s_not_timed"] = round(prep_s, 3)
    return result


def megacut_command(ctx: Context, csv_path: Path, output: Path, *extra: str) -> list[str]:
    w = ctx.workload
    return [sys.executable, "-m", "megacut", "process", "--csv", str(csv_path), "--movies", str(w.movies),
            "--output", str(output), "--resolution", f"{w.width}x{w.height}", "--fps", w.fps_text,
            "--preset", w.preset, "--crf", str(w.crf), "--overlay-duration", f"{w.overlay_duration_s:g}", "-q", *extra]


def run_megacut(ctx: Context, name: str, *extra: str, csv_path: Path | None = None,
                folder: Path | None = None) -> Result:
    folder = folder or fresh_folder(ctx.runs / name)
    output = folder / "out"
    command = megacut_command(ctx, csv_path or ctx.workload.csv, output, *extra)
    result = measure(name, command, folder)
    result.problems, result.details = megacut_problems(output, ctx.workload)
    return result


def run_megacut_copy(ctx: Context, name: str) -> Result:
    """megacut with --copy auto; its re-encoded frames' PSNR against the source (and, when the full
    re-encode ran before it, the same frames' PSNR there)."""
    result = run_megacut(ctx, name, "--copy", "auto", "--force")
    if result.returncode == 0:
        pieces = reencoded_pieces(ctx.workload)
        copied = sum(p[3] for p in pieces if p[0] == "copy")
        total = sum(p[3] for p in pieces)
        result.details["copied_frames"], result.details["frames"] = copied, total
        clean = [p for p in pieces if p[0] == "clean"]
        result.details["psnr_reencoded_db"] = pieces_psnr(ctx.runs / name / "out", clean, ctx.workload.fps)
        full = ctx.runs / f"megacut-{ctx.workers}w" / "out"
        if full.exists():
            result.details["psnr_same_frames_full_reencode_db"] = pieces_psnr(full, clean, ctx.workload.fps)
    return result


def reencoded_pieces(workload: Workload) -> list[tuple]:
    """(kind, part frame, source path and time of its frame, frames) of every piece of the copy plan:
    "copy", "drawn" (re-encoded under the overlay) or "clean" (re-encoded, nothing drawn: comparable with
    the source)."""
    from megacut.plan.copy_index import source_index
    from megacut.render.copy_plan import changed_frames, first_frame
    from megacut.render.jobs import CopyJob
    from megacut.run.groups import scene_groups

    settings = replace(workload.settings, copy="auto")
    plan = megacut.prepare_plan(workload.csv, workload.movies, settings)
    pieces, offset = [], 0
    for group in scene_groups(plan, Path()):
        for item in group.items:
            jobs, scene = item.jobs, item.origin
            copy = next((j for j in jobs if isinstance(j, CopyJob)), None)
            if copy is None:
                offset += item.frames
                continue
            source = scene.source
            index = source_index(source.path, source.video_index, source.size_bytes, source.mtime_ns)
            first = first_frame(scene, index)
            drawn, tail = changed_frames(scene, plan.format, settings)
            for job in jobs:
                runs = [("copy", job.first_frame, job.frames)] if job is copy else [
                    ("drawn", job.first_frame, min(job.frames, max(0, drawn - job.first_frame))),
                    ("clean", max(job.first_frame, drawn), job.first_frame + job.frames - max(job.first_frame, drawn))]
                for kind, start, frames in runs:
                    if frames > 0:
                        at_s = index.seconds(index.pts[index.by_rank[first + start]])
                        pieces.append((kind, offset + start, (source.path, at_s), frames))
            offset += item.frames
    return pieces


def pieces_psnr(out: Path, pieces: list[tuple], fps: Fraction) -> float | None:
    """The frame-weighted mean PSNR (dB, luma and chroma) of ``pieces`` of the part in ``out`` against
    their source frames."""
    parts = sorted(out.glob("*.mp4"))
    if not parts or not pieces:
        return None
    total, weighted = 0, 0.0
    for _, part_frame, (source, at_s), frames in pieces:
        half = float(1 / fps) / 2
        graph = (f"[0:v]trim=end_frame={frames},setpts=PTS-STARTPTS[a];"
                 f"[1:v]trim=end_frame={frames},setpts=PTS-STARTPTS[b];[a][b]psnr")
        log = run_ffmpeg(["-ss", f"{max(0.0, float(part_frame / fps) - half):.6f}", "-i", str(parts[0]),
                          "-ss", f"{max(0.0, at_s - half):.6f}", "-i", str(source), "-filter_complex", graph,
                          "-f", "null", "-"], check=False).stderr
        match = re.search(r"PSNR y:[\d.]+ u:[\d.]+ v:[\d.]+ average:([\d.]+|inf)", log)
        if match and match.group(1) != "inf":
            weighted += float(match.group(1)) * frames
            total += frames
    return round(weighted / total, 2) if total else None


def run_rerun_edit(ctx: Context, name: str) -> Result:
    """A full N-worker run, one overlay edited in the CSV, and the same command again."""
    folder = fresh_folder(ctx.runs / name)
    csv_path = folder / ctx.workload.csv.name
    shutil.copyfile(ctx.workload.csv, csv_path)
    workers = ("--max-workers", str(ctx.workers))
    full = run_megacut(ctx, f"{name}-full", *workers, "--force", csv_path=csv_path, folder=folder)
    shutil.move(folder / "run.log", folder / "full-run.log")
    edited = edit_one_overlay(csv_path)
    result = run_megacut(ctx, name, *workers, csv_path=csv_path, folder=folder)
    result.problems = [f"full run: {p}" for p in full.problems] + result.problems
    statuses = result.details.get("scene_statuses", {})
    if statuses.get("ok") != 1:
        result.problems.append(f"the rerun rendered {statuses.get('ok', 0)} scene(s), expected 1 ({statuses})")
    result.details.update(edited_row=edited, full_run={k: v for k, v in asdict(full).items() if k != "details"},
                          fraction_of_full=result.wall_s / full.wall_s if full.wall_s else None)
    return result


def edit_one_overlay(csv_path: Path) -> str:
    """Change the overlay text of the middle scene row (adding an overlay column if there is none)."""
    text = csv_path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=csv_delimiter(text)))
    content = [r for r in rows if any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    header, names = content[0], [h.strip().lower() for h in content[0]]
    column = next((names.index(n) for n in ("overlay", "timeline_placement") if n in names), None)
    if column is None:
        header.append("overlay")
        column = len(header) - 1
    times = [names.index(n) for n in ("start", "start_timecode", "end", "end_timecode") if n in names]
    scenes = [r for r in content[1:] if any(i < len(r) and r[i].strip() for i in times)]
    row = scenes[len(scenes) // 2]
    row.extend([""] * (column + 1 - len(row)))
    row[column] = f"{row[column]} (revised)".strip()
    out = io.StringIO()
    csv.writer(out, delimiter=csv_delimiter(text), lineterminator="\n").writerows(rows)
    csv_path.write_text(out.getvalue(), encoding="utf-8")
    return ",".join(row)


def csv_delimiter(text: str) -> str:
    """``;`` for a semicolon-separated file (as some Excel locales save it), else ``,``."""
    header = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    return ";" if header.count(";") > header.count(",") else ","


def megacut_backends() -> list[str]:
    help_text = subprocess.run([sys.executable, "-m", "megacut", "process", "--help"], capture_output=True,
                               text=True).stdout
    match = re.search(r"--backend \{([^}]*)\}", help_text)
    return match[1].split(",") if match else []


def configurations(workers: int) -> dict:
    """Every configuration's name and how to run it, in table order."""
    configs = {"moviepy-baseline": run_moviepy_baseline, "ffmpeg-command": run_ffmpeg_command,
               "ffmpeg-command-709": lambda ctx, name: run_ffmpeg_command(ctx, name, colour=True),
               "megacut-inline": lambda ctx, name: run_megacut(ctx, name, "--no-threading", "--force")}
    for k in range(1, workers + 1):
        configs[f"megacut-{k}w"] = lambda ctx, name, k=k: run_megacut(ctx, name, "--max-workers", str(k), "--force")
    configs["megacut-whole"] = lambda ctx, name: run_megacut(ctx, name, "--segment-duration", "0", "--force")
    configs["megacut-copy"] = run_megacut_copy
    configs["megacut-threads"] = lambda ctx, name: run_megacut(ctx, name, "--executor", "thread", "--max-workers",
                                                               str(ctx.workers), "--force")
    configs["megacut-moviepy-inline"] = lambda ctx, name: run_megacut(ctx, name, "--backend", "moviepy",
                                                                      "--no-threading", "--force")
    configs["megacut-moviepy"] = lambda ctx, name: run_megacut(ctx, name, "--backend", "moviepy", "--max-workers",
                                                               str(ctx.workers), "--force")
    configs["megacut-rerun-edit"] = run_rerun_edit
    configs["megacut-dask-local"] = lambda ctx, name: run_megacut(ctx, name, "--executor", "dask", "--scheduler",
                                                                  f"local:{ctx.workers}", "--force")
    return configs


# --------------------------------------------------------------- reporting


def ratios(results: list[Result]) -> None:
    """Speed-up against the baseline and ratios to the ffmpeg command, when those are valid."""
    by_name = {r.name: r for r in results if r.valid}
    base, ff = by_name.get("moviepy-baseline"), by_name.get("ffmpeg-command")
    for r in results:
        r.details["speedup_vs_baseline"] = base.wall_s / r.wall_s if base and r.wall_s else None
        r.details["ratio_to_ffmpeg"] = r.wall_s / ff.wall_s if ff and r.wall_s else None
        r.details["rss_ratio_to_ffmpeg"] = r.peak_rss_bytes / ff.peak_rss_bytes if ff and ff.peak_rss_bytes else None


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def table_text(results: list[Result]) -> str:
    head = (f"{'configuration':<22} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'read MB':>8} {'speed-up':>9} "
            f"{'/ffmpeg':>8} {'RSS/ffmpeg':>10}  valid  {'load':>5}")
    lines = [head, "-" * len(head)]
    for r in results:
        d = r.details
        speedup, ratio = _fmt(d.get("speedup_vs_baseline"), "{:.2f}x"), _fmt(d.get("ratio_to_ffmpeg"), "{:.2f}")
        lines.append(f"{r.name:<22} {r.wall_s:>8.2f} {r.cpu_s:>8.2f} {r.peak_rss_bytes / 1e6:>12.0f} "
                     f"{r.read_bytes / 1e6:>8.0f} {speedup:>9} "
                     f"{ratio:>8} {_fmt(d.get('rss_ratio_to_ffmpeg'), '{:.2f}'):>10}  "
                     f"{'yes' if r.valid else 'NO':<5}  {r.load_before:>5.1f}")
    return "\n".join(lines)


def notes_text(results: list[Result], skipped: dict[str, str], ctx: Context) -> str:
    lines = []
    for r in results:
        for problem in r.problems:
            lines.append(f"INVALID {r.name}: {problem}")
    rerun = next((r for r in results if r.name == "megacut-rerun-edit"), None)
    if rerun and rerun.details.get("fraction_of_full"):
        full = rerun.details["full_run"]
        lines.append(f"incremental rerun after editing one overlay: {rerun.wall_s:.2f} s = "
                     f"{rerun.details['fraction_of_full']:.0%} of the full {ctx.workers}-worker run "
                     f"({full['wall_s']:.2f} s) in the same folder; scenes {rerun.details.get('scene_statuses')}")
    lines += moviepy_scaling_notes(results, ctx)
    lines += copy_notes(results, ctx)
    by_name = {r.name: r for r in results if r.valid}
    dask, pool = by_name.get("megacut-dask-local"), by_name.get(f"megacut-{ctx.workers}w")
    if dask and pool and pool.wall_s:
        dask.details["ratio_to_pool"] = dask.wall_s / pool.wall_s
        lines.append(f"local Dask cluster of {ctx.workers} workers: {dask.wall_s:.2f} s = "
                     f"{dask.wall_s / pool.wall_s:.2f}x the process pool's {pool.wall_s:.2f} s "
                     f"(megacut-{ctx.workers}w)")
    valid = [r for r in results if r.valid and r.name != "megacut-rerun-edit"]
    if valid:
        best = min(valid, key=lambda r: r.wall_s)
        lines.append(f"fastest full render: {best.name} ({best.wall_s:.2f} s)")
    lines += [f"skipped {name}: {reason}" for name, reason in skipped.items()]
    lines.append(f"encoder threads: megacut {MEGACUT_ENCODER_THREADS} per job (its default); ffmpeg-command and "
                 "moviepy-baseline: x264's default (all cores)")
    return "\n".join(lines)


def copy_notes(results: list[Result], ctx: Context) -> list[str]:
    """Smart copy against the full re-encode: time, reads, frames copied, quality of what it re-encoded."""
    by_name = {r.name: r for r in results if r.valid}
    copy, full = by_name.get("megacut-copy"), by_name.get(f"megacut-{ctx.workers}w")
    if not copy:
        return []
    d = copy.details
    lines = [f"--copy auto: {d.get('copied_frames', 0)} of {d.get('frames', 0)} frames copied; re-encoded frames "
             f"(nothing drawn over them) {_fmt(d.get('psnr_reencoded_db'), '{:.2f}')} dB PSNR against the source"
             f" (the full re-encode: {_fmt(d.get('psnr_same_frames_full_reencode_db'), '{:.2f}')} dB on the same "
             "frames); copied frames are the source's"]
    if full and full.wall_s:
        d["fraction_of_full_wall"] = copy.wall_s / full.wall_s
        lines.append(f"--copy auto took {copy.wall_s:.2f} s = {copy.wall_s / full.wall_s:.3f} of the full re-encode's "
                     f"{full.wall_s:.2f} s (megacut-{ctx.workers}w); CPU {copy.cpu_s:.1f} s against {full.cpu_s:.1f} s")
    return lines


def moviepy_scaling_notes(results: list[Result], ctx: Context) -> list[str]:
    """The moviepy backend's speed-up from workers, and its ceiling on this machine: a job is a pipeline
    (decoder, Python, encoder) that already keeps more than one core busy with --no-threading."""
    by_name = {r.name: r for r in results if r.valid}
    inline, pooled = by_name.get("megacut-moviepy-inline"), by_name.get("megacut-moviepy")
    if not (inline and pooled and inline.wall_s and pooled.wall_s):
        return []
    busy = inline.cpu_s / inline.wall_s
    cpus = len(os.sched_getaffinity(0))
    pooled.details["speedup_vs_inline"] = inline.wall_s / pooled.wall_s
    pooled.details["inline_cores_busy"] = busy
    return [f"moviepy backend: {ctx.workers} workers {inline.wall_s / pooled.wall_s:.2f}x faster than "
            f"--no-threading ({pooled.wall_s:.2f} s against {inline.wall_s:.2f} s); --no-threading already kept "
            f"{busy:.2f} cores busy (CPU / wall), so on {cpus} CPUs no worker count can make it more than "
            f"{cpus / busy:.2f}x faster"]


def megacut_revision() -> str:
    """The git commit megacut was run from, with ``-dirty`` when its tree has local changes."""
    folder = Path(megacut.__file__).resolve().parent
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=folder, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def machine() -> dict:
    import moviepy

    return {"cpu_count": os.cpu_count(), "cpus_available": len(os.sched_getaffinity(0)),
            "memory_bytes": psutil.virtual_memory().total, "platform": platform.platform(),
            "python": sys.version.split()[0], "ffmpeg": ffmpeg_version(), "ffmpeg_path": ffmpeg_exe(),
            "megacut": megacut.__version__, "megacut_revision": megacut_revision(), "moviepy": moviepy.__version__}


def json_data(results, skipped, ctx: Context, elapsed_s: float) -> dict:
    w = ctx.workload
    return {"machine": machine(), "elapsed_s": round(elapsed_s, 2), "all_valid": all(r.valid for r in results),
            "workload": {"label": w.label, "csv": str(w.csv), "movies": str(w.movies), "scenes": len(w.cuts),
                         "total_s": w.total_s, "output": f"{w.width}x{w.height}", "fps": w.fps_text,
                         "cuts": [asdict(c) for c in w.cuts]},
            "settings": {"video_codec": "libx264", "preset": w.preset, "crf": w.crf, "audio": f"aac {AUDIO_BITRATE}",
                         "megacut_workers_n": ctx.workers, "megacut_encoder_threads": MEGACUT_ENCODER_THREADS,
                         "rss_sample_interval_s": SAMPLE_INTERVAL_S},
            "repeat": ctx.repeat,
            "configurations": [{**asdict(r), "peak_rss_mb": round(r.peak_rss_bytes / 1e6, 1)} for r in results],
            "skipped": skipped}


def chart_font(size: int):
    spec = primary_font(megacut.Settings())
    try:
        return ImageFont.truetype(spec, size)
    except OSError:
        return ImageFont.load_default()


def draw_chart(results: list[Result], path: Path, title: str) -> None:
    """Two bar panels (wall time, peak RSS), one row per configuration; invalid runs in red."""
    label_w, panel_w, row_h, top = 190, 420, 30, 70
    image = Image.new("RGB", (label_w + 2 * panel_w + 60, top + row_h * len(results) + 30), "white")
    draw, font = ImageDraw.Draw(image), chart_font(14)
    draw.text((10, 10), title, fill="black", font=chart_font(16))
    panels = (("wall time (s)", lambda r: r.wall_s, "{:.1f}"),
              ("peak RSS of the process tree (MB)", lambda r: r.peak_rss_bytes / 1e6, "{:.0f}"))
    for p, (name, value, pattern) in enumerate(panels):
        x0 = label_w + p * (panel_w + 30)
        draw.text((x0, 42), name, fill="black", font=font)
        biggest = max((value(r) for r in results), default=0) or 1
        for i, r in enumerate(results):
            y = top + i * row_h
            length = int((panel_w - 70) * value(r) / biggest)
            draw.rectangle((x0, y + 4, x0 + length, y + row_h - 6), fill="#3b6fb6" if r.valid else "#c0392b")
            draw.text((x0 + length + 5, y + 6), pattern.format(value(r)), fill="black", font=font)
    for i, r in enumerate(results):
        draw.text((10, top + i * row_h + 6), r.name + ("" if r.valid else " (invalid)"), fill="black", font=font)
    image.save(path, format="PNG")


# -------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-out"), help="folder for results (default: bench-out)")
    parser.add_argument("--work", type=Path, help="folder for generated sources and runs (default: OUT/work)")
    parser.add_argument("--quick", action="store_true", help="3 scenes of 2 s at 320x180, preset ultrafast")
    parser.add_argument("--workload", choices=("standard", "long", "uniform"), default="standard",
                        help="the generated workload: standard (9 scenes, 60 s of 1280x720, preset medium), "
                             "long (30 scenes of 5 s to 4 min, 20 minutes of 854x480, preset veryfast) or "
                             "uniform (a saga whose sources are the output format: 20 scenes of 20 s to 3 min, "
                             "25 minutes of 854x480 at 23.976 fps, 4 s overlays, preset medium; for --copy)")
    parser.add_argument("--configs", help="comma-separated configurations to run (default: all)")
    parser.add_argument("--csv", type=Path, help="your own scenes CSV (with --movies)")
    parser.add_argument("--movies", type=Path, help="your own movies folder (with --csv)")
    parser.add_argument("--resolution", type=option_type(parse_resolution),
                        help="output size of your own workload (default: what megacut chooses for it)")
    parser.add_argument("--fps", type=option_type(parse_fps), help="output frame rate of your own workload")
    parser.add_argument("--preset", help="x264 preset for every configuration (default: medium; quick: ultrafast)")
    parser.add_argument("--crf", type=int, default=20, help="x264 crf for every configuration (default: 20)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated workload (default: 7)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every configuration; each keeps its "
                        "fastest run (default: 1)")
    parser.add_argument("--run-baseline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if bool(args.csv) != bool(args.movies):
        parser.error("--csv and --movies go together")
    if (args.resolution or args.fps) and not args.csv:
        parser.error("--resolution and --fps are for your own workload (--csv)")
    args.work = args.work or args.out / "work"
    return args


def select(configs: dict, wanted: str | None) -> tuple[dict, dict[str, str]]:
    """The configurations to run, and those skipped with the reason."""
    names = [n.strip() for n in wanted.split(",")] if wanted else list(configs)
    unknown = [n for n in names if n not in configs]
    if unknown:
        usage_error(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(configs)}")
    skipped = {}
    moviepy_configs = [n for n in names if n.startswith("megacut-moviepy")]
    if moviepy_configs and "moviepy" not in megacut_backends():
        for name in moviepy_configs:
            names.remove(name)
            skipped[name] = "`megacut process --help` does not list moviepy among the --backend choices"
    if "megacut-dask-local" in names and importlib.util.find_spec("distributed") is None:
        names.remove("megacut-dask-local")
        skipped["megacut-dask-local"] = "Dask is not installed (pip install \"megacut[cluster]\")"
    return {n: configs[n] for n in configs if n in names}, skipped


def run_one(name: str, run, ctx: Context) -> Result:
    print(f"running {name} ...", flush=True)
    result = run(ctx, name)
    for _ in range(STALL_RETRIES):
        if not result.stalled:
            break
        print(f"  stalled (no CPU for {STALL_S:g} s) and killed; running {name} again", flush=True)
        result = run(ctx, name)
    if result.returncode != 0:
        result.problems.insert(0, f"exit code {result.returncode} (see {result.log})")
    if result.stalled:
        result.problems.insert(0, f"stalled {STALL_RETRIES + 1} times: no CPU used for {STALL_S:g} s")
    result.valid = not result.problems
    print(f"  {result.wall_s:.2f} s wall, {result.cpu_s:.2f} s CPU, {result.peak_rss_bytes / 1e6:.0f} MB, "
          f"load {result.load_before:.1f}, {'valid' if result.valid else 'INVALID: ' + '; '.join(result.problems)}",
          flush=True)
    return result


def best_of(runs: list[Result]) -> Result:
    """The run with the lowest wall time stands for its configuration; valid only if every run was."""
    best = min(runs, key=lambda r: r.wall_s)
    best.problems = [p for r in runs for p in r.problems]
    best.valid = all(r.valid for r in runs)
    best.details["runs"] = [{"wall_s": r.wall_s, "cpu_s": r.cpu_s, "peak_rss_bytes": r.peak_rss_bytes,
                             "load_before": r.load_before, "valid": r.valid} for r in runs]
    return best


def run_all(selected: dict, ctx: Context, repeat: int) -> list[Result]:
    """Every configuration, one at a time; with ``repeat`` > 1, rounds of all of them, best run kept."""
    runs: dict[str, list[Result]] = {name: [] for name in selected}
    for round_ in range(repeat):
        if repeat > 1:
            print(f"round {round_ + 1} of {repeat}", flush=True)
        for name, run in selected.items():
            runs[name].append(run_one(name, run, ctx))
    return [best_of(runs[name]) for name in selected]


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.run_baseline:
        return run_baseline(args.run_baseline)
    started = time.monotonic()
    workers = max(2, len(os.sched_getaffinity(0)))
    selected, skipped = select(configurations(workers), args.configs)
    workload = user_workload(args) if args.csv else generated_workload(args)
    ctx = Context(workload, args.work / f"runs-{workload.label}", workers, max(1, args.repeat))
    print(f"workload: {len(workload.cuts)} scenes, {workload.total_s:.2f} s at {workload.width}x{workload.height} "
          f"{workload.fps_text} fps, libx264 preset {workload.preset} crf {workload.crf}; N = {workers}", flush=True)
    results = run_all(selected, ctx, max(1, args.repeat))
    ratios(results)
    print()
    print(table_text(results))
    print(notes_text(results, skipped, ctx))
    args.out.mkdir(parents=True, exist_ok=True)
    data = json_data(results, skipped, ctx, time.monotonic() - started)
    (args.out / "performance.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    draw_chart(results, args.out / "performance.png",
               f"megacut benchmark: {len(workload.cuts)} scenes, {workload.total_s:.0f} s at "
               f"{workload.width}x{workload.height}, x264 {workload.preset} crf {workload.crf}, {workers} CPUs")
    print(f"results: {args.out / 'performance.json'}, {args.out / 'performance.png'} "
          f"({time.monotonic() - started:.1f} s in all)")
    return 0 if results and all(r.valid for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
