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
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from megacut.errors import Cancelled, ExitCode, InputError, MegacutError, UsageError
from megacut.ffmpeg import process_cpu_s
from megacut.files import remove_partials
from megacut.join.assemble import PartInput, assemble_part
from megacut.join.audio import PartAudio
from megacut.join.chunks import PartChunks
from megacut.plan.build import RenderPlan
from megacut.plan.prepare import prepare_plan
from megacut.plan.settings import Settings
from megacut.render.jobs import Job, Text
from megacut.render.renderers import sound_alone
from megacut.run.cache import SegmentCache
from megacut.run.disk import check_free_space, need_bytes
from megacut.run.groups import Group, Item, scene_groups, segment_keys
from megacut.run.monitor import MemoryMonitor
from megacut.run.progress import Progress
from megacut.run.scheduler import (
    JobStatus,
    Outcome,
    Scheduler,
    StartedPool,
    StopControl,
    resolve_scheduler,
)
from megacut.run.watch import NO_WATCH, RunWatch
from megacut.run.worker import run_job

log = logging.getLogger(__name__)

# A part's last rounds of jobs (this many per job slot): the segments of its scenes not rendered yet have
# their sound rendered alone for its audio encoder (join/audio.py), which then finishes with its jobs
# instead of starting on the sound of the last ones only once they have all ended in order. Earlier in
# the part the encoder keeps up with the jobs ending in order, and nothing is rendered twice.
AHEAD_ROUNDS = 4


@dataclass(frozen=True)
class RunOptions:
    """How to execute a plan (nothing here changes the rendered output); folders as ``str`` or ``Path``."""

    output_dir: Path
    cache_dir: Path | None = None  # default: <output>/.megacut-cache
    executor: str = "process"  # process | thread | inline (--no-threading) | dask
    scheduler: str | None = None  # with dask: tcp://HOST:PORT or local:N; None: MEGA_CUT_SCHEDULER
    max_workers: int | None = None
    retries: int = 2
    clip_cache: int = 4
    strict: bool = False
    force: bool = False
    memory_limit_bytes: int | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))


class ItemStatus(Text):
    """How an item of a part ended."""

    OK = "ok"  # rendered in this run
    CACHED = "cached"  # its segment was reused
    FAILED = "failed"
    CANCELLED = "cancelled"  # the run stopped before it ended
    SKIPPED = "skipped"  # its part was not selected (--chunks)


class PartStatus(Text):
    """How a part (or a sections video) ended."""

    WRITTEN = "written"
    INCOMPLETE = "incomplete"  # written without its failed items
    CURRENT = "current"  # already written from the same segments: not joined again
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


JOB_STATUS = {JobStatus.OK: ItemStatus.OK, JobStatus.FAILED: ItemStatus.FAILED}  # else cancelled


@dataclass
class SegmentResult:
    """How one job of an item ended: a scene's segment, or the whole item."""

    job_id: str
    key: str
    frames: int
    status: ItemStatus
    error: str | None = None
    render_s: float = 0.0
    cpu_s: float = 0.0
    attempts: int = 0
    retried_after: list = field(default_factory=list)  # why earlier attempts failed
    ended_at_s: float = 0.0  # when it ended, from the start of the run (0: it did not run)
    host: str = ""  # the machine that rendered it (empty: it did not run)


@dataclass
class ItemResult:
    item: Item
    status: ItemStatus
    segments: list[SegmentResult] = field(default_factory=list)  # in order, one per job of the item

    @property
    def error(self) -> str | None:
        return next((s.error for s in self.segments if s.error), None)

    @property
    def render_s(self) -> float:
        return sum(s.render_s for s in self.segments)

    @property
    def attempts(self) -> int:
        return max((s.attempts for s in self.segments), default=0)

    @property
    def retried_after(self) -> list:
        return [reason for s in self.segments for reason in s.retried_after]


def item_status(segments: list[SegmentResult]) -> ItemStatus:
    """An item failed if a segment failed, was cancelled if one was, is ok if one was rendered, else cached."""
    statuses = {s.status for s in segments}
    for status in (ItemStatus.FAILED, ItemStatus.CANCELLED, ItemStatus.OK):
        if status in statuses:
            return status
    return ItemStatus.CACHED


