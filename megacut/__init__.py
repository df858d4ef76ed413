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
"""

from megacut.errors import (  # noqa: E402
    InputError,
    MegacutError,
    SourceError,
    SourceLookupError,
    UsageError,
)
from megacut.plan.build import RenderPlan, build_plan  # noqa: E402
from megacut.plan.prepare import prepare_plan
from megacut.plan.scenes import load_scenes  # noqa: E402
from megacut.plan.settings import Settings  # noqa: E402
from megacut.run.engine import (  # noqa: E402
    RunOptions,
    RunResult,
    process,  # noqa: E402
    render_plan,
)
from megacut.version import __version__  # noqa: E402

__all__ = [
    "__version__",
    "InputError", "MegacutError", "RenderPlan", "RunOptions", "RunResult", "Settings", "SourceError",
    "SourceLookupError", "UsageError", "build_plan", "load_scenes", "prepare_plan", "process", "render_plan",
]
