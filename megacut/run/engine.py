"""Render groups of segments: reuse valid ones, run the missing jobs, join each group as it completes.

A group is one output file and its items in order: a part of a scenes plan, or
the video of a sections spec. Output order comes from the groups only: jobs
finish in any order, and a group is joined from its segments in order once
each of its items has ended (rendered, reused or failed). Groups are joined on
a separate thread so workers stay busy meanwhile. Scenes and sections share
this engine, and so the scheduler, cache, cancellation, progress and report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

from megacut.errors import InputError, UsageError
from megacut.ffmpeg import process_cpu_s
from megacut.files import remove_partials
from megacut.plan.build import RenderPlan
from megacut.plan.prepare import prepare_plan
from megacut.plan.settings import Settings
from megacut.render.jobs import Job
from megacut.run.cache import SegmentCache
from megacut.run.disk import check_free_space, need_bytes
from megacut.run.groups import Group, Item, scene_groups
from megacut.run.levels import SourceLevels
from megacut.run.monitor import MemoryMonitor
from megacut.run.options import RunOptions
from megacut.run.part import AHEAD_ROUNDS, PartState  # noqa: F401  (AHEAD_ROUNDS: the scaling model's)
from megacut.run.progress import Progress
from megacut.run.results import (  # noqa: F401  (the results, importable from here as before)
    JOB_STATUS,
    ItemResult,
    ItemStatus,
    PartResult,
    PartStatus,
    RunResult,
    SegmentResult,
    cached_segments,
    item_status,
)
from megacut.run.scheduler import JobStatus, Outcome, Scheduler, StartedPool, StopControl, resolve_scheduler
from megacut.run.watch import NO_WATCH, RunWatch
from megacut.run.worker import run_job

log = logging.getLogger(__name__)


class _Run:
    """The state of one render: the results of its jobs and items, and each part that renders (run/part.py)
    with its own state; the engine moves between the parts as jobs end."""

    def __init__(self, groups: list[Group], options: RunOptions, stop: StopControl,
                 on_event: Callable[[str], None] | None, watch: RunWatch = NO_WATCH):
        self.groups, self.options, self.stop, self.watch = groups, options, stop, watch
        self.started_s, self.started_at = time.monotonic(), time.time()
        self.cache = SegmentCache(options.cache_dir or options.output_dir / ".megacut-cache")
        self.items: dict[str, ItemResult] = {}
        self.segments: dict[str, SegmentResult] = {}  # by job id, as jobs end
        self.done: dict[int, PartResult] = {}  # group -> how it ended without rendering: skipped or current
        self.parts: dict[int, PartState] = {}  # group -> the part that renders in this run
        self.same_key: dict[str, list[tuple[PartState, Item, Job]]] = {}  # key -> the jobs one render serves
        self.joiner = ThreadPoolExecutor(1, thread_name_prefix="megacut-join")
        # the loudness of the sources: measured beside the renders, on one thread per four job slots
        self.levels = SourceLevels(self.cache.root / "loudness", _target(groups),
                                   max(1, (options.max_workers or os.cpu_count() or 1) // 4), stop.cancel)
        self.slots: Callable[[], int] = lambda: 0  # jobs that run at once (known once the scheduler is)
        self.last_job_ended_s = 0.0  # from the start of the run: the tail is from here to the last part written
        self.on_event = on_event or (lambda message: None)

    def classify(self) -> list[Job]:
        """Mark unselected and current groups and reusable segments; return the jobs left."""
        jobs = []
        for group in self.groups:
            if not group.selected:
                self.done[group.number] = PartResult(group, PartStatus.SKIPPED)
                self.items.update({i.id: ItemResult(i, ItemStatus.SKIPPED) for i in group.items})
            elif not self.options.force and self.cache.part_is_current(
                    group.output, group.keys, group.join_key):
                self.done[group.number] = PartResult(group, PartStatus.CURRENT, group.output,
                                                     [i.id for i in group.items], group.duration_s)
                self.items.update({i.id: ItemResult(i, ItemStatus.CACHED, cached_segments(i)) for i in group.items})
        for group in (g for g in self.groups if g.number not in self.done):
            kept = None if self.options.force else self.cache.part_audio(group.output, group.audio_key)
            part = self.parts[group.number] = PartState(group, self, kept)
            for item in group.items:  # measured if the part's sound is encoded, else read if it was
                if item.level:
                    self.levels.want(item.level, item.origin, group.format.channels, measure=kept is None)
            for item in group.items:
                for job in item.jobs:
                    if not self.options.force and self.cache.is_valid(job.key, job.frames, group.format):
                        self.segments[job.id] = SegmentResult(job.id, job.key, job.frames, ItemStatus.CACHED)
                        continue
                    part.waiting.add(job.id)
                    if job.key in self.same_key:  # an identical segment: one render serves both
                        self.same_key[job.key].append((part, item, job))
                        continue
                    self.same_key[job.key] = [(part, item, job)]
                    jobs.append(job.at(self.cache.segment_path(job.key), self.cache.work_dir(job.key)))
                self.item_if_ended(item)
        return jobs

    def first_group(self, job: Job) -> int:
        """The number of the first group (numbered in output order) that a job's segment goes into: the
        scheduler runs a group's jobs before the next group's, so groups are joined (and their audio
        encoded) while later ones render."""
        return self.same_key[job.key][0][0].group.number

    def job_ended(self, outcome: Outcome) -> list[Item]:
        """Record the outcome for every job the render served; return the items it ended."""
        status = JOB_STATUS.get(outcome.status, ItemStatus.CANCELLED)
        result = outcome.result
        ended = []
        for part, item, job in self.same_key[outcome.job.key]:
            self.segments[job.id] = SegmentResult(job.id, job.key, job.frames, status, outcome.error,
                                                  result.render_s if result else 0.0, result.cpu_s if result else 0.0,
                                                  outcome.attempts, outcome.retried_after,
                                                  result.ended_at - self.started_at if result else 0.0,
                                                  result.host if result else "")
            part.waiting.discard(job.id)
            if self.item_if_ended(item):
                ended.append(item)
                part.item_ended(item)
            part.advance()
        return ended

    def item_if_ended(self, item: Item) -> bool:
        """Record ``item``'s result once every one of its jobs has ended; whether it just did."""
        if item.id in self.items or any(job.id not in self.segments for job in item.jobs):
            return False
        segments = [self.segments[job.id] for job in item.jobs]
        self.items[item.id] = ItemResult(item, item_status(segments), segments)
        return True

    def feed_all(self) -> None:
        """Feed every part's audio as far as it goes now (once the run's job slots are known)."""
        for part in self.parts.values():
            part.advance()

    def finish(self) -> list[PartResult]:
        for part in self.parts.values():
            part.join_if_ready()
        self.joiner.shutdown(wait=True)
        self.levels.close()
        for part in self.parts.values():
            if part.join is not None:
                part.join.result()  # the join records its own failures; anything raised here is a bug
            part.close_audio()  # parts interrupted before they could be joined
            part.close_chunks()
        results = []
        for group in self.groups:
            part = self.parts.get(group.number)
            result = self.done.get(group.number) or (part.result if part else None)
            results.append(result or PartResult(group, PartStatus.CANCELLED,
                                                error="interrupted before all its items ended"))
            for item in group.items:
                for job in item.jobs:
                    self.segments.setdefault(job.id, SegmentResult(job.id, job.key, job.frames, ItemStatus.CANCELLED))
                self.item_if_ended(item)
        return results


