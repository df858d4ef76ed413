"""How long planning takes: a CSV of 10,000 rows over 20 sources, each source probed once.

    python benchmarks/plan_benchmark.py [--rows 10000] [--sources 20] [--repeat 3]

Generates 20 small sources (movies and episodes, found by exact, loose and
episode-code lookup) in a temporary folder, writes the CSV, then times
``megacut.prepare_plan`` (read, look up, probe, plan) and counts the probes,
and times the whole ``megacut plan`` command (the plan, its jobs and keys for
the disk estimate, the table). Target: the command in under 1 second.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import megacut.plan.probe as probe
from megacut import prepare_plan
from megacut.cli import main as megacut_main
from megacut.ffmpeg import run_ffmpeg


def make_sources(folder: Path, count: int) -> list[tuple[str, str]]:
    """Write ``count`` 20 s sources; return (movie column, season_episode column) per source."""
    names = []
    for i in range(count):
        if i % 4 == 3:
            rel, movie, episode = f"Show {i}/Season 1/Show {i} - S01E{i:02d}.mkv", f"Show {i}", f"1x{i:02d}"
        else:
            rel, movie, episode = f"Movie {i}: Part {i} (20{i:02d}).mp4", f"Movie {i}: Part {i}", ""
        path = folder / rel.replace(":", "")
        path.parent.mkdir(parents=True, exist_ok=True)
        run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=20",
                    "-f", "lavfi", "-i", "sine=duration=20", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-y", str(path)])
        names.append((movie, episode))
    return names


def write_csv(path: Path, names: list[tuple[str, str]], rows: int) -> None:
    rng = random.Random(1)
    lines = ["movie,start,end,overlay,season_episode,language"]
    for i in range(rows):
        movie, episode = names[i % len(names)]
        start = rng.uniform(0, 18)
        lines.append(f'"{movie}",{start:.3f},{start + rng.uniform(0.2, 1.9):.3f},Year {i},{episode},en')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    probes = []
    original = probe.probe_source

    def counting_probe(path):
        probes.append(Path(path))
        return original(path)

    probe.probe_source = counting_probe
    with tempfile.TemporaryDirectory(prefix="megacut-plan-bench-") as tmp:
        folder = Path(tmp)
        names = make_sources(folder / "movies", args.sources)
        csv_path = folder / "scenes.csv"
        write_csv(csv_path, names, args.rows)
        timings = []
        for _ in range(args.repeat):
            probes.clear()
            started = time.perf_counter()
            plan = prepare_plan(csv_path, folder / "movies")
            timings.append(time.perf_counter() - started)
        assert not plan.errors, plan.errors[:3]
        assert len(plan.scenes) == args.rows
        probe_count, distinct = len(probes), len(set(probes))  # of the last prepare_plan
        probed_once = probe_count == distinct == args.sources
        command = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                code = megacut_main(["plan", "--csv", str(csv_path), "--movies", str(folder / "movies")])
            command.append(time.perf_counter() - started)
            assert code == 0 and "disk: about" in printed.getvalue(), printed.getvalue()[-500:]
    print(f"{args.rows} rows over {args.sources} sources: {len(plan.parts)} part(s), {len(plan.scenes)} scenes")
    print(f"probes per plan: {probe_count} ({distinct} distinct)")
    print(f"prepare_plan: median {statistics.median(timings):.3f} s, best {min(timings):.3f} s "
          f"over {args.repeat} runs")
    print(f"megacut plan: median {statistics.median(command):.3f} s, best {min(command):.3f} s "
          f"over {args.repeat} runs (target: under 1 s)")
    return 0 if probed_once else 1


if __name__ == "__main__":
    sys.exit(main())
