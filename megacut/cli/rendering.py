"""Running the engine from a command: execution options, the two-stage Ctrl+C, the progress bar,
the report file and the summary."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from megacut.errors import UsageError
from megacut.plan.scenes import Problem


def executor_kind(args: argparse.Namespace) -> str:
    return "inline" if args.no_threading else args.executor


@contextlib.contextmanager
def started_pool(args: argparse.Namespace, settings, renderer: str):
    """The run's process pool, started now so that its workers start (import megacut and ``renderer``)
    while this process plans the run; None for other executors and --dry-run. Closed on the way out."""
    if executor_kind(args) != "process" or getattr(args, "dry_run", False):
        yield None
        return
    from megacut.run.scheduler import StopControl, start_pool

    pixels = settings.resolution[0] * settings.resolution[1] if settings.resolution else None
    workers = args.max_workers or default_worker_count(pixels, args.encoder_threads)
    pool = start_pool(workers, StopControl(), getattr(args, "clip_cache", None) or 4, renderer)
    try:
        yield pool
    finally:
        pool.close()


def render(groups, output: Path, args: argparse.Namespace, *, noun: str, plan=None, pool=None):
    """Run the engine on ``groups`` (of the scenes ``plan``, if any) with the command line's execution
    options and Ctrl+C handling; ``pool``, the process pool :func:`started_pool` started for it."""
    from megacut.cli.status import live_status
    from megacut.run.engine import RunOptions, render_groups
    from megacut.run.progress import Progress
    from megacut.run.scheduler import StopControl

    executor = executor_kind(args)
    scheduler = cluster_address(args, executor)
    workers = args.max_workers or default_worker_count(largest_pixels(groups), args.encoder_threads)
    if args.max_workers and executor in ("process", "thread"):
        warning = oversubscription_warning(args.max_workers, args.encoder_threads, groups)
        print_problems([Problem(warning, severity="warning")] if warning else [])
    options = RunOptions(output_dir=output, cache_dir=args.cache_dir or None,
                         executor=executor, scheduler=scheduler, max_workers=workers, retries=args.retries,
                         clip_cache=getattr(args, "clip_cache", RunOptions.clip_cache),
                         strict=args.strict, force=args.force, memory_limit_bytes=args.memory_limit,
                         quiet=args.quiet)
    selected = [g for g in groups if g.selected]
    total_s = sum(g.duration_s for g in selected)
    progress = Progress(total_s, quiet=args.quiet)
    stop = pool.stop if pool is not None else StopControl()
    where = {"inline": "1 worker", "dask": "on the cluster"}.get(executor, f"{workers} worker(s)")
    progress.log(f"rendering {len(selected)} file(s) of {sum(len(g.items) for g in selected)} {noun}(s), "
                 f"{total_s:.0f} s of output, {where}")
    title = str(plan.csv_path) if plan is not None else " ".join(getattr(args, "specs", ()))
    command = "process" if plan is not None else "sections"
    live = live_status(args, output, stop, progress, executor, command, title)  # the status file (and page)
    with _stop_on_signals(stop, progress), live as status:
        try:
            result = render_groups(groups, options, stop=stop, progress=progress, plan=plan, pool=pool, watch=status)
            status.ended(result)
            return result
        finally:
            progress.close()


def cluster_address(args: argparse.Namespace, executor: str) -> str | None:
    """--scheduler, else MEGA_CUT_SCHEDULER; required by --executor dask, refused without it."""
    from megacut.run.scheduler import resolve_scheduler

    if executor != "dask":
        if getattr(args, "scheduler", None) and executor != "inline":
            raise UsageError("--scheduler is for --executor dask; add that, or leave --scheduler out")
        return None
    return resolve_scheduler(args.scheduler)


def largest_pixels(groups) -> int | None:
    return max((g.format.width * g.format.height for g in groups), default=None)


def default_worker_count(pixels: int | None, encoder_threads: int) -> int:
    """Enough jobs to keep every CPU busy without oversubscribing it: CPUs / encoder threads per job
    (a second job per core adds memory, not speed), fewer when memory is short for jobs of pictures of
    ``pixels`` pixels (None: not known yet, 1080p assumed)."""
    from megacut.run.monitor import job_memory_bytes, workers_for_memory
    from megacut.run.scheduler import default_workers

    wanted = max(1, default_workers() // max(1, encoder_threads))
    return workers_for_memory(wanted, job_memory_bytes(pixels or 1920 * 1080))


def print_problems(problems) -> None:
    """Problems found before rendering, on stderr, one a line."""
    for problem in problems:
        print(f"megacut: {problem}", file=sys.stderr, flush=True)


def oversubscription_warning(workers: int, encoder_threads: int, groups) -> str | None:
    """What to say when ``workers`` jobs of ``encoder_threads`` threads each are more than the CPUs can run."""
    from megacut.run.scheduler import default_workers

    cpus, threads = default_workers(), workers * encoder_threads
    if workers == 1 or threads <= cpus:
        return None
    return (f"--max-workers {workers} × --encoder-threads {encoder_threads} = {threads} encoder threads on {cpus} "
            "CPUs: the jobs only take turns on them, so the extra workers cost memory (each holds its frames "
            "and encoder) without adding speed; leave --max-workers out to get the default "
            f"({default_worker_count(largest_pixels(groups), encoder_threads)})")


def finish_run(result, output: Path, more_reports: list[Path] = ()) -> int:
    from megacut.cli.report import summary_text

    print(summary_text(result))
    for report in (output / "megacut-report.json", *more_reports):
        print(f"  report: {report}")
    return result.exit_code


class _stop_on_signals:
    """First Ctrl+C: finish running scenes and join complete parts. Second, or SIGTERM: stop now."""

    def __init__(self, stop, progress):
        self.stop, self.progress = stop, progress
        self.previous = {}

    def _on_sigint(self, signum, frame) -> None:
        if self.stop.request() == 1:
            self.progress.log("stopping: running scenes will finish and complete parts will be joined; "
                              "press Ctrl+C again to stop at once", always=True)
        else:
            self.progress.log("stopping now", always=True)

    def _on_sigterm(self, signum, frame) -> None:
        self.stop.request()
        self.stop.request()

    def __enter__(self):
        self.previous = {signal.SIGINT: signal.signal(signal.SIGINT, self._on_sigint),
                         signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_sigterm)}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
