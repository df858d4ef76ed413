"""Render groups of segments: reuse valid ones, run the missing jobs, join each group as it completes.

A group is one output file and its items in order: a part of a scenes plan, or
the video of a sections spec. Output order comes from the groups only: jobs
finish in any order, and a group is joined from its segments in order once
each of its items has ended (rendered, reused or failed). Groups are joined on
a separate thread so workers stay busy meanwhile. Scenes and sections share
this engine, and so the scheduler, cache, cancellation, progress and report.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from megacut.errors import Cancelled, ExitCode, InputError, MegacutError
from megacut.ffmpeg import process_cpu_s
from megacut.files import remove_partials
from megacut.join.assemble import PartInput, assemble_part
from megacut.plan.build import RenderPlan
from megacut.plan.prepare import prepare_plan
from megacut.plan.settings import Settings
from megacut.render.jobs import Text
from megacut.run.cache import SegmentCache
from megacut.run.disk import check_free_space, estimate_bytes
from megacut.run.groups import Group, Item, scene_groups
from megacut.run.monitor import MemoryMonitor
from megacut.run.progress import Progress
from megacut.run.scheduler import JobStatus, Outcome, Scheduler, StopControl
from megacut.run.worker import run_job


@dataclass(frozen=True)
class RunOptions:
    """How to execute a plan (nothing here changes the rendered output); folders as ``str`` or ``Path``."""

    output_dir: Path
    cache_dir: Path | None = None  # default: <output>/.megacut-cache
    executor: str = "process"  # process | thread | inline (--no-threading)
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


ITEM_STATUS = {JobStatus.OK: ItemStatus.OK, JobStatus.FAILED: ItemStatus.FAILED}  # else cancelled


@dataclass
class ItemResult:
    item: Item
    status: ItemStatus
    error: str | None = None
    render_s: float = 0.0
    attempts: int = 0
    retried_after: list = field(default_factory=list)  # why earlier attempts failed


@dataclass
class PartResult:
    part: Group
    status: PartStatus
    path: Path | None = None
    item_ids: list[str] = field(default_factory=list)  # the items it was joined from, in order
    duration_s: float = 0.0
    error: str | None = None


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

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        failed_item = any(r.status == ItemStatus.FAILED for r in self.items.values())
        failed_part = any(p.status in (PartStatus.FAILED, PartStatus.INCOMPLETE) for p in self.parts)
        return ExitCode.FAILED if failed_item or failed_part else ExitCode.OK


class _Run:
    """The state of one render: which items of which group have ended, and how."""

    def __init__(self, groups: list[Group], options: RunOptions, stop: StopControl,
                 on_event: Callable[[str], None] | None):
        self.groups, self.options, self.stop = groups, options, stop
        self.cache = SegmentCache(options.cache_dir or options.output_dir / ".megacut-cache")
        self.items: dict[str, ItemResult] = {}
        self.parts: dict[int, PartResult] = {}
        self.joins: dict[int, Future] = {}
        self.waiting: dict[int, set[str]] = {}  # group -> ids of its items not ended yet
        self.same_key: dict[str, list[tuple[Group, Item]]] = {}  # key -> the items one job renders for
        self.joiner = ThreadPoolExecutor(1, thread_name_prefix="megacut-join")
        self.on_event = on_event or (lambda message: None)

    def classify(self) -> list:
        """Mark unselected and current groups and reusable segments; return the jobs left."""
        jobs = []
        for group in self.groups:
            if not group.selected:
                self.parts[group.number] = PartResult(group, PartStatus.SKIPPED)
                self.items.update({i.id: ItemResult(i, ItemStatus.SKIPPED) for i in group.items})
            elif not self.options.force and self.cache.part_is_current(group.output, [i.key for i in group.items]):
                self.parts[group.number] = PartResult(group, PartStatus.CURRENT, group.output,
                                                      [i.id for i in group.items], group.duration_s)
                self.items.update({i.id: ItemResult(i, ItemStatus.CACHED) for i in group.items})
        for group in (g for g in self.groups if g.number not in self.parts):
            self.waiting[group.number] = set()
            for item in group.items:
                if not self.options.force and self.cache.is_valid(item.key, item.frames, group.format):
                    self.items[item.id] = ItemResult(item, ItemStatus.CACHED)
                    continue
                self.waiting[group.number].add(item.id)
                if item.key in self.same_key:  # an identical item: one render serves both
                    self.same_key[item.key].append((group, item))
                    continue
                self.same_key[item.key] = [(group, item)]
                jobs.append(item.job.at(self.cache.segment_path(item.key), self.cache.work_dir(item.key)))
        return jobs

    def item_ended(self, outcome: Outcome) -> Item:
        """Record the outcome for every item the job rendered; return the first of them."""
        status = ITEM_STATUS.get(outcome.status, ItemStatus.CANCELLED)
        render_s = outcome.result.render_s if outcome.result else 0.0
        rendered_for = self.same_key[outcome.job.key]
        for group, item in rendered_for:
            self.items[item.id] = ItemResult(item, status, outcome.error, render_s, outcome.attempts,
                                             outcome.retried_after)
            self.waiting[group.number].discard(item.id)
            self.join_if_ready(group)
        return rendered_for[0][1]

    def join_if_ready(self, group: Group) -> None:
        if self.waiting.get(group.number) or group.number in self.joins or group.number in self.parts:
            return
        if any(self.items[i.id].status == ItemStatus.CANCELLED for i in group.items):
            self.parts[group.number] = PartResult(group, PartStatus.CANCELLED,
                                                  error="interrupted before all its items ended")
            return
        self.joins[group.number] = self.joiner.submit(self._join, group)

    def _join(self, group: Group) -> None:
        included = [i for i in group.items if self.items[i.id].status in (ItemStatus.OK, ItemStatus.CACHED)]
        failed = [i for i in group.items if self.items[i.id].status == ItemStatus.FAILED]
        if failed and self.options.strict:
            self.parts[group.number] = PartResult(group, PartStatus.FAILED,
                                                  error=f"--strict: {len(failed)} item(s) failed")
            return
        if not included:
            self.parts[group.number] = PartResult(group, PartStatus.FAILED, error="every item of it failed")
            return
        inputs = [PartInput(self.cache.segment_path(i.key), i.frames, i.chapter) for i in included]
        try:
            self.cache.forget_part(group.output)
            assemble_part(inputs, group.output, group.format.fps, title=group.title, cancel=self.stop.cancel)
        except Cancelled:
            self.parts[group.number] = PartResult(group, PartStatus.CANCELLED, error="interrupted while joining")
            return
        except MegacutError as exc:
            self.parts[group.number] = PartResult(group, PartStatus.FAILED, error=str(exc))
            return
        self.cache.record_part(group.output, [i.key for i in included])
        status = PartStatus.INCOMPLETE if failed else PartStatus.WRITTEN
        self.parts[group.number] = PartResult(group, status, group.output, [i.id for i in included],
                                              sum(i.duration_s for i in included),
                                              f"{len(failed)} failed item(s) left out" if failed else None)
        self.on_event(f"{group.output.name}: {status}, {len(included)} item(s)")

    def finish(self) -> list[PartResult]:
        for group in self.groups:
            if group.number in self.waiting:
                self.join_if_ready(group)
        self.joiner.shutdown(wait=True)
        for future in self.joins.values():
            future.result()  # _join records its own failures; anything raised here is a bug
        for group in self.groups:
            if group.number not in self.parts:
                self.parts[group.number] = PartResult(group, PartStatus.CANCELLED,
                                                      error="interrupted before all its items ended")
            for item in group.items:
                self.items.setdefault(item.id, ItemResult(item, ItemStatus.CANCELLED))
        return [self.parts[g.number] for g in self.groups]


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
                  plan: RenderPlan | None = None) -> RunResult:
    """Render every selected group into its output file (the engine under scenes and sections);
    ``plan``, the scenes plan they came from, goes into the result."""
    started, cpu_started = time.monotonic(), process_cpu_s()
    stop = stop or StopControl()
    options.output_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(groups, options, stop, on_event=progress.log if progress else None)
    with run.cache.lock():
        for folder in {g.output.parent for g in groups}:  # a killed run's joins
            remove_partials(folder)
        jobs = run.classify()
        _check_disk(run)
        with MemoryMonitor(limit_bytes=options.memory_limit_bytes) as memory:
            scheduler = Scheduler(kind=options.executor, workers=options.max_workers, retries=options.retries,
                                  clip_cache=options.clip_cache, stop=stop, admit=memory.admit)
            reused = [r for r in run.items.values() if r.status == "cached"]
            if progress and reused:
                progress.reused(sum(r.item.duration_s for r in reused), len(reused))

            def on_outcome(outcome: Outcome) -> None:
                item = run.item_ended(outcome)
                if on_item:
                    on_item(run.items[item.id])
                if progress:
                    took = f" in {outcome.result.render_s:.1f} s" if outcome.result else ""
                    reason = f": {outcome.error}" if outcome.error and outcome.status != JobStatus.OK else ""
                    progress.advance(item.duration_s, failed=outcome.status == JobStatus.FAILED,
                                     running=len(scheduler.running), rss_bytes=memory.current_rss_bytes,
                                     message=f"{item.name} {outcome.status}{took}{reason}")

            try:
                scheduler.run(jobs, run_job, on_outcome)
            finally:
                parts = run.finish()
    return RunResult(plan=plan, options=options, items=run.items, parts=parts,
                     wall_s=time.monotonic() - started, cpu_s=process_cpu_s() - cpu_started,
                     peak_rss_bytes=memory.peak_rss_bytes, workers=scheduler.workers,
                     interrupted=stop.stopping)


def _check_disk(run: _Run) -> None:
    """Free space for the segments to render and the groups to join (per output format)."""
    segment_bytes = part_bytes = 0
    for group in run.groups:
        if group.number in run.parts:
            continue
        rendering = sum(i.frames for i in group.items if i.id in run.waiting.get(group.number, ()))
        segments, parts = estimate_bytes(rendering, group.frames, group.format)
        segment_bytes, part_bytes = segment_bytes + segments, part_bytes + parts
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
