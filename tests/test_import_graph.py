"""The package import graph: no module imports itself back, and layers only import downwards.

The design's flow is one direction (``reports`` -> ``bench`` -> ``methods`` -> ``domains``);
an import cycle (as the cell and speed-section modules once had, through a private
helper) hides which module owns a fact. Imports are read with ``ast``, lazy
ones inside functions included, so a cycle cannot hide in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "methods", "domains", "reports")
# package -> packages it must never import (the design's one-direction flow)
FORBIDDEN = {"domains": {"methods", "bench", "reports"}, "methods": {"bench", "reports"}, "reports": {"methods"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Project modules that ``path`` imports (``from pkg import mod`` resolves to ``pkg.mod`` when it is one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name not in PACKAGES:  # a package's empty __init__ carries no edge
                found.add(name)
                break
    return found


def import_graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) - {module_name(p)} for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_checker_finds_a_planted_cycle() -> None:
    graph = {"bench.a": {"bench.b"}, "bench.b": {"bench.c"}, "bench.c": {"bench.a"}, "bench.d": {"bench.a"}}
    assert cycles(graph) == [["bench.a", "bench.b", "bench.c"]]
    assert cycles({"bench.a": {"bench.b"}, "bench.b": set()}) == []


def test_the_graph_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from bench.cell import run_cell\n    import bench.store\n")
    assert imports_of(source, {"bench.cell", "bench.store", "bench.spec"}) == {"bench.cell", "bench.store"}


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph()) == []


def test_layers_import_downwards_only() -> None:
    wrong = sorted((module, target) for module, targets in import_graph().items() for target in targets
                   if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], set()))
    assert wrong == []


def test_parsing_every_shipped_spec_imports_no_torch() -> None:
    """``bench.spec`` promises to be torch-free, ``[tuning]`` tables included (the smoke spec has one)."""
    import subprocess
    import sys

    code = ("import sys\nfrom bench.spec import SHIPPED, load_spec\n"
            "specs = [load_spec(name) for name in SHIPPED]\n"
            "assert any(s.tuning for s in specs), 'no shipped spec has a [tuning] table'\n"
            "heavy = sorted(m for m in ('torch', 'scipy', 'methods.base') if m in sys.modules)\n"
            "print(','.join(heavy))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""
