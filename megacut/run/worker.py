"""What runs inside each worker: the initializer, the per-thread source LRUs, and the job entry.

A worker never prints and never decides to stop on its own: it ignores SIGINT
(the terminal sends it to the whole process group; only the parent decides) and
watches the shared cancel Event, which the parent sets on a second Ctrl+C.
A pool's initializer sets the run's Events for the whole process; a cluster
task sets them for its thread (:func:`run_events`), as a cluster worker may
serve more than one run.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import threading
import time
from typing import Any, Callable

from megacut.errors import NotStarted
from megacut.ffmpeg import kill_all_active
from megacut.files import attempt_name
from megacut.render.clips import ClipCache
from megacut.render.jobs import Job, JobResult
from megacut.render.renderers import load_renderer, render_job
from megacut.render.segment import check_cancel

_cancel_event = None  # stage 2 of a stop: running jobs stop at once
_hold_event = None  # stage 1: a job that reaches this worker now does not start
_clip_cache_size = 4
_local = threading.local()  # one ClipCache per thread: a moviepy reader serves one thread at a time
_caches: list["ClipCache"] = []
_caches_lock = threading.Lock()


PARENT_CHECK_S = 0.5  # how soon a worker notices that megacut's main process is gone


def _exit_with_parent(parent_pid: int) -> None:
    """If the main process dies (SIGKILL, crash), stop this worker's ffmpeg and exit: no orphans."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            kill_all_active()
            os._exit(1)


def init_worker(cancel_event, hold_event, clip_cache_size: int, *, in_worker_process: bool = True) -> None:
    """Executor initializer: remember the shared Events (stop now; start nothing new) and the size of this
    process's LRUs."""
    global _cancel_event, _hold_event, _clip_cache_size
    if in_worker_process:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="megacut-parent-watch",
                         daemon=True).start()
        atexit.register(close_clip_caches)
    _cancel_event, _hold_event = cancel_event, hold_event
    _clip_cache_size = clip_cache_size


def cancel_event():
    """The Event that stops the running job at once (the second Ctrl+C), for this thread's run."""
    return getattr(_local, "events", (_cancel_event, _hold_event))[0]


def hold_event():
    """The Event that keeps jobs from starting (the first Ctrl+C), for this thread's run."""
    return getattr(_local, "events", (_cancel_event, _hold_event))[1]


@contextlib.contextmanager
def run_events(cancel, hold):
    """Run a job in this thread with these stop Events (a cluster task: the worker may serve several runs)."""
    _local.events = (cancel, hold)
    try:
        yield
    finally:
        del _local.events


def clip_cache() -> ClipCache:
    """This thread's LRU of opened sources."""
    cache = getattr(_local, "cache", None)
    if cache is None or cache.capacity != _clip_cache_size:
        cache = _local.cache = ClipCache(_clip_cache_size)
        with _caches_lock:
            _caches.append(cache)
    return cache


def close_clip_caches() -> None:
    """Close every source the LRUs of this process hold (the end of a run, or of the worker)."""
    with _caches_lock:
        caches, _caches[:] = list(_caches), []
    for cache in caches:
        cache.clear()
    _local.__dict__.clear()


def warm_up(renderer: str | None = None) -> None:
    """A pool's first task for each worker, which starts it: with ``renderer``, that renderer's code is
    imported now rather than in its first job."""
    if renderer is not None:
        load_renderer(renderer)


def start_job(fn: Callable[[Any], Any], job: Any) -> Any:
    """What the scheduler submits: ``fn(job)``, unless the run began to stop after the job was queued
    (the first Ctrl+C: a job already handed to this worker's queue does not start)."""
    hold = hold_event()
    if hold is not None and hold.is_set():
        raise NotStarted("not started: the run is stopping")
    start = next(_starts)
    _here[start] = job
    try:
        return fn(job)
    finally:
        del _here[start]


_here: dict[int, Any] = {}  # the jobs this process runs now, by start
_starts = itertools.count()


def running_here() -> list[tuple[int, Any]]:
    """(start, job) of each job running in this process now: with --no-threading, the run's own jobs (the
    status shows them; a pool's are seen through their futures)."""
    return list(_here.items())


def run_job(job: Job) -> JobResult:
    """Render a job in this process: stop at once if asked to, else return its result. Each attempt has its
    own scratch folder (an attempt the run gave up on, on a worker thought dead, may still be running)."""
    cancel = cancel_event()
    check_cancel(cancel)
    job = job.at(job.segment_path, job.work_dir.with_name(f"{job.work_dir.name}.{attempt_name()}"))
    return render_job(job, cancel=cancel, clips=clip_cache())
