"""The tree reads as the data flows: read -> check -> send -> report, then the run and the surfaces.

Each stage imports only the foundation and the stages before it, no module imports itself back
through others, and no module outgrows one job (issue #28). Imports are read from the source with
`ast`, so a lazy import inside a function or under TYPE_CHECKING counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import uploader

PACKAGE = Path(uploader.__file__).parent
FOUNDATION = {"errors", "outcome", "settings", "textsafe"}
RUN = {"pipeline", "batch", "summary"}
RANKS = {"foundation": 0, "read": 1, "check": 2, "send": 3, "report": 4, "run": 5, "surface": 6}
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "surface"  # uploader/__init__.py: the public API over everything
    if parts[1] in RANKS and parts[1] not in ("foundation", "run", "surface"):
        return parts[1]
    if parts[1] in FOUNDATION:
        return "foundation"
    if parts[1] in RUN:
        return "run"
    return "surface"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("uploader"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("uploader"))
    return {name for name in found if name in MODULES}


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "static" not in p.parts)
MODULES = {module_name(p): p for p in SOURCES}


def test_every_import_points_down_the_flow() -> None:
    upward = []
    for module, path in MODULES.items():
        for target in imports(path):
            mine, theirs = unit(module), unit(target)
            if mine != theirs and RANKS[theirs] >= RANKS[mine]:
                upward.append(f"{module} ({mine}) imports {target} ({theirs})")
    assert upward == []


def test_no_module_imports_itself_back() -> None:
    graph = {module: imports(path) - {module} for module, path in MODULES.items()}
    circles = []

    def visit(module: str, trail: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in trail:
                circles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in done:
                visit(target, [*trail, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    # A package's __init__ re-exporting its modules is not a circle of jobs.
    assert [c for c in circles if not c.startswith("uploader ->")] == []


def test_no_module_holds_two_jobs() -> None:
    long = {
        module: n
        for module, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_a_run_object_stays_small() -> None:
    tree = ast.parse((PACKAGE / "pipeline.py").read_text(encoding="utf-8"))
    run = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Run")
    assert run.end_lineno - run.lineno + 1 < 120


def test_every_stage_says_what_it_owns_and_may_import() -> None:
    for stage in ("read", "check", "send", "report"):
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and "May import" in doc, stage


def test_the_wheel_ships_every_package() -> None:
    """pyproject lists the packages by name: a new stage package missing there installs nothing."""
    import tomllib

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    packages = {module_name(p.parent / "__init__.py") for p in PACKAGE.rglob("__init__.py")}
    assert packages - listed == set()
