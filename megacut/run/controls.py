"""Controls of a running render from outside it: pause, resume, stop, stop now, and the number of workers.

A control is a small JSON file dropped into ``OUTPUT/.megacut-control/``
(written under a temporary name, then renamed), by ``megacut status OUTPUT
--pause`` or by the status page's server. The run takes them in order, about
four times a second, applies them through its StopControl and deletes them.
So anyone who may write the output folder may control the run; the page's
server also asks for the token it printed.

Every control goes through the run's own stop machinery:

- stop: the first Ctrl+C (``StopControl.request``): no new job starts, running
  jobs finish, complete parts are joined;
- stop now: the second Ctrl+C: running jobs stop at once;
- pause: the scheduler submits nothing (``StopControl.pause``), and a job a
  pool holds queued for a worker does not start either (the ``hold`` Event
  the first Ctrl+C uses: such a job comes back and waits); resume clears both.
  On a Dask cluster the hold cannot be lifted once sent, so there a job
  already handed to the cluster (at most one per job slot) may still start;
- workers N: the scheduler keeps at most N jobs running (more start when the
  pool has the room: a process or thread pool too small is replaced by a
  larger one for the jobs to come, the old one ending its jobs in flight).
  Jobs running beyond N finish; none is killed. The output is the same with
  any number of workers.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from megacut.errors import UsageError
from megacut.files import PARTIAL_MARK, attempt_name

CONTROL_DIR = ".megacut-control"
ACTIONS = ("pause", "resume", "stop", "stop-now", "workers")
MAX_WORKERS = 256


@dataclass(frozen=True)
class Control:
    action: str
    workers: int | None = None
    by: str = ""  # who sent it: "page", "command line"

    def describe(self) -> str:
        return f"workers {self.workers}" if self.action == "workers" else self.action


def check_control(action: str, workers=None) -> Control:
    """A control from user input; UsageError when it is not one."""
    if action not in ACTIONS:
        raise UsageError(f"unknown control {action!r}: use one of {', '.join(ACTIONS)}")
    if action != "workers":
        return Control(action)
    try:
        count = int(workers)
    except (TypeError, ValueError):
        raise UsageError(f"workers: {workers!r} is not a number of workers") from None
    if not 1 <= count <= MAX_WORKERS:
        raise UsageError(f"workers: give a number from 1 to {MAX_WORKERS}, not {count}")
    return Control("workers", count)


def control_dir(output_dir: Path) -> Path:
    return Path(output_dir) / CONTROL_DIR


def send(output_dir: Path, control: Control, by: str) -> Path:
    """Drop ``control`` for the run rendering into ``output_dir``; return the file written."""
    folder = control_dir(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{attempt_name()}"
    final = folder / f"{name}.json"
    temporary = folder / f".{name}{PARTIAL_MARK}"
    temporary.write_text(json.dumps({"action": control.action, "workers": control.workers, "by": by,
                                     "sent_at": time.time()}), encoding="utf-8")
    os.replace(temporary, final)
    return final


def take(output_dir: Path) -> list[Control]:
    """The controls waiting in ``output_dir``, oldest first, each removed as it is read (unreadable ones
    too: a control is never applied twice)."""
    folder = control_dir(output_dir)
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".json")
                       and not entry.name.startswith("."))
    except FileNotFoundError:
        return []
    controls = []
    for name in names:
        path = folder / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            controls.append(Control(check_control(data.get("action"), data.get("workers")).action,
                                    data.get("workers") if data.get("action") == "workers" else None,
                                    str(data.get("by") or "")))
        except (OSError, ValueError, AttributeError, UsageError):
            pass  # half a file from a writer that died, or not a control: dropped
        finally:
            path.unlink(missing_ok=True)
    return controls


def clear(output_dir: Path) -> None:
    """Drop controls left from an earlier run: they were meant for it."""
    take(output_dir)


def apply(control: Control, stop, executor_kind: str) -> str:
    """Apply ``control`` to the run's StopControl; return what it did, for the terminal and the status."""
    if control.action == "stop":
        if stop.drain.is_set():
            return "already stopping"
        stop.request()
        return "stopping: running jobs finish and complete parts are joined"
    if control.action == "stop-now":
        while not stop.cancel.is_set():
            stop.request()
        return "stopping now: running jobs are stopped"
    if control.action == "pause":
        if stop.stopping:
            return "not paused: the run is stopping"
        stop.pause.set()
        if executor_kind != "dask":
            stop.hold.set()  # a job already queued for a worker does not start either
        return "paused: no new job starts; running jobs finish"
    if control.action == "resume":
        if not stop.pause.is_set():
            return "not paused"
        if executor_kind != "dask" and not stop.drain.is_set():
            stop.hold.clear()
        stop.pause.clear()
        return "resumed"
    if executor_kind == "inline":
        return "workers: --no-threading runs one job at a time; not changed"
    stop.workers = control.workers
    return f"workers: at most {control.workers} job(s) at once from now"


def follow_workers(scheduler, executor, limit: int):
    """The scheduler's (executor, jobs in flight) with the worker count asked for while it runs
    (``scheduler.stop.workers``; None: as it started). Called by the scheduler before each round of
    submissions; records ``scheduler.pool_size``, the workers the executor has."""
    size = executor.__dict__.setdefault("megacut_workers", scheduler.workers)
    scheduler.pool_size = size
    wanted = getattr(scheduler.stop, "workers", None)
    if wanted is None or scheduler.kind == "inline":
        return executor, limit
    if scheduler.kind == "dask":  # the cluster's job slots, just read: keep at most ``wanted`` running
        if wanted < scheduler.workers:
            scheduler.workers = wanted
            return executor, wanted
        return executor, limit
    scheduler.workers = wanted
    if wanted > size:  # a larger pool for the jobs to come; the old one ends the jobs it holds
        larger = scheduler._make_executor()
        larger.__dict__["megacut_workers"] = wanted
        executor.shutdown(wait=False)
        scheduler.pool_size = wanted
        return larger, wanted + 1
    # as many workers as the pool: one job queued beyond them, as usual; fewer: none queued (it would run)
    return executor, wanted + 1 if wanted == size else wanted
