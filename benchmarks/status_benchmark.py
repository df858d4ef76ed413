"""What the live status costs on a big plan: the size of megacut-status.json and the time to write it.

    python benchmarks/status_benchmark.py [--rows 10000] [--sources 20] [--workers 8]

Plans a CSV of ``--rows`` rows over ``--sources`` generated sources (as
plan_benchmark.py does), then plays the run's events into the status writer
without rendering: every job ends in order, ``--workers`` at a time, one in 50
failing, and the file is written after each round as the status thread would
(at most once a second). It prints the file's size at the start, midway and at
the end, and the time one write takes (serialising and writing; median and
worst), which at one write a second is the share of one CPU the status costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_benchmark import make_sources, write_csv  # noqa: E402

from megacut import prepare_plan  # noqa: E402
from megacut.render.jobs import JobResult  # noqa: E402
from megacut.run.groups import scene_groups  # noqa: E402
from megacut.run.scheduler import JobStatus, Outcome, StopControl  # noqa: E402
from megacut.status.live import RunStatus  # noqa: E402


class FakeScheduler:
    """What the status reads of a scheduler: its jobs in flight."""

    kind = "process"

    def __init__(self, workers: int):
        self.workers = self.pool_size = workers
        self.running: dict = {}


class FakeFuture:
    def running(self) -> bool:
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="megacut-status-bench-") as tmp:
        folder = Path(tmp)
        names = make_sources(folder / "movies", args.sources)
        write_csv(folder / "scenes.csv", names, args.rows)
        plan = prepare_plan(folder / "scenes.csv", folder / "movies")
        output = folder / "out"
        output.mkdir()
        groups = scene_groups(plan, output)
        jobs = [job for group in groups for item in group.items for job in item.jobs]
        status = RunStatus(output, command="process", executor="process", stop=StopControl(), title="bench")
        scheduler = FakeScheduler(args.workers)
        status.planned(groups, jobs, {}, {})
        status.scheduling(scheduler, None, None)
        times, sizes, ticks, events = [], {}, [], []

        def write(label: str | None = None) -> None:
            started = time.thread_time()
            status.tick()  # what the status thread does four times a second: controls, jobs in flight, rate
            ticks.append(time.thread_time() - started)
            started = time.thread_time()
            status.write()
            times.append(time.thread_time() - started)
            if label:
                sizes[label] = status.path.stat().st_size

        write("start")
        for first in range(0, len(jobs), args.workers):
            batch = jobs[first:first + args.workers]
            scheduler.running = {FakeFuture(): (job, False) for job in batch}
            started = time.thread_time()
            status.tick()
            ticks.append(time.thread_time() - started)
            started = time.thread_time()
            for n, job in enumerate(batch):
                if (first + n) % 50 == 49:
                    outcome = Outcome(job, JobStatus.FAILED, error=f"ffmpeg failed with exit code 1\n[in#0] error {n}",
                                      attempts=3)
                else:
                    outcome = Outcome(job, JobStatus.OK, JobResult(job.id, job.key, Path(), 1.5, 1.4, host="h1"),
                                      attempts=1)
                status.job_ended(outcome)
            events.append((time.thread_time() - started) / len(batch))
            write("midway" if first <= len(jobs) // 2 < first + args.workers else None)
        scheduler.running = {}
        for group in groups:
            status.part_joining(group)
        write("end")
    rounds = len(times)
    print(f"{args.rows} rows, {len(groups)} part(s), {len(jobs)} job(s), {rounds} writes")
    print("status file: " + ", ".join(f"{label} {size / 1000:.0f} kB" for label, size in sizes.items()))
    median, worst, tick = statistics.median(times), max(times), statistics.median(ticks)
    event = statistics.median(events)
    print(f"one write: median {median * 1000:.1f} ms, worst {worst * 1000:.1f} ms; one tick (4 a second) "
          f"{tick * 1000:.2f} ms; one job's end {event * 1e6:.0f} µs")
    busy = median + 4 * tick  # a second of the status thread at its busiest: a write and four ticks
    print(f"the status at most: {busy * 100:.2f}% of one CPU, {busy * 100 / args.workers:.3f}% of a "
          f"{args.workers}-worker run's CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
