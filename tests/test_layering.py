"""The house's one-way flow, checked on the source: no import cycles, no upward imports.

CLI -> recipe -> pipelines -> models -> training loop -> export (README
"Contributing"). Every ``import`` counts, also those inside functions: a lazy
import still ties two modules together. The graph is read with `ast`, so this
test imports nothing of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Source folder -> the package name it installs as (setup.cfg's package_dir).
ROOTS = {REPO / "cnnzoo": "cnnzoo", REPO / "pipelines": "cnnzoo.pipelines"}

# What each part of the package may not import (prefixes of module names).
FORBIDDEN = {
    "cnnzoo.layers": ("cnnzoo.models", "cnnzoo.registry", "cnnzoo.training", "cnnzoo.pipelines"),
    "cnnzoo.models": (
        "cnnzoo.registry",
        "cnnzoo.training",
        "cnnzoo.pipelines",
        "cnnzoo.evaluation",
        "cnnzoo.export",
        "cnnzoo.cli",
    ),
    "cnnzoo.pipelines": (
        "cnnzoo.models",
        "cnnzoo.registry",
        "cnnzoo.training",
        "cnnzoo.evaluation",
        "cnnzoo.export",
        "cnnzoo.cli",
    ),
    "cnnzoo.training": ("cnnzoo.evaluation", "cnnzoo.export", "cnnzoo.cli", "cnnzoo.predict"),
    "cnnzoo.evaluation": ("cnnzoo.training.trainer", "cnnzoo.export", "cnnzoo.cli"),
    "cnnzoo.export": ("cnnzoo.training", "cnnzoo.cli"),
    "cnnzoo.cards": ("cnnzoo.",),
    "cnnzoo.fidelity": ("cnnzoo.",),
    "cnnzoo.hardware": ("cnnzoo.",),
    "cnnzoo.training.recipe": ("cnnzoo.", "keras", "tensorflow", "numpy"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for root, package in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every module `path` imports (relative imports resolved), at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(name, path) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init(name: str, graph) -> bool:
    # A package's __init__ importing its own submodules (to register them) is how
    # Python packages work, not a cycle of concepts.
    return any(other.startswith(name + ".") for other in graph)


def test_no_import_cycles():
    graph = _graph()
    pruned = {
        v: {w for w in ws if not (_is_package_init(w, graph) and v.startswith(w + "."))}
        for v, ws in graph.items()
    }
    assert _cycles(pruned) == []


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_no_upward_imports(part):
    modules = _modules()
    bad = []
    for name, path in modules.items():
        if name != part and not name.startswith(part + "."):
            continue
        for imported in _imports(name, path):
            if any(imported == f or imported.startswith(f) for f in FORBIDDEN[part]):
                if not imported.startswith(part):
                    bad.append(f"{name} imports {imported}")
    assert bad == []
