"""Render a plan: reuse valid segments, run the missing scene jobs, join each part as it completes.

Output order comes from the plan only: jobs finish in any order, and a part is
joined from its segments in plan order once each of its scenes has ended
(rendered, reused or failed). Parts are joined on a separate thread so workers
stay busy meanwhile.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .assemble import PartInput, assemble_part
from .cache import SegmentCache
from .disk import check_free_space, estimate_bytes
from .errors import Cancelled, MegacutError
from .monitor import MemoryMonitor
from .plan import Part, RenderPlan, Scene
from .progress import Progress
from .render.jobs import SceneJob
from .scheduler import Outcome, Scheduler, StopControl
from .worker import run_job


@dataclass(frozen=True)
class RunOptions:
    """How to execute a plan (nothing here changes the rendered output)."""

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


@dataclass
class SceneResult:
    scene: Scene
    status: str  # ok | cached | failed | cancelled | skipped
    error: str | None = None
    render_s: float = 0.0
    attempts: int = 0


@dataclass
class PartResult:
    part: Part
    status: str  # written | incomplete | current | failed | cancelled | skipped
    path: Path | None = None
    scene_indices: list[int] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None


@dataclass
class RunResult:
    plan: RenderPlan
    options: RunOptions
    scenes: dict[int, SceneResult]
    parts: list[PartResult]
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    workers: int = 1
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        failed_scene = any(r.status == "failed" for r in self.scenes.values())
        failed_part = any(p.status in ("failed", "incomplete") for p in self.parts)
        return 1 if failed_scene or failed_part else 0


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def chapter_title(scene: Scene) -> str:
    return scene.overlay_lines[0] if scene.overlay_lines else (scene.row.movie or scene.source.path.stem)


class _Run:
    """The state of one render: which scenes of which part have ended, and how."""

    def __init__(self, plan: RenderPlan, options: RunOptions, stop: StopControl,
                 on_event: Callable[[str], None] | None):
        self.plan, self.options, self.stop = plan, options, stop
        self.cache = SegmentCache(options.cache_dir or options.output_dir / ".megacut-cache")
        self.scenes: dict[int, SceneResult] = {}
        self.parts: dict[int, PartResult] = {}
        self.joins: dict[int, Future] = {}
        self.waiting: dict[int, set[int]] = {}  # part -> scene indices not ended yet
        self.same_key: dict[str, list[Scene]] = {}  # key -> the scenes one job renders for
        self.joiner = ThreadPoolExecutor(1, thread_name_prefix="megacut-join")
        self.on_event = on_event or (lambda message: None)

    def classify(self) -> list[SceneJob]:
        """Mark unselected parts, current parts and reusable segments; return the jobs left."""
        jobs = []
        for part in self.plan.parts:
            output = self.options.output_dir / part.filename
            if not part.selected:
                self.parts[part.number] = PartResult(part, "skipped")
                self.scenes.update({s.index: SceneResult(s, "skipped") for s in part.scenes})
            elif not self.options.force and self.cache.part_is_current(part, output):
                self.parts[part.number] = PartResult(part, "current", output, [s.index for s in part.scenes],
                                                     part.duration_s)
                self.scenes.update({s.index: SceneResult(s, "cached") for s in part.scenes})
        todo = [s for p in self.plan.parts if p.number not in self.parts for s in p.scenes]
        valid = set() if self.options.force else self.cache.valid_scenes(todo, self.plan.format)
        for scene in todo:
            self.waiting.setdefault(scene.part, set())
            if scene.key in valid:
                self.scenes[scene.index] = SceneResult(scene, "cached")
                continue
            self.waiting[scene.part].add(scene.index)
            if scene.key in self.same_key:  # an identical row: one render serves both
                self.same_key[scene.key].append(scene)
                continue
            self.same_key[scene.key] = [scene]
            jobs.append(SceneJob(scene=scene, format=self.plan.format, settings=self.plan.settings,
                                 segment_path=self.cache.segment_path(scene), work_dir=self.cache.work_dir(scene)))
        return jobs

    def scene_ended(self, outcome: Outcome) -> None:
        status = {"ok": "ok", "failed": "failed"}.get(outcome.status, "cancelled")
        render_s = outcome.result.render_s if outcome.result else 0.0
        for scene in self.same_key[outcome.job.scene.key]:
            self.scenes[scene.index] = SceneResult(scene, status, outcome.error, render_s, outcome.attempts)
            self.waiting[scene.part].discard(scene.index)
            self.join_if_ready(scene.part)

    def join_if_ready(self, number: int) -> None:
        if self.waiting.get(number) or number in self.joins or number in self.parts:
            return
        part = next(p for p in self.plan.parts if p.number == number)
        statuses = [self.scenes[s.index].status for s in part.scenes]
        if "cancelled" in statuses:
            self.parts[number] = PartResult(part, "cancelled", error="interrupted before all its scenes ended")
            return
        self.joins[number] = self.joiner.submit(self._join, part)

    def _join(self, part: Part) -> None:
        output = self.options.output_dir / part.filename
        included = [s for s in part.scenes if self.scenes[s.index].status in ("ok", "cached")]
        failed = [s for s in part.scenes if self.scenes[s.index].status == "failed"]
        if failed and self.options.strict:
            self.parts[part.number] = PartResult(part, "failed", error=f"--strict: {len(failed)} scene(s) failed")
            return
        if not included:
            self.parts[part.number] = PartResult(part, "failed", error="every scene of the part failed")
            return
        inputs = [PartInput(self.cache.segment_path(s), s.frames, chapter_title(s)) for s in included]
        title = f"{self.plan.csv_path.stem} — part {part.number}"
        try:
            self.cache.forget_part(part)
            assemble_part(inputs, output, self.plan.format.fps, title=title, cancel=self.stop.cancel)
        except Cancelled:
            self.parts[part.number] = PartResult(part, "cancelled", error="interrupted while joining")
            return
        except MegacutError as exc:
            self.parts[part.number] = PartResult(part, "failed", error=str(exc))
            return
        self.cache.record_part(part, output, [s.key for s in included])
        status = "incomplete" if failed else "written"
        self.parts[part.number] = PartResult(part, status, output, [s.index for s in included],
                                             sum(s.duration_s for s in included),
                                             f"{len(failed)} failed scene(s) left out" if failed else None)
        self.on_event(f"{part.filename}: {status}, {len(included)} scene(s)")

    def finish(self) -> list[PartResult]:
        for number in list(self.waiting):
            self.join_if_ready(number)
        self.joiner.shutdown(wait=True)
        for future in self.joins.values():
            future.result()  # _join records its own failures; anything raised here is a bug
        for part in self.plan.parts:
            if part.number not in self.parts:
                self.parts[part.number] = PartResult(part, "cancelled", error="interrupted before all its "
                                                     "scenes ended")
            for scene in part.scenes:
                self.scenes.setdefault(scene.index, SceneResult(scene, "cancelled"))
        return [self.parts[p.number] for p in self.plan.parts]


def render_plan(plan: RenderPlan, options: RunOptions, *, stop: StopControl | None = None,
                progress: Progress | None = None,
                on_scene: Callable[[SceneResult], None] | None = None) -> RunResult:
    """Render every selected part of ``plan`` into ``options.output_dir``.

    ``on_scene`` is called in this process with each scene's result as it ends;
    ``progress`` draws the terminal bar; ``stop`` lets a caller stop the run.
    """
    started, cpu_started = time.monotonic(), _cpu_s()
    stop = stop or StopControl()
    options.output_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(plan, options, stop, on_event=progress.log if progress else None)
    with run.cache.lock():
        for partial in options.output_dir.glob(".mega_cut_part_*.partial.*"):  # a killed run's join
            partial.unlink(missing_ok=True)
        return _render(run, plan, options, stop, progress, on_scene, started, cpu_started)


def _render(run: _Run, plan: RenderPlan, options: RunOptions, stop: StopControl, progress: Progress | None,
            on_scene, started: float, cpu_started: float) -> RunResult:
    jobs = run.classify()
    to_join = [p for p in plan.parts if run.parts.get(p.number) is None]
    segment_bytes, part_bytes = estimate_bytes(sum(j.scene.frames for j in jobs), sum(p.frames for p in to_join),
                                               plan.format)
    check_free_space(run.cache.root, segment_bytes, options.output_dir, part_bytes)
    workers = 1 if options.executor == "inline" else (options.max_workers or None)
    with MemoryMonitor(limit_bytes=options.memory_limit_bytes) as memory:
        scheduler = Scheduler(kind=options.executor, workers=workers, retries=options.retries,
                              clip_cache=options.clip_cache, stop=stop, admit=memory.admit)

        def on_outcome(outcome: Outcome) -> None:
            run.scene_ended(outcome)
            if on_scene:
                on_scene(run.scenes[outcome.job.scene.index])
            if progress:
                scene = outcome.job.scene
                took = f" in {outcome.result.render_s:.1f} s" if outcome.result else ""
                reason = f": {outcome.error}" if outcome.error and outcome.status != "ok" else ""
                progress.advance(scene.duration_s, failed=outcome.status == "failed",
                                 running=len(scheduler.running), rss_bytes=memory.current_rss_bytes,
                                 message=f"{scene.name} {outcome.status}{took}{reason}")

        reused = [r.scene for r in run.scenes.values() if r.status == "cached"]
        if progress and reused:
            progress.reused(sum(s.duration_s for s in reused), len(reused))
        try:
            scheduler.run(jobs, run_job, on_outcome)
        finally:
            parts = run.finish()
    return RunResult(plan=plan, options=options, scenes=run.scenes, parts=parts,
                     wall_s=time.monotonic() - started, cpu_s=_cpu_s() - cpu_started,
                     peak_rss_bytes=memory.peak_rss_bytes, workers=scheduler.workers,
                     interrupted=stop.stopping)
