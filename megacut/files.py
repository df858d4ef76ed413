"""Files written whole or not at all: one partial-file name, one write-then-rename, one cleanup.

Every file megacut writes at a final path (segments, parts, part manifests,
reports, demo sources) is written under :func:`partial_path` in the same
folder and renamed when complete, so a final path never holds half a file.
The partial name carries the host and the process id: a cache folder shared
by several machines must not see two writers of one name (process ids repeat
across machines). A killed run's partial files are removed by the next run
that holds the folder (:func:`remove_partials`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from pathlib import Path

PARTIAL_MARK = ".partial"
PARTIAL_GLOB = f".*{PARTIAL_MARK}*"  # every name partial_path gives


def host_name() -> str:
    """This machine's short name, as temporary names and the report give it."""
    return socket.gethostname().split(".")[0] or "host"


def attempt_name() -> str:
    """``HOST-PID``: unique to this process on a cache folder shared by several machines."""
    return f"{host_name()}-{os.getpid()}"


def partial_path(final: Path) -> Path:
    """The temporary name ``final`` is written under, in the same folder: ``.NAME.HOST-PID.partial.EXT``."""
    return final.with_name(f".{final.stem}.{attempt_name()}{PARTIAL_MARK}{final.suffix}")


def partial_owner(name: str) -> tuple[str, int] | None:
    """(host, process id) of the process that writes the partial file named in ``name``, or None."""
    match = _PARTIAL_OWNER.search(name)
    return (match["host"], int(match["pid"])) if match else None


_PARTIAL_OWNER = re.compile(r"\.(?P<host>[^./]+)-(?P<pid>\d+)" + re.escape(PARTIAL_MARK))


@contextlib.contextmanager
def writing(final: Path):
    """Yield the partial path to write ``final`` under; when the block ends normally it is renamed to
    ``final``; whatever happens, nothing partial is left behind."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(final)
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def write_json_atomic(path: Path, data) -> None:
    """Write ``data`` as JSON at ``path``, whole or not at all."""
    with writing(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def remove_partials_of(final: Path) -> None:
    """Remove the partial files of ``final`` that any process, on any machine, left behind."""
    for partial in final.parent.glob(f".{final.stem}.*{PARTIAL_MARK}*"):
        partial.unlink(missing_ok=True)


def remove_partials(folder: Path) -> None:
    """Remove the partial files a killed run left in ``folder`` (call it only while holding the folder)."""
    if folder.is_dir():
        for partial in folder.glob(PARTIAL_GLOB):
            partial.unlink(missing_ok=True)
