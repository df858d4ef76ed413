"""megacut: turn a list of scenes into finished video, rendered in parallel.

Python API::

    import megacut
    table = megacut.load_scenes("scenes.csv")                       # rows, headings, problems
    plan = megacut.prepare_plan("scenes.csv", "movies/", megacut.Settings(fps=25))
    result = megacut.render_plan(plan, megacut.RunOptions(output_dir=Path("out")), on_scene=print)
    result = megacut.process("scenes.csv", "movies/", "out")       # all three in one call

Worker processes are started with "spawn": call rendering from under
``if __name__ == "__main__":`` in a script.
"""

__version__ = "0.1.0"

from .errors import InputError, MegacutError, SourceError, SourceLookupError, UsageError  # noqa: E402
from .engine import RunOptions, RunResult, render_plan  # noqa: E402
from .pipeline import prepare_plan, process  # noqa: E402
from .plan import RenderPlan, build_plan  # noqa: E402
from .scenes import load_scenes  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = [
    "InputError", "MegacutError", "RenderPlan", "RunOptions", "RunResult", "Settings", "SourceError",
    "SourceLookupError", "UsageError", "build_plan", "load_scenes", "prepare_plan", "process", "render_plan",
]
