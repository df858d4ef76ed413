"""The one boundary with ffmpeg: finding the binary and running it safely.

Every ffmpeg command megacut runs goes through :func:`run_ffmpeg`: stdin is
closed (ffmpeg otherwise reads the terminal and stops background jobs), the
child gets its own session so a terminal Ctrl+C reaches only megacut, which
decides, and a child is never left running when the call returns or raises.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import psutil

from megacut.errors import Cancelled, FFmpegError

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 12


_active: set[subprocess.Popen] = set()  # ffmpeg processes this process started and has not reaped
_active_lock = threading.Lock()

# A run's own process can be killed outright (SIGKILL, the OOM killer): nothing of it runs then, and the ffmpeg
# it started (each in a session of its own, so that Ctrl+C reaches megacut alone) would go on: a part's audio
# encodes, a source's loudness measured for minutes. So megacut's main process starts a small reaper beside
# it, tells it each ffmpeg it starts and reaps, and the reaper kills those left when megacut is gone. Worker
# processes have their own watch (run/worker.py), which kills their ffmpeg when megacut goes.
_REAPER = r"""
import os, signal, sys, threading, time
parent, running = os.getppid(), set()

def end():
    for pid in list(running):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)

def watch():
    while os.getppid() == parent:
        time.sleep(0.25)
    end()

threading.Thread(target=watch, daemon=True).start()
for line in sys.stdin:
    (running.add if line[0] == "+" else running.discard)(int(line[1:]))
end()
"""
_reaper: subprocess.Popen | None = None
_reaper_pid = 0  # the process that started it (a forked child does not use its parent's)


def _tell_reaper(sign: str, pid: int) -> None:
    """Tell the reaper that ffmpeg ``pid`` started (+) or was reaped (-); called under ``_active_lock``."""
    global _reaper, _reaper_pid
    if multiprocessing.parent_process() is not None:  # a worker process: its own watch stops its ffmpeg
        return
    if _reaper is None or _reaper_pid != os.getpid():
        if sign == "-":
            return
        _reaper = subprocess.Popen([sys.executable, "-c", _REAPER], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _reaper_pid = os.getpid()
    if _reaper.stdin is None or _reaper.poll() is not None:
        return
    try:
        _reaper.stdin.write(f"{sign}{pid}\n".encode())
        _reaper.stdin.flush()
    except OSError:  # it is gone: megacut is ending anyway
        pass


def _started(proc: subprocess.Popen) -> None:
    with _active_lock:
        _active.add(proc)
        _tell_reaper("+", proc.pid)


def _start(args: list[str], **popen) -> tuple[list[str], subprocess.Popen]:
    """Start ``ffmpeg -nostdin -hide_banner ARGS`` in a session of its own (a terminal's Ctrl+C reaches megacut
    alone, which decides), known to the reaper; (its command, its process)."""
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", *args]
    log.debug("ffmpeg: %s", subprocess.list2cmdline(command))
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True, **popen)
    _started(proc)
    return command, proc


def _ended(proc: subprocess.Popen) -> None:
    with _active_lock:
        _active.discard(proc)
        _tell_reaper("-", proc.pid)


def kill_all_active() -> None:
    """Last resort (the process is going away): kill every ffmpeg this process started."""
    with _active_lock:
        running = list(_active)
    for proc in running:
        kill_process_group(proc)


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``MEGACUT_FFMPEG`` if set, else imageio-ffmpeg's."""
    override = os.environ.get("MEGACUT_FFMPEG")
    if override:
        return override
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version`` (part of every segment key: another build may encode differently)."""
    return _version(ffmpeg_exe())


def ffmpeg_digest() -> str:
    """SHA-256 of the ffmpeg binary: the machines of one cluster must run the very same build."""
    return _digest(ffmpeg_exe())


@lru_cache(maxsize=None)
def _version(exe: str) -> str:  # per binary: MEGACUT_FFMPEG may name another
    return (run_ffmpeg(["-version"], timeout_s=60).stdout.splitlines() or ["unknown"])[0].strip()


@lru_cache(maxsize=None)
def _digest(exe: str) -> str:
    """Hashing the binary takes half a second (170 MB): the result is kept per path, size and modification
    time in the user's cache folder, and computed again whenever one of those changes."""
    stat = os.stat(exe)
    identity = f"{os.path.realpath(exe)}|{stat.st_size}|{stat.st_mtime_ns}"
    store = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "megacut" / "ffmpeg-sha256.txt"
    known = {}
    with contextlib.suppress(OSError):
        known = dict(line.rsplit(" ", 1) for line in store.read_text(encoding="utf-8").splitlines() if " " in line)
    if identity in known:
        return known[identity]
    digest = hashlib.sha256()
    with open(exe, "rb") as binary:
        for block in iter(lambda: binary.read(1 << 20), b""):
            digest.update(block)
    known[identity] = digest.hexdigest()
    with contextlib.suppress(OSError):  # a read-only home: hash again next time
        store.parent.mkdir(parents=True, exist_ok=True)
        temporary = store.with_name(f".{store.name}.{os.getpid()}")
        temporary.write_text("".join(f"{k} {v}\n" for k, v in known.items()), encoding="utf-8")
        os.replace(temporary, store)
    return known[identity]


