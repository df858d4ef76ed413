"""Run jobs on an executor: in part order with the longest of the next few first, bounded submission, retries,
two-stage stop.

Data flow::

    jobs (part order) ──▶ Pending: in order, the longest of the next four per worker first (expected
        │                 CPU time: cost × CPU s per cost learned from ended jobs of the same source)
        │  submit while in flight < limit         (never thousands of queued futures)
        ▼
    executor: process pool | thread pool | inline (--no-threading) | Dask cluster (megacut.run.cluster)
        │  concurrent.futures.wait(FIRST_COMPLETED, timeout=TICK_S)
        ▼
    Outcome per job ──▶ on_outcome(outcome), in the parent, as each one ends
        ok | failed (after retries, with the reason) | cancelled | not started

The scheduler talks to the executor through the ``concurrent.futures`` interface
(submit, wait, shutdown); a cluster executor adds how many job slots it has now
(workers join and leave) and how many times a worker started a job (Dask reruns
a job whose worker died).
A worker that dies (``BrokenProcessPool``) is a normal event: the pool is
rebuilt and the jobs it held are retried. Stopping has two stages: ``drain``
(no new job starts; running ones finish) and the shared cancel Event (running
jobs stop at once; workers see it through their initializer).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import signal
import threading
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable

from megacut.errors import Cancelled, MegacutError, NotStarted, UsageError
from megacut.render.jobs import Text
from megacut.run.controls import follow_workers
from megacut.run.worker import close_clip_caches, init_worker, start_job, warm_up

log = logging.getLogger(__name__)

EXECUTOR_KINDS = ("process", "thread", "inline", "dask")
# Futures in flight on a cluster, per job slot: 2 hide the network round trip between a job ending and
# the next one being submitted. A pool here keeps one job queued beyond its workers: the fewer jobs are
# handed out early, the later (and better informed) the choice of the next one.
IN_FLIGHT_PER_SLOT = 2
# Jobs the next one is chosen from (the longest of them), per worker: the last jobs of a part are balanced
# over the cores, while its segments still end roughly in order, so its audio is encoded and its video
# joined ahead as it renders (with one worker: the jobs go in order).
WINDOW_PER_WORKER = 4


def job_window(workers: int, per_worker: int = WINDOW_PER_WORKER) -> int:
    """How many jobs, from the first one left, the next job is chosen from (one worker: the next in order)."""
    return per_worker * workers if workers > 1 else 1

TICK_S = 0.25  # how often the loop wakes to look at stop requests and memory
WORKER_DIED = "its worker process died (killed, crashed or out of memory)"


class WorkerLost(Exception):
    """A cluster gave up on a job: its worker died while it ran, ``times`` times (``started`` of which with
    the job running, as far as the client heard)."""

    def __init__(self, times: int, started: int):
        self.times, self.started = times, started
        super().__init__(f"its worker died {times} time(s) (killed, crashed or out of memory)")


def mp_context():
    """spawn everywhere: no fork-inherited locks or threads (the memory sampler runs in the parent)."""
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def children_ignore_sigint():
    """Worker processes started meanwhile ignore SIGINT from their start (the terminal sends Ctrl+C to the
    whole process group; only megacut's main process decides what it means), even before their first
    line of megacut runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class StartedPool:
    """A process pool whose workers are all started: they import megacut and the renderer while the caller
    goes on (plans the run), so its first jobs start as soon as they are submitted."""

    executor: ProcessPoolExecutor
    workers: int
    stop: "StopControl"
    clip_cache: int

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def start_pool(workers: int, stop: "StopControl", clip_cache: int = 4, renderer: str | None = None) -> StartedPool:
    """Start a process pool of ``workers`` workers now (``renderer``: the one its jobs will use, imported
    by each worker as it starts)."""
    executor = ProcessPoolExecutor(workers, mp_context=mp_context(), initializer=init_worker,
                                   initargs=(stop.cancel, stop.hold, clip_cache))
    with children_ignore_sigint():
        for _ in range(workers):  # a submit with no idle worker starts one
            executor.submit(warm_up, renderer)
    return StartedPool(executor, workers, stop, clip_cache)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


LOCAL = "local:"  # --scheduler local:N, a local Dask cluster of N worker processes
SCHEDULER_ENV = "MEGA_CUT_SCHEDULER"


def parse_scheduler(text: str, option: str = "--scheduler") -> str:
    """``tcp://HOST:PORT`` (also tls://, ws://; a bare HOST:PORT means tcp://) or ``local:N``; ``option``
    names where the value came from, for the message."""
    value = text.strip()
    if value.startswith(LOCAL):
        count = value[len(LOCAL):]
        if count.isdigit() and 1 <= int(count) <= 256:
            return f"{LOCAL}{int(count)}"
        raise UsageError(f"{option} {text}: local:N needs a worker count N from 1 to 256, e.g. local:8")
    if re.fullmatch(r"(tcp|tls|ws|wss)://[^\s/]+:\d+", value):
        return value
    if re.fullmatch(r"[\w.-]+:\d+", value):
        return f"tcp://{value}"
    raise UsageError(f"{option} {text}: give the address of a running `dask scheduler` (tcp://HOST:8786), "
                     "or local:N for N worker processes on this machine")


def resolve_scheduler(value: str | None) -> str:
    """The Dask scheduler of ``--executor dask``: ``value`` (--scheduler), else MEGA_CUT_SCHEDULER; checked."""
    if value:
        return parse_scheduler(value)
    if os.environ.get(SCHEDULER_ENV):
        return parse_scheduler(os.environ[SCHEDULER_ENV], SCHEDULER_ENV)
    raise UsageError(f"--executor dask needs --scheduler tcp://HOST:8786 (a running `dask scheduler`) or "
                     f"local:N (N worker processes here), or {SCHEDULER_ENV} set")


class InlineExecutor(Executor):
    """Runs each job in the calling thread at submit time (``--no-threading``: debuggers work)."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as executors do
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future


class JobStatus(Text):
    """How a job ended."""

    OK = "ok"
    FAILED = "failed"  # after its retries, with the reason
    CANCELLED = "cancelled"  # stopped while running (second Ctrl+C, SIGTERM)
    NOT_STARTED = "not-started"  # never started: the run stopped first


@dataclass
class Outcome:
    job: Any
    status: JobStatus
    result: Any = None
    error: str | None = None
    attempts: int = 0
    retried_after: list = field(default_factory=list)  # why each earlier attempt failed


@dataclass
class StopControl:
    """Two-stage stop shared by the signal handlers and the scheduler."""

    cancel: Any = field(default_factory=lambda: mp_context().Event())  # stage 2: stop running jobs now
    drain: threading.Event = field(default_factory=threading.Event)  # stage 1: start nothing new
    # Stage 1 as workers see it: a job already handed to a worker's queue does not start either.
    hold: Any = field(default_factory=lambda: mp_context().Event())
    pause: threading.Event = field(default_factory=threading.Event)  # start nothing until cleared (controls.py)
    workers: int | None = None  # the workers asked for while the run goes on (controls.py); None: as started

    @property
    def stopping(self) -> bool:
        return self.drain.is_set() or self.cancel.is_set()

    def request(self) -> int:
        """One more stop request (a Ctrl+C): returns the stage now in force."""
        if not self.drain.is_set():
            self.drain.set()
            self.hold.set()
            return 1
        self.cancel.set()
        return 2


class Pending:
    """The jobs not submitted yet, in the given order (a part's items in order, its parts in order: each
    part is joined, and its audio encoded as its items end in order, while later ones render), with
    the longest of the next ``window`` jobs first (``batch``: a job's part; the window does not reach
    into the next part). The longest by expected CPU time: a job's ``cost`` (its frames) times the CPU
    seconds per unit of cost of the ended jobs of its ``cost_class`` (a scene's source), or of all
    ended jobs for a class not seen yet (before any job ends: the longest by cost). With a window of a
    few jobs per worker, the last jobs of a part go longest first, so the cheap ones fill the cores at
    the end, while no job waits for more than a window of later ones. Retries run next."""

    def __init__(self, jobs: list, cost: Callable[[Any], float], batch: Callable[[Any], Any] | None = None,
                 window: int = 1):
        self.cost = cost
        self.window = window
        self.retries: list = []
        batch = batch or (lambda job: 0)
        self.batches: dict[Any, list] = {}  # batch -> its (position, job) in the given order
        for position, job in enumerate(jobs):
            self.batches.setdefault(batch(job), []).append((position, job))
        self.batches = dict(sorted(self.batches.items(), key=lambda pair: pair[0]))
        self.spent: dict[Any, list[float]] = {}  # class -> [CPU seconds, cost] of its jobs that ended
        self.total = [0.0, 0.0]  # of all ended jobs

    def __bool__(self) -> bool:
        return bool(self.retries) or bool(self.batches)

    def rate(self, cls: Any) -> float:
        """CPU seconds per unit of cost expected of a job of class ``cls``."""
        cpu_s, cost = self.spent.get(cls) or self.total
        return cpu_s / cost if cpu_s > 0 and cost > 0 else 1.0

    def expected(self, job: Any) -> float:
        return self.cost(job) * self.rate(getattr(job, "cost_class", None))

    def _longest(self) -> tuple[list, int]:
        """(the first batch's jobs, the index of the longest of them within ``window`` positions of the
        first one left; the first of equals). The first one left is taken at the latest when every
        other job of its window has been, so no job waits for more than a window of later ones."""
        jobs = next(iter(self.batches.values()))
        end = jobs[0][0] + max(1, self.window)
        best, best_time = 0, None
        for index, (position, job) in enumerate(jobs):
            if position >= end:
                break
            expected = self.expected(job)
            if best_time is None or expected > best_time:
                best, best_time = index, expected
        return jobs, best

    def peek(self) -> Any:
        if self.retries:
            return self.retries[-1]
        jobs, index = self._longest()
        return jobs[index][1]

    def pop(self) -> Any:
        if self.retries:
            return self.retries.pop()
        jobs, index = self._longest()
        _, job = jobs.pop(index)
        if not jobs:
            del self.batches[next(iter(self.batches))]
        return job

    def retry(self, job: Any) -> None:
        self.retries.append(job)

    def ended(self, job: Any, cpu_s: float | None) -> None:
        """Learn from a job that ended with ``cpu_s`` CPU seconds (None: not measured)."""
        cost = self.cost(job)
        if cpu_s and cpu_s > 0 and cost > 0:
            for spent in (self.spent.setdefault(getattr(job, "cost_class", None), [0.0, 0.0]), self.total):
                spent[0] += cpu_s
                spent[1] += cost


@dataclass
class _RunState:
    pending: Pending
    attempts: dict = field(default_factory=dict)  # job id -> times submitted
    failures: dict = field(default_factory=dict)  # job id -> failures charged to the job itself
    suspects: set = field(default_factory=set)  # ids of jobs that were in flight when a worker died
    retried_after: dict = field(default_factory=dict)  # job id -> why its earlier attempts failed
    isolated_running: bool = False
    outcomes: list = field(default_factory=list)
    reruns: dict = field(default_factory=dict)  # job id -> starts the executor made on its own (Dask)

    def attempts_of(self, job_id: str) -> int:
        return self.attempts.get(job_id, 0) + self.reruns.get(job_id, 0)


def failure_reason(job: Any, exc: Exception) -> str:
    """The reason a job failed, for the report. megacut's own errors are their message; anything else is a
    bug worth its traceback, which goes to the log (``--log-file``; the terminal with ``--verbose``)."""
    if isinstance(exc, MegacutError):
        return str(exc)
    log.info("%s: unexpected %s", job.name, type(exc).__name__, exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


class Scheduler:
    def __init__(self, *, kind: str = "process", workers: int | None = None, retries: int = 2,
                 clip_cache: int = 4, stop: StopControl | None = None,
                 admit: Callable[[], bool] | None = None, cluster=None, cache_root=None,
                 pool: StartedPool | None = None):
        if kind not in EXECUTOR_KINDS:
            raise ValueError(f"executor kind must be one of {EXECUTOR_KINDS}")
        if kind == "dask" and cluster is None:
            raise ValueError("the dask executor needs a connected megacut.run.cluster.Cluster")
        self.kind = kind
        self.cluster, self.cache_root = cluster, cache_root
        self.workers = 1 if kind == "inline" else (workers or default_workers())
        self.retries = retries
        self.clip_cache = clip_cache
        self.stop = stop or StopControl()
        self.admit = admit or (lambda: True)  # memory backpressure: False holds new submissions
        self.running: dict[Future, tuple[Any, int]] = {}
        self.pool = pool  # started before the run (while it was planned): used if it fits

    @property
    def running_count(self) -> int:
        """Jobs running now: those in flight, at most one per worker (the others wait in a queue)."""
        if self.kind == "dask":  # its futures say when a worker started them (a start may be heard before
            # the end of the job it follows: never more than the slots)
            return min(sum(1 for future in list(self.running) if future.running()), self.workers)
        return min(len(self.running), self.workers)

    def _limit(self, executor: Executor) -> int:
        """Futures in flight: one per worker and one queued; two per job slot of a cluster (one slot per
        cluster worker thread, read again now)."""
        if self.kind == "inline":
            return 1
        if self.kind == "dask":
            self.workers = executor.capacity() or self.workers
            return self.workers * IN_FLIGHT_PER_SLOT
        return self.workers + 1

    def _make_executor(self) -> Executor:
        if self.kind == "dask":
            return self.cluster.executor(self.stop, self.clip_cache, self.cache_root)
        if self.kind == "process":
            pool, self.pool = self.pool, None
            if pool is not None:
                if pool.workers == self.workers and pool.stop is self.stop and pool.clip_cache == self.clip_cache:
                    return pool.executor
                pool.executor.shutdown(wait=False, cancel_futures=True)  # started for other settings
            return start_pool(self.workers, self.stop, self.clip_cache).executor
        init_worker(self.stop.cancel, self.stop.hold, self.clip_cache, in_worker_process=False)
        if self.kind == "thread":
            return ThreadPoolExecutor(self.workers, thread_name_prefix="megacut-job")
        return InlineExecutor()

    def run(self, jobs: list, fn: Callable, on_outcome: Callable[[Outcome], None],
            cost: Callable[[Any], float] = lambda job: getattr(job, "cost", 0),
            batch: Callable[[Any], Any] | None = None) -> list[Outcome]:
        """Run ``fn(job)`` for every job, in the given order with the longest of the next few first, a
        ``batch`` (a part) before the next (see Pending); call ``on_outcome`` as each ends; return all
        outcomes."""
        state = _RunState(Pending(jobs, cost, batch))
        executor = self._make_executor()

        def finish(outcome: Outcome) -> None:
            outcome.retried_after = state.retried_after.get(outcome.job.id, [])
            state.outcomes.append(outcome)
            on_outcome(outcome)

        def retry_or_fail(job: Any, reason: str) -> None:
            if state.failures.get(job.id, 0) <= self.retries and not self.stop.stopping:
                state.retried_after.setdefault(job.id, []).append(reason)
                state.pending.retry(job)  # next to run
            elif self.stop.cancel.is_set():
                finish(Outcome(job, JobStatus.CANCELLED, error=reason, attempts=state.attempts_of(job.id)))
            else:
                finish(Outcome(job, JobStatus.FAILED, error=reason, attempts=state.attempts_of(job.id)))

        try:
            while state.pending or self.running:
                executor, limit = follow_workers(self, executor, self._limit(executor))
                self._submit_ready(executor, fn, state, limit)
                if self.stop.stopping:
                    for future in [f for f in self.running if f.cancel()]:  # queued, not started: withdraw
                        job, _ = self.running.pop(future)
                        finish(Outcome(job, JobStatus.NOT_STARTED, attempts=state.attempts_of(job.id)))
                    if not self.running:
                        break
                done, _ = wait(list(self.running), timeout=TICK_S, return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    job, alone = self.running.pop(future)
                    state.isolated_running = state.isolated_running and not alone
                    self._count_reruns(executor, job, state)
                    try:
                        result = future.result()
                    except NotStarted:
                        if not self.stop.stopping:  # paused as it reached its worker: it starts on resume
                            state.attempts[job.id] -= 1
                            state.pending.retry(job)
                            continue
                        finish(Outcome(job, JobStatus.NOT_STARTED, attempts=state.attempts_of(job.id) - 1))
                    except Cancelled as exc:
                        finish(Outcome(job, JobStatus.CANCELLED, error=str(exc), attempts=state.attempts_of(job.id)))
                    except BrokenProcessPool:
                        broken = True
                        self._charge_break(job, alone, state, retry_or_fail)
                    except WorkerLost as exc:
                        self._charge_loss(job, exc, state, retry_or_fail, finish)
                    except Exception as exc:  # a failed job is a result with its reason, never the run's end
                        state.failures[job.id] = state.failures.get(job.id, 0) + 1
                        retry_or_fail(job, failure_reason(job, exc))
                    else:
                        state.pending.ended(job, getattr(result, "cpu_s", None))
                        finish(Outcome(job, JobStatus.OK, result=result, attempts=state.attempts_of(job.id)))
                if broken:
                    for future, (job, alone) in list(self.running.items()):
                        self.running.pop(future)
                        self._charge_break(job, alone, state, retry_or_fail)
                    state.isolated_running = False
                    executor.shutdown(wait=True, cancel_futures=True)
                    executor = self._make_executor()
        finally:
            self._shutdown(executor)
        while state.pending:
            job = state.pending.pop()
            finish(Outcome(job, JobStatus.NOT_STARTED, attempts=state.attempts_of(job.id)))
        return state.outcomes

    def _submit_ready(self, executor: Executor, fn: Callable, state: "_RunState", limit: int) -> None:
        """Fill the executor up to ``limit``; a job under suspicion runs alone."""
        # Backpressure holds extra jobs while memory is short, never the only one: with nothing running,
        # waiting could not free anything.
        while (state.pending and len(self.running) < limit and not self.stop.stopping
               and not self.stop.pause.is_set() and (not self.running or self.admit())):
            if state.isolated_running:
                return
            state.pending.window = job_window(self.workers)
            job = state.pending.peek()
            isolate = job.id in state.suspects
            if isolate and self.running:
                return  # wait for the others to end, then run it alone
            state.pending.pop()
            state.attempts[job.id] = state.attempts.get(job.id, 0) + 1
            self.running[executor.submit(start_job, fn, job)] = (job, isolate)
            state.isolated_running = isolate

    def _charge_break(self, job: Any, ran_alone: bool, state: "_RunState", retry_or_fail) -> None:
        """A worker died: a job that ran alone is to blame; jobs that shared the pool run alone next."""
        if ran_alone:
            state.failures[job.id] = state.failures.get(job.id, 0) + 1
        state.suspects.add(job.id)
        retry_or_fail(job, WORKER_DIED)

    def _count_reruns(self, executor: Executor, job: Any, state: "_RunState") -> None:
        """A cluster reruns a job whose worker died on its own: count those starts, and say why."""
        starts = executor.attempts(job.id) if hasattr(executor, "attempts") else 1
        if starts > 1:
            state.reruns[job.id] = state.reruns.get(job.id, 0) + starts - 1
            state.retried_after.setdefault(job.id, []).extend([WORKER_DIED] * (starts - 1))

    def _charge_loss(self, job: Any, lost: "WorkerLost", state: "_RunState", retry_or_fail, finish) -> None:
        """The cluster gave up on a job whose worker kept dying. Its reruns are counted already; a job that
        died with its worker more than once is the cause and fails now; one that was only queued on a
        dying worker, or started once, runs again."""
        if lost.started >= 2:
            finish(Outcome(job, JobStatus.FAILED, error=str(lost), attempts=state.attempts_of(job.id)))
            return
        if lost.started:
            state.failures[job.id] = state.failures.get(job.id, 0) + 1
        retry_or_fail(job, str(lost))

    def _shutdown(self, executor: Executor) -> None:
        if self.running and not self.stop.cancel.is_set():
            # leaving with jobs still running (an error in on_outcome, say): stop them
            self.stop.cancel.set()
        executor.shutdown(wait=True, cancel_futures=True)
        self.running.clear()
        if self.kind in ("thread", "inline"):
            close_clip_caches()  # threads and inline jobs opened their sources in this process