def _target(groups: list[Group]) -> float | None:
    """The loudness target of the run's parts (the same for all: one plan's settings)."""
    return next((g.loudness for g in groups if g.loudness is not None), None)


def render_plan(plan: RenderPlan, options: RunOptions, *, stop: StopControl | None = None,
                progress: Progress | None = None,
                on_item: Callable[[ItemResult], None] | None = None) -> RunResult:
    """Render every selected part of ``plan`` into ``options.output_dir``.

    ``on_item`` is called in this process with each item's result as it ends;
    ``progress`` draws the terminal bar; ``stop`` lets a caller stop the run.
    """
    return render_groups(scene_groups(plan, options.output_dir), options, stop=stop, progress=progress,
                         on_item=on_item, plan=plan)


def render_groups(groups: list[Group], options: RunOptions, *, stop: StopControl | None = None,
                  progress: Progress | None = None, on_item: Callable[[ItemResult], None] | None = None,
                  plan: RenderPlan | None = None, pool: StartedPool | None = None,
                  watch: RunWatch = NO_WATCH) -> RunResult:
    """Render every selected group into its output file (the engine under scenes and sections);
    ``plan``, the scenes plan they came from, goes into the result; ``pool``, a process pool started
    while the groups were planned (used if it has the run's workers and ``stop``; the caller closes it);
    ``watch`` hears the run's events (run/watch.py)."""
    started, cpu_started = time.monotonic(), process_cpu_s()
    stop = stop or StopControl()
    options.output_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(groups, options, stop, on_event=progress.log if progress else None, watch=watch)
    with run.cache.lock():
        for folder in {g.output.parent for g in groups}:  # a killed run's joins
            remove_partials(folder)
        jobs = run.classify()
        watch.planned(groups, jobs, run.items, run.done)
        run.feed_all()  # a part whose every segment is already rendered: joined now, not at the end
        _check_disk(run)
        parts = None
        try:
            with _cluster(options, run, jobs, progress) as cluster, \
                    MemoryMonitor(limit_bytes=options.memory_limit_bytes) as memory:
                # every segment reused: nothing to run, no cluster started
                kind = "inline" if options.executor == "dask" and cluster is None else options.executor
                scheduler = Scheduler(kind=kind, workers=options.max_workers, retries=options.retries,
                                      clip_cache=options.clip_cache, stop=stop, admit=memory.admit, cluster=cluster,
                                      cache_root=run.cache.root, pool=pool)
                run.slots = lambda: scheduler.workers
                watch.scheduling(scheduler, memory, cluster)
                run.feed_all()  # a part with its last rounds of jobs only: its sound is rendered from the start
                described = cluster.describe() if cluster else None
                if progress:
                    cached = {s.job_id for r in run.items.values() for s in r.segments
                              if s.status == ItemStatus.CACHED}
                    cached |= {s.job_id for s in run.segments.values() if s.status == ItemStatus.CACHED}
                    reused = [(g.format, job) for g in groups for i in g.items for job in i.jobs
                              if job.id in cached]
                    if reused:
                        progress.reused(sum(fmt.seconds_for(job.frames) for fmt, job in reused), len(reused))

                def on_outcome(outcome: Outcome) -> None:
                    run.last_job_ended_s = time.monotonic() - run.started_s
                    watch.job_ended(outcome)
                    for item in run.job_ended(outcome):
                        if on_item:
                            on_item(run.items[item.id])
                    if progress:
                        job = outcome.job
                        took = f" in {outcome.result.render_s:.1f} s" if outcome.result else ""
                        reason = f": {outcome.error}" if outcome.error and outcome.status != JobStatus.OK else ""
                        progress.advance(job.format.seconds_for(job.frames), outcome.status,
                                         running=scheduler.running_count, rss_bytes=memory.current_rss_bytes,
                                         message=f"{job.name} {outcome.status}{took}{reason}")

                try:
                    scheduler.run(jobs, run_job, on_outcome, batch=run.first_group)
                finally:
                    parts = run.finish()
        finally:
            if parts is None:  # the cluster failed or was refused before the first job: joins already
                run.finish()  # started from reused segments end before the error goes up
        remote = cluster is not None and not cluster.is_local
    # This process, its ffmpeg and a local cluster's workers (reaped when it closed); a remote cluster's
    # workers report each job's CPU time.
    cpu_s = process_cpu_s() - cpu_started + (sum(s.cpu_s for s in run.segments.values()) if remote else 0.0)
    return RunResult(plan=plan, options=options, items=run.items, parts=parts,
                     wall_s=time.monotonic() - started, cpu_s=cpu_s,
                     peak_rss_bytes=memory.peak_rss_bytes, workers=scheduler.workers,
                     interrupted=stop.stopping, last_job_ended_s=run.last_job_ended_s, cluster=described,
                     started_at=run.started_at, levels={key: run.levels.level(key) for key in run.levels.levels})


