"""megacut's jobs on a Dask cluster (``--executor dask``): the adapter between the scheduler and
``distributed``, and the checks made before the first job.

Dask's own ``client.get_executor()`` is not a drop-in for the process pool: its
futures never report "running", cancelling a running one does not stop it,
workers never run megacut's initializer, and a resubmitted failure returns the
cached error. This module owns the difference:

- every attempt is a task with a fresh key (``pure=False``): a retry really reruns;
- a task says on the run's event topic when it starts: its future reports
  running, and attempts are counted, Dask's own reruns after a worker died included;
- a worker plugin does what the pool's initializer does: SIGINT ignored, the
  run's stop flags, the clip LRUs closed at teardown, and the ffmpeg processes
  and partial files a killed worker of this machine left in the cache cleared
  when its replacement starts;
- the first Ctrl+C sets the run's hold Event on the Dask scheduler, which every
  task reads before it starts; the second also sets the cancel flag of every
  worker at once (a broadcast), which stops running ffmpeg;
- a task that killed its worker each time Dask ran it (``KilledWorker``) ends as
  "its worker died N times"; a task that was only queued beside it is rerun;
- the jobs in flight follow the cluster's worker threads, read again as
  workers join or leave.

Everything a worker runs lives in this installed module (Dask pickles functions
by reference). Only the client holds the cache lock; workers write segments
under partial names that carry their host and process id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import secrets
import signal
import threading
import time
import uuid
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import dask
import distributed
import psutil
from distributed.comm import get_address_host
from distributed.diagnostics.plugin import WorkerPlugin

from megacut.errors import ClusterError
from megacut.ffmpeg import ffmpeg_digest, ffmpeg_exe
from megacut.files import host_name, partial_owner, remove_partials_of
from megacut.plan.fonts import BUILTIN, font_identities
from megacut.render.jobs import Job, SceneJob, StillJob
from megacut.run import worker as job_worker
from megacut.run.cache import SegmentCache
from megacut.run.scheduler import (
    LOCAL,
    WorkerLost,
    children_ignore_sigint,
    parse_scheduler,
)
from megacut.version import __version__

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 20
# A local cluster's settings (docs/clusters.md gives them for a cluster of machines):
# one task per worker thread, never a second queued behind it (a worker that dies takes only its own job
# down); no statistical profiler sampling every worker's threads 100 times a second, and the event loops'
# diagnostics (a tick every 20 ms, a system sample every 500 ms) less often: CPU the jobs can use.
LOCAL_CLUSTER_CONFIG = {"distributed.scheduler.worker-saturation": 1.0, "distributed.worker.profile.enabled": False,
                        "distributed.admin.tick.interval": "1s", "distributed.admin.system-monitor.interval": "5s"}
CAPACITY_REFRESH_S = 1.0  # how often the client asks the cluster how many worker threads it has


class Cluster:
    """A client of a running Dask scheduler, or of a local cluster of worker processes started for the run."""

    def __init__(self, address: str):
        self.address = parse_scheduler(address)
        self.local = None
        self.client = None

    @property
    def is_local(self) -> bool:
        return self.local is not None

    def __enter__(self) -> "Cluster":
        if self.address.startswith(LOCAL):
            with dask.config.set(LOCAL_CLUSTER_CONFIG), children_ignore_sigint():
                # memory_limit=0: megacut's own monitor counts the workers' ffmpeg too, which Dask's does not
                self.local = distributed.LocalCluster(
                    n_workers=int(self.address[len(LOCAL):]), threads_per_worker=1, processes=True,
                    memory_limit=0, dashboard_address=":0",  # any free port: another cluster may run here
                    silence_logs=logging.ERROR)
            self.client = distributed.Client(self.local, set_as_default=False)
            return self
        try:
            self.client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {self.address} ({exc}); start one with "
                               "`dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`, or give "
                               "--scheduler local:N") from None
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.client.close()
        except Exception as error:  # the scheduler is already gone: nothing is left to close there
            log.warning("closing the connection to %s: %s: %s", self.address, type(error).__name__, error)
        if self.local is not None:
            self.local.close()

    def slots(self) -> dict[str, int]:
        """Worker address -> threads: one job runs per worker thread."""
        return dict(self.client.nthreads())

    @property
    def dashboard(self) -> str | None:
        """The scheduler's dashboard address, or None when it serves none (bokeh is not installed there)."""
        info = self.client.scheduler_info()
        port = info.get("services", {}).get("dashboard")  # the scheduler's web server: pages need bokeh
        host = get_address_host(info["address"]) if info.get("address") else None
        try:
            pages = self.client.run_on_scheduler(_serves_dashboard)
        except Exception:  # an older scheduler that refuses it: say nothing rather than something wrong
            pages = False
        return f"http://{host}:{port}/status" if port and host and pages else None

    def describe(self) -> str:
        """One line for the progress log: where the cluster is, its workers and hosts, its dashboard."""
        slots = self.slots()
        hosts = {get_address_host(address) for address in slots}
        where = f"a local cluster ({self.client.scheduler.address})" if self.is_local else self.address
        dashboard = self.dashboard
        return (f"Dask {where}: {len(slots)} worker(s), {sum(slots.values())} job slot(s) on {len(hosts)} "
                f"host(s)" + (f"; dashboard {dashboard}" if dashboard else ""))

    def executor(self, stop, clip_cache: int, cache_root: Path) -> "ClusterExecutor":
        return ClusterExecutor(self, stop, clip_cache, cache_root)