def input_file(path: Path | str, *options: str) -> list[str]:
    """``options`` for one input, then the input. Every file megacut hands ffmpeg goes through here or
    :func:`output_file`, named ``file:PATH``: a name with a colon or a leading dash is still a file."""
    return [*options, "-i", f"file:{path}"]


def output_file(path: Path | str, *options: str) -> list[str]:
    """``options`` for the output, then the output file (overwritten: megacut writes partial names only)."""
    return [*options, "-y", f"file:{path}"]


def even(value: float) -> int:
    """The nearest even number, as ffmpeg's ``trunc(x/2+0.5)*2`` rounds a picture size for yuv420p."""
    return int(value / 2 + 0.5) * 2


def stderr_tail(stderr: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last non-empty lines of an ffmpeg log, where its error message is."""
    kept = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def signal_group(proc: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to ``proc``'s process group (ffmpeg and anything it started), or to ``proc`` alone."""
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        proc.send_signal(signum)


def kill_process_group(proc: subprocess.Popen) -> None:
    """Stop ``proc`` and anything it started, at once, and reap it."""
    if proc.poll() is None:
        signal_group(proc, signal.SIGKILL)
    proc.wait()


POLL_INTERVAL_S = 0.2  # how often a running ffmpeg checks the cancel event: latency vs. wakeups
TERMINATE_GRACE_S = 3.0  # after SIGTERM, how long ffmpeg may take to exit before SIGKILL
# An ffmpeg that uses no CPU for this long is stuck (ffmpeg 9 deadlocks now and then on multi-input
# graphs; a dead network drive): it is killed and the job retried. Working ffmpeg always burns CPU;
# reading slow storage still shows a little.
DEFAULT_STALL_TIMEOUT_S = 30.0


def run_ffmpeg(
    args: list[str],
    *,
    timeout_s: float | None = None,
    check: bool = True,
    cancel=None,
    stall_timeout_s: float | None = DEFAULT_STALL_TIMEOUT_S,
) -> subprocess.CompletedProcess:
    """Run ``ffmpeg -nostdin -hide_banner ARGS`` and return its completed process.

    stdout and stderr are captured as text. With ``check`` a non-zero exit raises
    :class:`FFmpegError` carrying the last lines of stderr. A run longer than
    ``timeout_s``, or that uses no CPU for ``stall_timeout_s``, is killed (with
    its process group) and raises as well. When ``cancel`` (an Event) is set,
    ffmpeg is terminated, then killed, and :class:`Cancelled` is raised; the
    caller removes its partial output.
    """
    command, proc = _start(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                           errors="replace")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    stall = _StallWatch(proc.pid, stall_timeout_s)
    try:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=POLL_INTERVAL_S)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    stop_process(proc)
                    raise Cancelled("cancelled")
                if deadline is not None and time.monotonic() > deadline:  # killed by the handler below
                    raise FFmpegError(f"ffmpeg took longer than {timeout_s:g} s and was stopped", command=command)
                if stall.stuck():
                    raise FFmpegError(f"ffmpeg made no progress (used no CPU) for {stall_timeout_s:g} s and was "
                                      "stopped", command=command)
    except BaseException:
        kill_process_group(proc)
        raise
    finally:
        _ended(proc)
    if check and proc.returncode != 0:
        raise FFmpegError(
            f"ffmpeg failed with exit code {proc.returncode}",
            command=command,
            stderr_tail=stderr_tail(stderr),
        )
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


class _StallWatch:
    """Notices an ffmpeg whose CPU time stops growing."""

    def __init__(self, pid: int, timeout_s: float | None):
        self.timeout_s = timeout_s
        self.last_cpu_s = -1.0
        self.since = time.monotonic()
        try:
            self.process = psutil.Process(pid) if timeout_s else None
        except psutil.Error:
            self.process = None

    def stuck(self) -> bool:
        if self.process is None:
            return False
        try:
            times = self.process.cpu_times()
        except psutil.Error:
            return False  # it has just exited: communicate() collects it
        cpu_s = times.user + times.system
        now = time.monotonic()
        if cpu_s > self.last_cpu_s:
            self.last_cpu_s, self.since = cpu_s, now
            return False
        return now - self.since > self.timeout_s


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM (ffmpeg exits cleanly), then SIGKILL to the group if it lingers."""
    if proc.poll() is None:
        signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=TERMINATE_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
    kill_process_group(proc)


TIMESTAMP_WARNINGS = ("Non-monotonic DTS", "Non-monotonous DTS", "non monotonically increasing dts")


def timestamp_problem(stderr: str) -> str | None:
    """The first line of a join's ffmpeg output that reports broken timestamps, or None."""
    return next((line.strip() for line in stderr.splitlines() if any(w in line for w in TIMESTAMP_WARNINGS)), None)