@dataclass
class PartResult:
    part: Group
    status: PartStatus
    path: Path | None = None
    item_ids: list[str] = field(default_factory=list)  # the items it was joined from, in order
    duration_s: float = 0.0
    error: str | None = None
    join_s: float = 0.0  # how long joining it took
    audio_wait_s: float = 0.0  # of which, waiting for its audio encoded while it rendered
    joined_at_s: float = 0.0  # when it was written, from the start of the run
    sounds_alone: int = 0  # segments whose sound its audio encoder had rendered alone, ahead of them


@dataclass
class RunResult:
    plan: RenderPlan | None  # None for sections
    options: RunOptions
    items: dict[str, ItemResult]  # by item id: scenes, slides and title cards
    parts: list[PartResult]
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    workers: int = 1
    interrupted: bool = False
    last_job_ended_s: float = 0.0  # from the start: the run's tail is from here to the last part written
    cluster: str | None = None  # the Dask cluster the jobs ran on, described
    started_at: float = 0.0  # when the run started (time.time()): the "_s" times above count from here

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        failed_item = any(r.status == ItemStatus.FAILED for r in self.items.values())
        failed_part = any(p.status in (PartStatus.FAILED, PartStatus.INCOMPLETE) for p in self.parts)
        return ExitCode.FAILED if failed_item or failed_part else ExitCode.OK