def _serves_dashboard(dask_scheduler=None) -> bool:
    """Run on the scheduler: whether its web server has the dashboard's pages (bokeh is installed there)."""
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


# ---- checks before the first job -------------------------------------------------------------------------------

def job_inputs(jobs: list[Job]) -> list[Path]:
    """Every file the jobs read: source movies, slide pictures, narration and fonts."""
    paths: set[str] = set()
    drawn: set[tuple] = set()  # (texts, settings): the fonts of each looked up once
    for job in jobs:
        if isinstance(job, SceneJob):
            paths.add(str(job.scene.source.path))
            drawn.add((tuple(job.scene.overlay_lines), job.settings))
        elif isinstance(job, StillJob):
            paths.update(str(p) for p in (job.still.image, job.still.audio) if p is not None)
            drawn.add(((job.still.text,), job.settings))
    for texts, settings in drawn:
        paths.update(spec for spec, *_ in font_identities(texts, settings) if spec != BUILTIN)
    return [Path(p) for p in sorted(paths)]


def versions() -> dict[str, str]:
    """What must be the same on every machine of a run."""
    import imageio_ffmpeg

    return {"megacut": __version__, "Python": platform.python_version(),
            "imageio-ffmpeg": imageio_ffmpeg.__version__, "ffmpeg binary (SHA-256)": ffmpeg_digest()}


def worker_facts(token_file: str, inputs: list[str]) -> dict:
    """Run on every worker: its host, versions, the cache token it reads and the size of each input it sees."""
    try:
        token = Path(token_file).read_text(encoding="utf-8")
    except OSError:
        token = None
    sizes = {}
    for path in inputs:
        try:
            sizes[path] = os.stat(path).st_size
        except OSError:
            sizes[path] = None
    return {"host": host_name(), "versions": versions(), "ffmpeg": ffmpeg_exe(), "token": token, "sizes": sizes}


def worker_problems(facts: dict, expected: dict[str, str], token: str, sizes: dict[str, int],
                    cache_root: Path) -> list[str]:
    """What a worker lacks to render this run, in words; empty when it has everything."""
    problems = [f"{name} {facts['versions'].get(name)} (here: {value})"
                for name, value in expected.items() if facts["versions"].get(name) != value]
    if problems:
        problems = ["runs " + ", ".join(problems) + f" at {facts['ffmpeg']}"]
    if facts["token"] != token:
        problems.append(f"does not see the cache folder {cache_root} as the same shared folder (a file written "
                        "there here is not there for it)")
    unseen = [p for p, size in sizes.items() if facts["sizes"].get(p) is None]
    changed = [p for p, size in sizes.items() if facts["sizes"].get(p) not in (None, size)]
    for what, paths in (("cannot see", unseen), ("sees another size of", changed)):
        if paths:
            more = f" (and {len(paths) - 1} more input file(s))" if len(paths) > 1 else ""
            problems.append(f"{what} {paths[0]}{more}")
    return problems