def concat_list(files: list[tuple[Path, int]], fps: Fraction) -> str:
    """An ffconcat list of (file, frames); each file's exact duration keeps the video timeline frame-exact."""
    lines = ["ffconcat version 1.0"]
    for path, frames in files:
        quoted = str(path.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        lines.append(f"duration {float(frames / fps):.6f}")
    return "\n".join(lines) + "\n"


def process_cpu_s() -> float:
    """This process's CPU time (all threads) plus that of its finished children (ffmpeg)."""
    own = time.process_time()
    try:
        import resource
    except ImportError:  # Windows: children are not counted
        return own
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------ named pipes

PIPE_BUFFER_BYTES = 1 << 20  # Python-side buffer and (Linux) kernel pipe size for a feed
FIFO_POLL_S = 0.01  # how often to retry opening the pipe while ffmpeg starts
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity


class EitherEvent:
    """Set when any of the events is: the user's cancel, or this job's own abort."""

    def __init__(self, *events):
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class _FFmpegRun(threading.Thread):
    """``run_ffmpeg`` in a thread, its exception kept for the caller."""

    def __init__(self, args: list[str], stop, stall_timeout_s: float | None):
        super().__init__(name="megacut-ffmpeg-feed", daemon=True)
        self.args, self.stop, self.stall_timeout_s, self.error = args, stop, stall_timeout_s, None

    def run(self) -> None:
        try:
            run_ffmpeg(self.args, cancel=self.stop, stall_timeout_s=self.stall_timeout_s)
        except BaseException as exc:  # handed to the caller by raise_error()
            self.error = exc

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def stream_to_ffmpeg(args: list[str], fifo: Path, chunks: Iterable, cancel=None, *,
                     stall_timeout_s: float | None = DEFAULT_STALL_TIMEOUT_S) -> None:
    """Run ``ffmpeg ARGS``, one of whose inputs is the named pipe ``fifo``, and write ``chunks`` (bytes)
    into the pipe as ffmpeg reads them; closing it ends ffmpeg's input. ffmpeg runs through
    :func:`run_ffmpeg` in a thread; its errors are raised here, and it is stopped if writing fails."""
    abort = threading.Event()
    runner = _FFmpegRun(args, EitherEvent(cancel, abort), stall_timeout_s)
    runner.start()
    pipe = None
    try:
        pipe = _open_fifo(fifo, runner, cancel)
        for chunk in chunks:
            pipe.write(chunk)
        pipe, closing = None, pipe
        closing.close()  # end of input: ffmpeg finishes the file
    except BrokenPipeError:
        runner.join()
        runner.raise_error()
        raise FFmpegError("ffmpeg stopped reading its input before the end") from None
    except BaseException:
        abort.set()  # run_ffmpeg kills ffmpeg within its poll interval
        raise
    finally:
        if pipe is not None:
            _close_quietly(pipe)
        runner.join()
    runner.raise_error()


def _open_fifo(path: Path, runner: _FFmpegRun, cancel):
    """Open the pipe for writing once ffmpeg has opened it for reading (never blocks forever)."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        if not runner.is_alive():
            runner.join()
            runner.raise_error()
            raise FFmpegError("ffmpeg ended without reading its input")
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        time.sleep(FIFO_POLL_S)
    os.set_blocking(fd, True)
    if sys.platform.startswith("linux"):
        try:
            import fcntl

            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BUFFER_BYTES)
        except OSError:  # above /proc/sys/fs/pipe-max-size: keep the default
            pass
    return open(fd, "wb", buffering=PIPE_BUFFER_BYTES)


def _close_quietly(pipe) -> None:
    try:
        pipe.close()
    except OSError:  # ffmpeg is gone already; the file is discarded anyway
        pass


def read_from_ffmpeg(args: list[str], cancel=None, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """Run ``ffmpeg ARGS`` writing to its standard output (``-``) and yield what it writes, in chunks: a
    segment's sound decoded, for instance. ffmpeg is stopped when the caller stops reading (the generator
    closed), when ``cancel`` is set (Cancelled), and never outlives the call; a failure raises FFmpegError
    with the last lines of its stderr."""
    with tempfile.TemporaryFile() as stderr:
        command, proc = _start(args, stdout=subprocess.PIPE, stderr=stderr)
        try:
            while data := proc.stdout.read(chunk_bytes):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled")
                yield data
            if proc.wait() != 0:
                stderr.seek(0)
                raise FFmpegError(f"ffmpeg failed with exit code {proc.returncode}", command=command,
                                  stderr_tail=stderr_tail(stderr.read().decode("utf-8", "replace")))
        finally:
            proc.stdout.close()
            kill_process_group(proc)
            _ended(proc)