class _Run:
    """The state of one render: which jobs of which item of which group have ended, and how."""

    def __init__(self, groups: list[Group], options: RunOptions, stop: StopControl,
                 on_event: Callable[[str], None] | None, watch: RunWatch = NO_WATCH):
        self.groups, self.options, self.stop, self.watch = groups, options, stop, watch
        self.started_s, self.started_at = time.monotonic(), time.time()
        self.cache = SegmentCache(options.cache_dir or options.output_dir / ".megacut-cache")
        self.items: dict[str, ItemResult] = {}
        self.segments: dict[str, SegmentResult] = {}  # by job id, as jobs end
        self.parts: dict[int, PartResult] = {}
        self.joins: dict[int, Future] = {}
        self.waiting: dict[int, set[str]] = {}  # group -> ids of its jobs not ended yet
        self.same_key: dict[str, list[tuple[Group, Item, Job]]] = {}  # key -> the jobs one render serves
        self.joiner = ThreadPoolExecutor(1, thread_name_prefix="megacut-join")
        self.audio: dict[int, PartAudio] = {}  # group -> its audio encoder, fed as its items end in order
        self.fed: dict[int, int] = {}  # group -> how many of its items went to its audio encoder
        self.heard_ahead: dict[int, set[str]] = {}  # group -> its items whose sound was fed before they ended
        self.no_early_audio: set[int] = set()  # groups whose audio is encoded at the join
        self.sounds_alone: dict[int, int] = {}  # group -> segments whose sound its encoder rendered alone
        self.in_order: dict[int, int] = {}  # group -> how many of its items ended in order (joined ahead)
        self.slots: Callable[[], int] = lambda: 0  # jobs that run at once (known once the scheduler is)
        self.kept_audio: dict[int, Path] = {}  # group -> its audio track kept from a run with the same sound
        self.chunks: dict[int, PartChunks] = {}  # group -> its runs of segments joined ahead, as they end in order
        self.first_segments: dict[int, list[int]] = {}  # group -> the index of each item's first segment
        self.last_job_ended_s = 0.0  # from the start of the run: the tail is from here to the last part written
        self.on_event = on_event or (lambda message: None)

    def classify(self) -> list[Job]:
        """Mark unselected and current groups and reusable segments; return the jobs left."""
        jobs = []
        for group in self.groups:
            if not group.selected:
                self.parts[group.number] = PartResult(group, PartStatus.SKIPPED)
                self.items.update({i.id: ItemResult(i, ItemStatus.SKIPPED) for i in group.items})
            elif not self.options.force and self.cache.part_is_current(group.output, group.keys):
                self.parts[group.number] = PartResult(group, PartStatus.CURRENT, group.output,
                                                      [i.id for i in group.items], group.duration_s)
                self.items.update({i.id: ItemResult(i, ItemStatus.CACHED, cached_segments(i)) for i in group.items})
        for group in (g for g in self.groups if g.number not in self.parts):
            self.waiting[group.number] = set()
            kept = None if self.options.force else self.cache.part_audio(group.output, group.audio_key)
            if kept is not None:
                self.kept_audio[group.number] = kept
            for item in group.items:
                for job in item.jobs:
                    if not self.options.force and self.cache.is_valid(job.key, job.frames, group.format):
                        self.segments[job.id] = SegmentResult(job.id, job.key, job.frames, ItemStatus.CACHED)
                        continue
                    self.waiting[group.number].add(job.id)
                    if job.key in self.same_key:  # an identical segment: one render serves both
                        self.same_key[job.key].append((group, item, job))
                        continue
                    self.same_key[job.key] = [(group, item, job)]
                    jobs.append(job.at(self.cache.segment_path(job.key), self.cache.work_dir(job.key)))
                self.item_if_ended(item)
            self.feed_audio(group)
            self.join_if_ready(group)  # every segment already rendered: joined now, not at the end
        return jobs

    def first_group(self, job: Job) -> int:
        """The number of the first group (numbered in output order) that a job's segment goes into: the
        scheduler runs a group's jobs before the next group's, so groups are joined (and their audio
        encoded) while later ones render."""
        return self.same_key[job.key][0][0].number

    def job_ended(self, outcome: Outcome) -> list[Item]:
        """Record the outcome for every job the render served; return the items it ended."""
        status = JOB_STATUS.get(outcome.status, ItemStatus.CANCELLED)
        result = outcome.result
        ended = []
        for group, item, job in self.same_key[outcome.job.key]:
            self.segments[job.id] = SegmentResult(job.id, job.key, job.frames, status, outcome.error,
                                                  result.render_s if result else 0.0, result.cpu_s if result else 0.0,
                                                  outcome.attempts, outcome.retried_after,
                                                  result.ended_at - self.started_at if result else 0.0,
                                                  result.host if result else "")
            self.waiting[group.number].discard(job.id)
            if self.item_if_ended(item):
                ended.append(item)
                heard = item.id in self.heard_ahead.get(group.number, ())
                if heard and self.items[item.id].status == ItemStatus.FAILED:
                    # its sound is in the part's audio, which it will not be in: encoded at the join instead
                    log.info("%s: %s failed after its sound went to the part's audio; the audio is encoded "
                             "at the join", group.output.name, item.name)
                    self.stop_early_audio(group)
            self.feed_audio(group)
            self.join_if_ready(group)
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
        for group in self.groups:
            if group.number in self.waiting:
                self.feed_audio(group)

    def feed_audio(self, group: Group) -> None:
        """Stream the part's sound to its encoder in part order (join/audio.py), up to the first item not ended
        yet; in the part's last rounds of jobs (``AHEAD_ROUNDS``), past the scenes not ended yet, whose
        segments' sound is rendered alone. Then join ahead what ended in order."""
        position = self.fed.get(group.number, 0)
        ahead = len(self.waiting.get(group.number, ())) <= AHEAD_ROUNDS * self.slots()
        while position < len(group.items) and group.number not in self.no_early_audio:
            item = group.items[position]
            result = self.items.get(item.id)
            alone = [sound_alone(job) for job in item.jobs] if result is None and ahead else []
            if result is None and not (alone and all(alone)):
                break
            if result is not None and (result.status == ItemStatus.CANCELLED
                                       or (result.status == ItemStatus.FAILED and self.options.strict)):
                self.stop_early_audio(group)  # the part will not be joined, or not from these segments
                break
            heard = result is None or result.status in (ItemStatus.OK, ItemStatus.CACHED)
            if heard and group.number not in self.kept_audio:
                if group.number not in self.audio:
                    folder = self.cache.work / f"audio-{group.number}-{group.output.stem}"
                    self.audio[group.number] = PartAudio(folder, group.format, self.stop.cancel)
                for n, job in enumerate(item.jobs):
                    self.audio[group.number].add(self.cache.segment_path(job.key), alone[n] if alone else None)
            if result is None:
                self.heard_ahead.setdefault(group.number, set()).add(item.id)
            position += 1
            self.fed[group.number] = position
        self.join_in_order(group)

    def stop_early_audio(self, group: Group) -> None:
        self.no_early_audio.add(group.number)
        self.close_audio(group)

    def join_in_order(self, group: Group) -> None:
        """Join ahead the segments of the items that ended after every item before them (join/chunks.py)."""
        position = self.in_order.get(group.number, 0)
        while position < len(group.items) and group.items[position].id in self.items:
            if self.items[group.items[position].id].status in (ItemStatus.OK, ItemStatus.CACHED):
                self.join_ahead(group, position)
            position += 1
            self.in_order[group.number] = position

    def join_ahead(self, group: Group, position: int) -> None:
        """The segments of the item at ``position`` ended after every item before it: join them ahead with
        the part's other finished segments (join/chunks.py) while the rest of the part renders."""
        chunks = self.chunks.get(group.number)
        if chunks is None:
            folder = self.cache.work / f"chunks-{group.number}-{group.output.stem}"
            chunks = self.chunks[group.number] = PartChunks(folder, group.format.fps, self.joiner.submit,
                                                            self.stop.cancel)
        first = self.first_segment(group)[position]
        for n, job in enumerate(group.items[position].jobs):
            chunks.add(first + n, self.cache.segment_path(job.key), job.frames,
                       more_to_come=bool(self.waiting.get(group.number)))

    def first_segment(self, group: Group) -> list[int]:
        """The index in the part of each item's first segment."""
        if group.number not in self.first_segments:
            firsts, count = [], 0
            for item in group.items:
                firsts.append(count)
                count += len(item.jobs)
            self.first_segments[group.number] = firsts
        return self.first_segments[group.number]

    def joined_ahead(self, group: Group, included: list[Item]) -> list[tuple[int, int, Path]]:
        """The part's runs of segments joined ahead, as (first, end, file) over the included items' segments."""
        chunks = self.chunks.get(group.number)
        if chunks is None:
            return []
        wanted, index = {item.id for item in included}, {}
        for item, first in zip(group.items, self.first_segment(group)):
            if item.id in wanted:
                for n in range(len(item.jobs)):
                    index[first + n] = len(index)
        return [(index[j.first], index[j.end - 1] + 1, j.path) for j in chunks.joined
                if all(k in index for k in range(j.first, j.end))]

    def close_audio(self, group: Group) -> None:
        audio = self.audio.pop(group.number, None)
        if audio is not None:
            audio.close()

    def part_audio(self, group: Group) -> Path | None:
        """The part's AAC track, kept from an earlier run with the same sound or encoded while it rendered;
        None: the join encodes it then."""
        if self.fed.get(group.number) != len(group.items) or group.number in self.no_early_audio:
            return None
        whole = all(self.items[i.id].status in (ItemStatus.OK, ItemStatus.CACHED) for i in group.items)
        if group.number in self.kept_audio:  # it holds every item's sound: not for a part without one
            return self.kept_audio[group.number] if whole else None
        audio = self.audio.get(group.number)
        if audio is None:
            return None
        try:
            encoded = audio.finish()
            self.sounds_alone[group.number] = audio.rendered_alone
            key = group.audio_key
            return self.cache.keep_part_audio(group.output, key, encoded) if whole and key else encoded
        except Cancelled:
            raise
        except Exception as exc:  # the join encodes the audio itself: slower, never wrong
            log.warning("%s: encoding its audio early failed (%s: %s); encoding it now", group.output.name,
                        type(exc).__name__, exc)
            return None

    def join_if_ready(self, group: Group) -> None:
        if self.waiting.get(group.number) or group.number in self.joins or group.number in self.parts:
            return
        if any(self.items[i.id].status == ItemStatus.CANCELLED for i in group.items):
            self.close_audio(group)
            self.parts[group.number] = PartResult(group, PartStatus.CANCELLED,
                                                  error="interrupted before all its items ended")
            return
        self.joins[group.number] = self.joiner.submit(self._join, group)

    def _join(self, group: Group) -> None:
        try:
            self._join_part(group)
        finally:
            self.close_audio(group)
            self.close_chunks(group)
            self.watch.part_ended(self.parts.get(group.number))

    def close_chunks(self, group: Group) -> None:
        chunks = self.chunks.pop(group.number, None)
        if chunks is not None:
            chunks.close()

    def _join_part(self, group: Group) -> None:
        included = [i for i in group.items if self.items[i.id].status in (ItemStatus.OK, ItemStatus.CACHED)]
        failed = [i for i in group.items if self.items[i.id].status == ItemStatus.FAILED]
        if failed and self.options.strict:
            self.parts[group.number] = PartResult(group, PartStatus.FAILED,
                                                  error=f"--strict: {len(failed)} item(s) failed")
            return
        if not included:
            self.parts[group.number] = PartResult(group, PartStatus.FAILED, error="every item of it failed")
            return
        # A chapter per item: a split scene's later segments continue its chapter.
        inputs = [PartInput(self.cache.segment_path(job.key), job.frames, item.chapter if n == 0 else None)
                  for item in included for n, job in enumerate(item.jobs)]
        started_s = time.monotonic()
        self.watch.part_joining(group)
        try:
            audio = self.part_audio(group)
            audio_wait_s = time.monotonic() - started_s
            self.cache.forget_part(group.output)
            assemble_part(inputs, group.output, group.format.fps, title=group.title, cancel=self.stop.cancel,
                          audio=audio, joined=self.joined_ahead(group, included))
        except Cancelled:
            self.parts[group.number] = PartResult(group, PartStatus.CANCELLED, error="interrupted while joining")
            return
        except MegacutError as exc:
            self.parts[group.number] = PartResult(group, PartStatus.FAILED, error=str(exc))
            return
        self.cache.record_part(group.output, segment_keys(included))
        status = PartStatus.INCOMPLETE if failed else PartStatus.WRITTEN
        self.parts[group.number] = PartResult(group, status, group.output, [i.id for i in included],
                                              sum(i.duration_s for i in included),
                                              f"{len(failed)} failed item(s) left out" if failed else None,
                                              time.monotonic() - started_s, audio_wait_s,
                                              time.monotonic() - self.started_s,
                                              self.sounds_alone.get(group.number, 0))
        self.on_event(f"{group.output.name}: {status}, {len(included)} item(s)")

    def finish(self) -> list[PartResult]:
        for group in self.groups:
            if group.number in self.waiting:
                self.join_if_ready(group)
        self.joiner.shutdown(wait=True)
        for future in self.joins.values():
            future.result()  # _join records its own failures; anything raised here is a bug
        for group in self.groups:
            self.close_audio(group)  # parts interrupted before they could be joined
            self.close_chunks(group)
        for group in self.groups:
            if group.number not in self.parts:
                self.parts[group.number] = PartResult(group, PartStatus.CANCELLED,
                                                      error="interrupted before all its items ended")
            for item in group.items:
                for job in item.jobs:
                    self.segments.setdefault(job.id, SegmentResult(job.id, job.key, job.frames, ItemStatus.CANCELLED))
                self.item_if_ended(item)
        return [self.parts[g.number] for g in self.groups]


