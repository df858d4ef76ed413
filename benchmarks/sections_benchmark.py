"""How fast megacut renders a narrated slide: 30 s of 1080p from a 4000x3000 JPEG and an MP3, on one core.

    python benchmarks/sections_benchmark.py                  # the 30 s 1080p30 section, pinned to one CPU
    python benchmarks/sections_benchmark.py --quick          # a 4 s section at 640x360, a few seconds
    python benchmarks/sections_benchmark.py --repeat 3 --out bench-sections

The photo (4000x3000 JPEG: gradients, shapes and sensor-like noise) and the
narration (29.5 s of 44.1 kHz mono MP3) are generated, seeded, into
``--work``; the spec is one section with 0.5 s of padding. Every
configuration is ``megacut sections SPEC --max-workers 1 --force`` in a fresh
process pinned to one CPU (its workers and ffmpeg inherit the pinning), and
is measured as ``performance_demo.py`` measures: wall time, CPU time of the
process tree, peak summed RSS. Configurations:

    still      the default renderer: the slide encoded as a still (megacut/render/still.py)
    moviepy    --backend moviepy: moviepy draws every frame and pipes it to ffmpeg (the reference)

A run counts only when the video has exactly the planned frames at the
planned size, both tracks last the section's length (within a frame), and the
report says exit code 0. The target (8 s for the full-size section) is
printed against each valid run; ``sections.json`` in ``--out`` keeps the
figures and the machine. Exit code 0 when every run was valid, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from performance_demo import Result, best_of, file_problems, fresh_folder, machine, measure, run_one  # noqa: E402

from megacut.ffmpeg import run_ffmpeg  # noqa: E402
from megacut.mov import read_tracks  # noqa: E402

TARGET_S = 8.0
PADDING_S = 0.5


@dataclass(frozen=True)
class Workload:
    width: int
    height: int
    fps: int
    narration_s: float
    photo_size: tuple[int, int]

    @property
    def duration_s(self) -> float:
        return self.narration_s + PADDING_S

    @property
    def frames(self) -> int:
        return round(self.duration_s * self.fps)


FULL = Workload(1920, 1080, 30, 29.5, (4000, 3000))
QUICK = Workload(640, 360, 30, 3.5, (1600, 1200))


def make_photo(path: Path, size: tuple[int, int], seed: int = 7) -> Path:
    """A photo-like JPEG: a sky-to-ground gradient, soft shapes and fine noise (what a camera gives)."""
    rng = np.random.default_rng(seed)
    width, height = size
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    x = np.linspace(0.0, 1.0, width)[None, :, None]
    sky, ground = np.array([90, 140, 220]), np.array([70, 110, 40])
    rgb = sky * (1 - y) + ground * y + 30 * np.sin(6 * x + 3 * y)
    image = Image.fromarray(rgb.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(120):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(width // 80, width // 8)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 6, (height, width, 1)).astype(np.int16)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def make_narration(path: Path, duration_s: float) -> Path:
    """A speech-like MP3: a voiced tone with syllable-rate loudness changes, over room noise."""
    run_ffmpeg(["-y", "-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency=180:duration={duration_s}",
                "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.02:seed=3:duration={duration_s}",
                "-filter_complex", "[0:a]tremolo=f=4:d=0.8,volume=0.5[v];[v][1:a]amix=inputs=2:normalize=0",
                "-ar", "44100", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "96k", str(path)])
    return path


def prepare(workload: Workload, work: Path) -> Path:
    """The media and the spec, made once per workload and kept in ``work``."""
    folder = work / f"{workload.width}x{workload.height}-{workload.duration_s:g}s"
    spec = folder / "slides.json"
    if spec.is_file():
        return spec
    folder.mkdir(parents=True, exist_ok=True)
    make_photo(folder / "photo.jpg", workload.photo_size)
    make_narration(folder / "voice.mp3", workload.narration_s)
    spec.write_text(json.dumps({
        "output": "slides.mp4", "resolution": f"{workload.width}x{workload.height}", "fps": workload.fps,
        "sections": [{"image": "photo.jpg", "audio": "voice.mp3", "padding": PADDING_S}]}), encoding="utf-8")
    return spec


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """``command`` run with this process tree bound to one CPU (Linux), or as it is elsewhere."""
    if cpu is None:
        return command
    launcher = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.execv(sys.argv[2], sys.argv[2:])"
    return [sys.executable, "-c", launcher, str(cpu), *command]


@dataclass
class Context:
    workload: Workload
    spec: Path
    runs: Path
    cpu: int | None


def run_sections(ctx: Context, name: str, *extra: str) -> Result:
    folder = fresh_folder(ctx.runs / name)
    output = folder / "out"
    command = [sys.executable, "-m", "megacut", "sections", str(ctx.spec), "--output", str(output),
               "--max-workers", "1", "--force", "-q", *extra]
    result = measure(name, pinned(command, ctx.cpu), folder)
    result.problems = output_problems(output, ctx.workload)
    return result


def output_problems(output: Path, workload: Workload) -> list[str]:
    report_path = output / "megacut-report.json"
    if not report_path.is_file():
        return ["no megacut-report.json"]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    if report.get("exit_code") != 0:
        return [f"report exit_code {report.get('exit_code')}"]
    video = output / "slides.mp4"
    problems = file_problems(video, workload.duration_s, workload.width, workload.height)
    if not problems:
        frames = next(t.samples for t in read_tracks(video) if t.handler == "vide")
        if frames != workload.frames:
            problems.append(f"{video.name}: {frames} video frames, planned {workload.frames}")
    return problems


CONFIGS = {"still": lambda ctx, name: run_sections(ctx, name),
           "moviepy": lambda ctx, name: run_sections(ctx, name, "--backend", "moviepy")}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4 s section at 640x360")
    parser.add_argument("--configs", help=f"comma-separated, from {', '.join(CONFIGS)} (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest counts")
    parser.add_argument("--out", type=Path, default=Path("bench-sections"), help="results folder")
    parser.add_argument("--work", type=Path, help="generated media (default: OUT/work)")
    parser.add_argument("--all-cpus", action="store_true", help="do not pin to one CPU")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",")] if args.configs else list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or args.repeat < 1:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}" if unknown else "--repeat must be >= 1")
    args.names = names
    args.work = args.work or args.out / "work"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    workload = QUICK if args.quick else FULL
    pinnable = hasattr(os, "sched_setaffinity") and not args.all_cpus
    cpu = min(os.sched_getaffinity(0)) if pinnable else None
    ctx = Context(workload, prepare(workload, args.work), args.out / "runs", cpu)
    print(f"section: {workload.duration_s:g} s at {workload.width}x{workload.height}, {workload.fps} fps, from a "
          f"{workload.photo_size[0]}x{workload.photo_size[1]} JPEG and an MP3; "
          f"{'pinned to CPU %d' % cpu if cpu is not None else 'all CPUs'}", flush=True)
    results = []
    for name in args.names:
        results.append(best_of([run_one(name, CONFIGS[name], ctx) for _ in range(args.repeat)]))
    head = f"{'configuration':<10} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}  valid  {'load':>5}"
    print(f"\n{head}\n{'-' * len(head)}")
    for r in results:
        print(f"{r.name:<10} {r.wall_s:>8.2f} {r.cpu_s:>8.2f} {r.peak_rss_bytes / 1e6:>12.0f}  "
              f"{'yes' if r.valid else 'NO':<5}  {r.load_before:>5.1f}")
    for r in results:
        for problem in r.problems:
            print(f"INVALID {r.name}: {problem}")
    if not args.quick:
        for r in (r for r in results if r.valid):
            verdict = "met" if r.wall_s <= TARGET_S else "missed"
            print(f"target {TARGET_S:g} s on one core: {r.name} {r.wall_s:.2f} s, {verdict}")
    fast, slow = (next((r for r in results if r.name == n and r.valid), None) for n in ("still", "moviepy"))
    if fast and slow:
        print(f"still encoder: {slow.wall_s / fast.wall_s:.1f}x faster than drawing every frame with moviepy")
    args.out.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "workload": asdict(workload), "pinned_cpu": cpu, "target_s": TARGET_S,
            "elapsed_s": round(time.perf_counter() - started, 2), "all_valid": all(r.valid for r in results),
            "configurations": [asdict(r) for r in results]}
    (args.out / "sections.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    print(f"results: {args.out / 'sections.json'}")
    return 0 if data["all_valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
