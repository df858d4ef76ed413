"""megacut: turn a list of scenes into finished video, rendered in parallel.

Python API::

    import megacut
    table = megacut.load_scenes("scenes.csv")
    plan = megacut.prepare_plan("scenes.csv", "movies/", megacut.Settings(fps=25))
"""

__version__ = "0.1.0"

from .errors import InputError, MegacutError, SourceError, SourceLookupError, UsageError  # noqa: E402
from .pipeline import prepare_plan  # noqa: E402
from .plan import RenderPlan, build_plan  # noqa: E402
from .scenes import load_scenes  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = [
    "InputError", "MegacutError", "RenderPlan", "Settings", "SourceError", "SourceLookupError", "UsageError",
    "build_plan", "load_scenes", "prepare_plan",
]
