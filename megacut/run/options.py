"""How to execute a plan: the folders, the executor and its workers, retries; nothing here changes the
rendered output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