@contextlib.contextmanager
def _cluster(options: RunOptions, run: _Run, jobs: list[Job], progress: Progress | None):
    """With ``--executor dask``: the cluster, checked before the first job; else None."""
    if options.executor != "dask":
        yield None
        return
    address = resolve_scheduler(options.scheduler)
    try:
        from megacut.run.cluster import Cluster, check_workers
    except ImportError as exc:
        raise UsageError(f"--executor dask needs Dask ({exc}): pip install \"megacut[cluster]\"") from None
    if not jobs:  # every segment is reused: no cluster to start
        yield None
        return
    with Cluster(address) as cluster:
        check_workers(cluster, jobs, run.cache.root)
        if progress:
            progress.log(cluster.describe())
        yield cluster


def _check_disk(run: _Run) -> None:
    """Free space for the segments to render and the groups to join (per output format)."""
    segment_bytes, part_bytes = need_bytes(run.groups, lambda group: group.number not in run.parts,
                                           lambda group, job: job.id in run.parts[group.number].waiting)
    check_free_space(run.cache.root, segment_bytes, run.options.output_dir, part_bytes)


def process(csv_path: str | Path, movies_dir: str | Path, output_dir: str | Path, settings: Settings | None = None,
            options=None, *, on_item=None):
    """Plan and render in one call; raises InputError when a row is invalid (nothing is rendered).

    ``options`` is a :class:`megacut.RunOptions` (its output_dir is replaced by
    ``output_dir``); paths may be ``str`` or ``Path``. Returns the engine's RunResult;
    its ``exit_code`` says how it went.
    """
    options = replace(options, output_dir=output_dir) if options else RunOptions(output_dir=output_dir)
    plan = prepare_plan(csv_path, movies_dir, settings, options.cache_dir or options.output_dir / ".megacut-cache")
    if plan.errors:
        raise InputError(f"{len(plan.errors)} invalid row(s), nothing rendered:\n" +
                         "\n".join(str(p) for p in plan.errors))
    return render_plan(plan, options, on_item=on_item)