def cached_segments(item: Item) -> list[SegmentResult]:
    return [SegmentResult(job.id, job.key, job.frames, ItemStatus.CACHED) for job in item.jobs]


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
        watch.planned(groups, jobs, run.items, run.parts)
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
                     started_at=run.started_at)


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
    segment_bytes, part_bytes = need_bytes(run.groups, lambda group: group.number in run.parts,
                                           lambda group, job: job.id in run.waiting.get(group.number, ()))
    check_free_space(run.cache.root, segment_bytes, run.options.output_dir, part_bytes)


def process(csv_path: str | Path, movies_dir: str | Path, output_dir: str | Path, settings: Settings | None = None,
            options=None, *, on_item=None):
    """Plan and render in one call; raises InputError when a row is invalid (nothing is rendered).

    ``options`` is a :class:`megacut.RunOptions` (its output_dir is replaced by
    ``output_dir``); paths may be ``str`` or ``Path``. Returns the engine's RunResult;
    its ``exit_code`` says how it went.
    """
    plan = prepare_plan(csv_path, movies_dir, settings)
    if plan.errors:
        raise InputError(f"{len(plan.errors)} invalid row(s), nothing rendered:\n" +
                         "\n".join(str(p) for p in plan.errors))
    options = replace(options, output_dir=output_dir) if options else RunOptions(output_dir=output_dir)
    return render_plan(plan, options, on_item=on_item)