def check_workers(cluster: Cluster, jobs: list[Job], cache_root: Path) -> None:
    """Refuse the run (ClusterError, exit 2) unless every worker has the same megacut, Python, imageio-ffmpeg
    and ffmpeg binary as this machine, sees every input at the same path with the same size, and shares the
    cache folder."""
    if not cluster.slots():
        raise ClusterError(f"the Dask scheduler at {cluster.address} has no workers; start some with "
                           f"`dask worker {cluster.address} --nthreads 1`")
    token = secrets.token_hex(16)
    token_file = cache_root / "work" / f"cluster-check-{host_name()}-{os.getpid()}"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token, encoding="utf-8")
    sizes = {str(p): p.stat().st_size for p in job_inputs(jobs)}
    try:
        answers = cluster.client.run(worker_facts, str(token_file), list(sizes), on_error="return")
    finally:
        token_file.unlink(missing_ok=True)
    expected = versions()
    refused, failing = [], set()
    for address, facts in sorted(answers.items()):
        if isinstance(facts, BaseException):
            refused.append(f"worker {address}: could not run megacut's check ({type(facts).__name__}: {facts}); "
                           "is megacut installed there?")
            failing.add(address)
            continue
        for problem in worker_problems(facts, expected, token, sizes, cache_root):
            refused.append(f"worker {address} on {facts['host']}: {problem}")
            failing.add(address)
    if refused:
        raise ClusterError(
            f"{len(failing)} worker(s) of {cluster.address} "
            "cannot render this run, so nothing was rendered:\n  " + "\n  ".join(refused) +
            "\nEvery worker needs the same megacut, Python, imageio-ffmpeg and ffmpeg as this machine, the "
            "inputs at the same absolute paths, and the cache folder shared (docs/clusters.md).")


# ---- on the workers ---------------------------------------------------------------------------------------------

@dataclass
class _WorkerRun:
    """A run's stop flags on one worker: set by the client's broadcast (cancel) and read by its tasks."""

    cancel: threading.Event = field(default_factory=threading.Event)
    hold: threading.Event = field(default_factory=threading.Event)


_runs: dict[str, _WorkerRun] = {}  # run token -> its flags, on this worker
_runs_lock = threading.Lock()


def _topic(token: str) -> str:
    return f"megacut-{token}"


class MegacutPlugin(WorkerPlugin):
    """What the process pool's initializer does, on every worker of the cluster, including those that join
    (or are restarted) during the run."""

    def __init__(self, token: str, clip_cache: int, cache_root: str):
        self.token, self.clip_cache, self.cache_root = token, clip_cache, cache_root
        self.name = _topic(token)

    def setup(self, worker=None) -> None:
        with contextlib.suppress(ValueError):  # not the main thread: then not a process of its own either
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        with _runs_lock:
            _runs[self.token] = _WorkerRun()
        job_worker.init_worker(None, None, self.clip_cache, in_worker_process=False)  # the flags are per run, below
        clear_dead_attempts(Path(self.cache_root))

    def teardown(self, worker=None) -> None:
        with _runs_lock:
            _runs.pop(self.token, None)
            last = not _runs
        if last:
            job_worker.close_clip_caches()


def clear_dead_attempts(cache_root: Path) -> None:
    """Stop the ffmpeg processes and remove the partial files that a process of this machine, now dead, left
    writing into this cache (a worker killed mid-job: Dask runs its job again elsewhere)."""
    host = host_name()

    def dead_owner(name: str) -> bool:
        owner = partial_owner(name)
        return owner is not None and owner[0] == host and not psutil.pid_exists(owner[1])

    SegmentCache(cache_root).clear_partials(dead_owner)


def set_flag(token: str, flag: str) -> bool:
    """Broadcast by the client: set this run's ``hold`` or ``cancel`` flag on this worker."""
    with _runs_lock:
        run = _runs.get(token)
    if run is not None:
        getattr(run, flag).set()
    return run is not None


def cluster_task(token: str, fn: Callable[[Any], Any], job: Any) -> Any:
    """One attempt of ``job`` on a worker: not started if the run is stopping, else announced, then run."""
    with _runs_lock:
        run = _runs.get(token)
    if run is None:  # the plugin was not set up here: a worker that left and came back mid-run, say
        run = _WorkerRun()
    client = distributed.get_client()
    # The scheduler's Event covers workers that joined after the broadcast. A stop sets hold before cancel,
    # so a task that starts after either does not start.
    if not run.hold.is_set() and distributed.Event(f"{_topic(token)}-hold", client=client).is_set():
        run.hold.set()
    with job_worker.run_events(run.cancel, run.hold):
        if not run.hold.is_set():  # a round trip, not the worker's batched stream: heard even if it dies now
            client.log_event(_topic(token), {"job": job.id, "host": host_name(), "pid": os.getpid()})
        return job_worker.start_job(fn, job)


# ---- on the client ----------------------------------------------------------------------------------------------

class ClusterFuture(Future):
    """A job's future: reports running once a worker starts the job. It cannot be withdrawn (a task may
    start before the client hears of it): after the first Ctrl+C a task that had not started raises
    NotStarted on its worker instead."""

    def cancel(self) -> bool:
        return False


def _mark_running(future: Future) -> None:
    if not future.running() and not future.done():
        future.set_running_or_notify_cancel()


