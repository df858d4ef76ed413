"""The package layout follows the flow: lower stages never import higher ones, and no module imports
itself back through others (a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import megacut

PACKAGE = Path(megacut.__file__).parent
# Stages in flow order; modules directly in megacut/ other than the API are shared below every stage.
STAGES = {"errors": 0, "ffmpeg": 0, "mov": 0, "files": 0, "version": 0, "subtitles": 0, "plan": 1, "render": 2, "join": 3, "run": 4, "status": 5, "cli": 6}
API = {"megacut", "megacut.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> int:
    if module in API:
        return 99
    return STAGES[module.split(".")[1]]


def imports_of(path: Path, module: str) -> set[str]:
    """Every megacut module ``path`` imports, at module level or inside functions."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "megacut")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "megacut":
                continue
            for alias in node.names:  # ``from megacut.plan import fonts`` imports a module
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return found - {module}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path, name) for name, path in MODULES.items()}


def test_every_module_belongs_to_a_stage():
    for name in MODULES:
        assert name in API or name.split(".")[1] in STAGES, f"{name} is in no stage; add it to one"


def test_no_import_runs_against_the_flow():
    backwards = [f"{name} imports {target}" for name, targets in GRAPH.items() for target in targets
                 if target in MODULES and stage(target) > stage(name)]
    assert not backwards, "lower stages must not import higher ones:\n" + "\n".join(sorted(backwards))


def test_no_import_cycle():
    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for target in GRAPH.get(node, ()):
                if target == start:
                    return path + [start]
                if target in MODULES and target not in seen and not target.startswith("megacut.__"):
                    seen.add(target)
                    stack.append((target, path + [target]))
        return None

    cycles = [cycle_from(name) for name in MODULES if name not in API]
    cycles = [" -> ".join(c) for c in cycles if c]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
