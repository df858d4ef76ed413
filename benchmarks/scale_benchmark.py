"""Does megacut stay bounded as the scene count grows? 100 vs 1,000 one-second scenes.

    python benchmarks/scale_benchmark.py [--scenes 100,1000] [--workers 2]

Renders N one-second scenes (tiny 160x90 output, so the run measures megacut,
not the encoder) into 50-second parts (so both runs join parts while others
render) with `megacut process` in a fresh process, sampling the whole
process tree every 50 ms: summed RSS, open file descriptors and the number of
child processes. Target: the 1,000-scene run's peak RSS within 1.2x of the
100-scene run's, and open files and processes the same at any scale.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from megacut.ffmpeg import run_ffmpeg


def make_sources(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in (("Alpha.mp4", "320x180"), ("Beta.mkv", "480x270")):
        run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=120",
                    "-f", "lavfi", "-i", "sine=duration=120", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-y", str(folder / name)])


def write_csv(path: Path, scenes: int) -> None:
    rows = [f"{'Alpha' if i % 2 else 'Beta'},{(i * 7) % 110}.25,{(i * 7) % 110 + 1}.25,Scene {i}"
            for i in range(scenes)]
    path.write_text("movie,start,end,overlay\n" + "\n".join(rows) + "\n", encoding="utf-8")


def sample(proc: psutil.Process) -> tuple[int, int, int]:
    rss = fds = 0
    tree = [proc]
    try:
        tree += proc.children(recursive=True)
    except psutil.Error:
        pass
    for p in tree:
        try:
            rss += p.memory_info().rss
            fds += p.num_fds()
        except psutil.Error:
            continue
    return rss, fds, len(tree) - 1


def run(scenes: int, work: Path, workers: int) -> dict:
    csv = work / f"scenes-{scenes}.csv"
    write_csv(csv, scenes)
    output = work / f"out-{scenes}"
    args = [sys.executable, "-m", "megacut", "process", "--csv", str(csv), "--movies", str(work / "movies"),
            "--output", str(output), "--resolution", "160x90", "--fps", "25", "--preset", "ultrafast",
            "--encoder-threads", "1", "--max-workers", str(workers), "--chunk-duration", "50s", "--force", "-q"]
    started = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    proc = psutil.Process(child.pid)
    peaks = [0, 0, 0]
    while child.poll() is None:
        peaks = [max(a, b) for a, b in zip(peaks, sample(proc))]
        time.sleep(0.05)
    report = json.loads((output / "megacut-report.json").read_text())
    assert child.returncode == 0 and all(s["status"] == "ok" for s in report["scenes"])
    return {"scenes": scenes, "wall_s": round(time.monotonic() - started, 1), "peak_rss_mb": round(peaks[0] / 1e6),
            "report_peak_rss_mb": round(report["peak_rss_bytes"] / 1e6), "peak_open_files": peaks[1],
            "peak_processes": peaks[2]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="100,1000")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    counts = [int(n) for n in args.scenes.split(",")]
    with tempfile.TemporaryDirectory(prefix="megacut-scale-") as tmp:
        work = Path(tmp)
        make_sources(work / "movies")
        results = [run(n, work, args.workers) for n in counts]
    print(f"{'scenes':>7} {'wall s':>7} {'peak RSS MB':>12} {'(report)':>9} {'open files':>11} {'processes':>10}")
    for r in results:
        print(f"{r['scenes']:>7} {r['wall_s']:>7} {r['peak_rss_mb']:>12} {r['report_peak_rss_mb']:>9} "
              f"{r['peak_open_files']:>11} {r['peak_processes']:>10}")
    ratio = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
    print(f"peak RSS {results[-1]['scenes']} vs {results[0]['scenes']} scenes: {ratio:.2f}x (target: at most 1.2x)")
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
