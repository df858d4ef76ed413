"""The run's status file as its readers see it: where it is, how to read it, and whether its run is alive.

The process that renders writes ``OUTPUT/megacut-status.json`` (status/live.py,
schema in docs/status.md); ``megacut status`` and the status page read it, in
that process or any other, during the run or after it. A run that ended says
so in the file; one whose writer is gone without saying so is *stale*: its
process is not alive (checked when the reader is on the same machine), or its
heartbeat is older than STALE_AFTER_S (anywhere).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil

from megacut.errors import ExitCode, UsageError
from megacut.files import host_name

SCHEMA = 1
STATUS_NAME = "megacut-status.json"
HEARTBEAT_S = 5.0  # the writer rewrites the file at least this often, changed or not
STALE_AFTER_S = 30.0  # no heartbeat for this long: the writer is taken as gone

# What a run is, as `megacut status` says it, and the exit code it gives for each.
VERDICT_EXIT = {"done": ExitCode.OK, "failed": ExitCode.FAILED, "interrupted": ExitCode.INTERRUPTED,
                "error": ExitCode.INVALID, "starting": ExitCode.RUNNING, "rendering": ExitCode.RUNNING,
                "paused": ExitCode.RUNNING, "stopping": ExitCode.RUNNING, "joining": ExitCode.RUNNING,
                "stale": ExitCode.STALE}


def machine_id() -> str:
    """This machine, for telling whether a writer's process id can be checked here."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text:
            return text
    return host_name()


def status_path(where: str | Path) -> Path:
    """The status file of an output folder (or the file itself); UsageError when there is none."""
    path = Path(where).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise UsageError(f"{where}: no such folder; give the --output folder of a megacut process or sections run")
    if (path / STATUS_NAME).is_file():
        return path / STATUS_NAME
    raise UsageError(f"{where}: no run status here ({STATUS_NAME} is written by `megacut process` and "
                     "`megacut sections` into their --output folder while they run)")


def read_status(path: Path, attempts: int = 5) -> dict:
    """The state in ``path``; UsageError when it is not a megacut status file. The writer replaces the
    file whole, so a read never sees half of one; a file being replaced is read again."""
    for attempt in range(attempts):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            break
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise UsageError(f"{path}: the status file is gone") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            if attempt == attempts - 1:
                raise UsageError(f"{path}: not a megacut status file (not JSON)") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        time.sleep(0.05)
    if not isinstance(data, dict) or "schema" not in data:
        raise UsageError(f"{path}: not a megacut status file")
    if data["schema"] != SCHEMA:
        raise UsageError(f"{path}: status schema {data['schema']}, this megacut reads schema {SCHEMA}; "
                         "read it with the megacut that wrote it")
    return data


def writer_alive(writer: dict) -> bool | None:
    """Whether the process that wrote a status runs still: None when it cannot be told from here (another
    machine). A process id reused by another process counts as gone (its start time differs)."""
    if writer.get("machine") != machine_id():
        return None
    try:
        process = psutil.Process(int(writer["pid"]))
        started = process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, KeyError, ValueError, TypeError):
        return False
    except psutil.AccessDenied:
        return True
    if process.status() == psutil.STATUS_ZOMBIE:
        return False
    expected = writer.get("process_started")
    return expected is None or abs(started - expected) < 2.0


def verdict(state: dict, now: float | None = None) -> tuple[str, str]:
    """(what the run is: a key of VERDICT_EXIT, why, in words)."""
    now = time.time() if now is None else now
    if state.get("ended"):
        outcome = state.get("outcome") or "done"
        return outcome, state.get("error") or ""
    writer = state.get("writer") or {}
    alive = writer_alive(writer)
    age = now - float(writer.get("heartbeat_at") or 0)
    where = f"{writer.get('host', '?')} pid {writer.get('pid', '?')}"
    if alive is False:
        return "stale", f"the process that ran it ({where}) is gone without ending the run"
    if age > STALE_AFTER_S:
        return "stale", f"no heartbeat from {where} for {age:.0f} s"
    return state.get("state") or "rendering", ""


def with_verdict(state: dict, now: float | None = None) -> dict:
    """The state with its reader's verdict added (``verdict``, ``verdict_reason``, ``read_at``)."""
    now = time.time() if now is None else now
    word, reason = verdict(state, now)
    return {**state, "verdict": word, "verdict_reason": reason, "read_at": now}