class ClusterExecutor(Executor):
    def __init__(self, cluster: Cluster, stop, clip_cache: int, cache_root: Path):
        self.cluster, self.client, self.stop = cluster, cluster.client, stop
        self.token = uuid.uuid4().hex[:12]
        self.tasks: dict[str, tuple[ClusterFuture, Any, Any]] = {}  # job id -> its future, job, Dask future
        self.started: dict[str, int] = {}  # job id -> times a worker started it (this submission)
        self.lock = threading.Lock()
        self._capacity, self._capacity_at = 0, 0.0
        self.flags_sent: set[str] = set()
        self.client.register_plugin(MegacutPlugin(self.token, clip_cache, str(cache_root)))
        self.client.subscribe_topic(_topic(self.token), self._on_started)
        self.closed = threading.Event()
        self.watcher = threading.Thread(target=self._watch_stop, name="megacut-cluster-stop", daemon=True)
        self.watcher.start()

    def capacity(self) -> int:
        """Job slots: worker threads in the cluster now (read at most every CAPACITY_REFRESH_S)."""
        now = time.monotonic()
        if now - self._capacity_at > CAPACITY_REFRESH_S:
            with contextlib.suppress(Exception):  # keep the last count if the scheduler is slow to answer
                self._capacity = sum(self.cluster.slots().values())
            self._capacity_at = now
        return self._capacity

    def submit(self, fn, /, *args, **kwargs) -> ClusterFuture:
        start_job, job_fn, job = fn, *args  # the scheduler submits start_job(fn, job)
        assert start_job is job_worker.start_job and not kwargs
        future = ClusterFuture()
        with self.lock:
            self.started[job.id] = 0
            task = self.client.submit(cluster_task, self.token, job_fn, job, pure=False,
                                      key=f"megacut-{job.id}-{uuid.uuid4().hex[:8]}")
            self.tasks[job.id] = (future, job, task)
        task.add_done_callback(lambda done: self._on_done(job.id, done))
        return future

    def _on_started(self, event) -> None:
        """A worker started a job (on the client's event loop)."""
        _, message = event
        with self.lock:
            job_id = message.get("job")
            if job_id in self.tasks:
                self.started[job_id] += 1
                _mark_running(self.tasks[job_id][0])

    def _on_done(self, job_id: str, task) -> None:
        """A job's task ended (on a callback thread): its result or error goes to the job's future."""
        try:
            outcome, error = task.result(), None
        except distributed.scheduler.KilledWorker as exc:
            outcome, error = None, exc
        except BaseException as exc:  # handed to the scheduler through the future, as executors do
            outcome, error = None, exc
        with self.lock:
            future, job, _ = self.tasks.pop(job_id, (None, None, None))
            started = self.started.get(job_id, 0)
            if future is None or future.done():
                return
            if started > 1 or isinstance(error, distributed.scheduler.KilledWorker):
                segment = getattr(job, "segment_path", None)  # a dead worker's attempt left its partial file
                if segment is not None:
                    remove_partials_of(segment)
            _mark_running(future)
            if isinstance(error, distributed.scheduler.KilledWorker):
                future.set_exception(WorkerLost(max(started, error.allowed_failures + 1), started))
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(outcome)

    def attempts(self, job_id: str) -> int:
        """Times a worker started the job in its last submission (Dask reruns a job whose worker died)."""
        with self.lock:
            return self.started.get(job_id, 0)

    def _watch_stop(self) -> None:
        """Carry the first and second stop requests to the cluster as soon as they are made."""
        for flag, event in (("hold", self.stop.hold), ("cancel", self.stop.cancel)):
            while not event.wait(0.1):
                if self.closed.is_set():
                    return
            self.send_flag(flag)

    def send_flag(self, flag: str) -> None:
        if flag in self.flags_sent:
            return
        self.flags_sent.add(flag)
        try:
            if flag == "hold":
                distributed.Event(f"{_topic(self.token)}-hold", client=self.client).set()
            self.client.run(set_flag, self.token, flag, on_error="ignore")
        except Exception as exc:  # the scheduler is gone: nothing more can start or run there
            log.warning("could not tell the cluster to %s: %s", flag, exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self.stop.cancel.is_set():
            self.send_flag("hold")
            self.send_flag("cancel")
        with self.lock:
            tasks = [task for _, _, task in self.tasks.values()]
        if cancel_futures and tasks:
            with contextlib.suppress(Exception):
                self.client.cancel(tasks)
        self.closed.set()
        self.watcher.join()
        with contextlib.suppress(Exception):  # the scheduler is gone: so are its plugins
            self.client.unsubscribe_topic(_topic(self.token))
            self.client.unregister_worker_plugin(_topic(self.token))
