"""megacut: turn a list of scenes into finished video, rendered in parallel.

Python API::

    import megacut
    table = megacut.load_scenes("scenes.csv")                       # rows, headings, problems
    plan = megacut.prepare_plan("scenes.csv", "movies/", megacut.Settings(fps=25))
    result = megacut.render_plan(plan, megacut.RunOptions(output_dir="out"), on_item=print)
    result = megacut.process("scenes.csv", "movies/", "out")       # all three in one call

Every path may be a ``str`` or a ``pathlib.Path``.

Worker processes are started with "spawn": call rendering from under
``if __name__ == "__main__":`` in a script.

The names below are imported when first used, so that a worker process, which
needs the renderers only, starts without importing the planner and the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "InputError": "megacut.errors", "MegacutError": "megacut.errors", "SourceError": "megacut.errors",
    "SourceLookupError": "megacut.errors", "UsageError": "megacut.errors",
    "RenderPlan": "megacut.plan.build", "build_plan": "megacut.plan.build",
    "prepare_plan": "megacut.plan.prepare", "load_scenes": "megacut.plan.scenes", "Settings": "megacut.plan.settings",
    "RunOptions": "megacut.run.engine", "RunResult": "megacut.run.engine", "process": "megacut.run.engine",
    "render_plan": "megacut.run.engine",
    "__version__": "megacut.version",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'megacut' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see
    from megacut.errors import (  # noqa: F401
        InputError,
        MegacutError,
        SourceError,
        SourceLookupError,
        UsageError,
    )
    from megacut.plan.build import RenderPlan, build_plan  # noqa: F401
    from megacut.plan.prepare import prepare_plan  # noqa: F401
    from megacut.plan.scenes import load_scenes  # noqa: F401
    from megacut.plan.settings import Settings  # noqa: F401
    from megacut.run.engine import RunOptions, RunResult, process, render_plan  # noqa: F401
    from megacut.version import __version__  # noqa: F401
