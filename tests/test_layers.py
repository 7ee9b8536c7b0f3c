"""The layering of `src/ganlab`, read from its import statements: every module imports only from
its own layer or the layers below it, and no modules import each other in a cycle.

The graph is read with `ast`, not by importing, so every `import` and `from ... import` counts,
also those inside functions (an import deferred to save start-up time is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. The base is the root package and its shared modules; every other layer is a
# subpackage (or module) named by the second part of the dotted name: ganlab.cli.* is cli.
LAYERS = ["base", "data", "models", "metrics", "train", "study", "report", "api", "bench", "cli"]
BASE = {
    "ganlab", "ganlab.version", "ganlab.errors", "ganlab.files", "ganlab.config", "ganlab.config.schema",
    "ganlab.config.loading", "ganlab.names", "ganlab.rundir",
    "ganlab.pictures",
}  # fmt: skip

Edge = tuple[str, str, int]  # (importer, imported, line of the import statement)


def module_files(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `src/ganlab` (a package is its __init__)."""
    modules = {}
    for path in sorted((src / "ganlab").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def layer_of(module: str) -> str | None:
    """The layer of a module of the package; None when the table above does not place it."""
    if module in BASE:
        return "base"
    second = module.split(".")[1]
    return second if second in LAYERS[1:] else None


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of the package that `name` (a module, or a name inside one) belongs to."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every import of one module of the package by another, with the line of its statement."""
    edges: list[Edge] = []
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1 packages
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` imports the submodule sub; `from pkg import name` imports pkg.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                resolved = _resolve(target, modules) if target.split(".")[0] == "ganlab" else None
                if resolved is not None and resolved != module:
                    edges.append((module, resolved, node.lineno))
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _where(edge: Edge, modules: dict[str, Path]) -> str:
    importer, imported, line = edge
    path = modules[importer].relative_to(SRC.parent)
    return f"{importer} ({layer_of(importer)}) -> {imported} ({layer_of(imported)})  [{path}:{line}]"


def test_every_module_has_a_layer():
    unplaced = [m for m in module_files() if layer_of(m) is None]
    assert not unplaced, "modules the layer table does not place (add them to LAYERS or BASE):\n" + "\n".join(unplaced)


def test_no_module_imports_from_a_higher_layer():
    modules = module_files()
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [
        edge
        for edge in import_edges(modules)
        if None not in (layer_of(edge[0]), layer_of(edge[1]))
        and rank[layer_of(edge[1])] > rank[layer_of(edge[0])]  # type: ignore[index]
    ]
    lines = sorted({_where(edge, modules) for edge in upward})
    assert not lines, f"{len(lines)} imports from a higher layer ({' < '.join(LAYERS)}):\n" + "\n".join(lines)


def test_no_import_cycle():
    modules = module_files()
    edges = import_edges(modules)
    graph: dict[str, set[str]] = {}
    for importer, imported, _ in edges:
        graph.setdefault(importer, set()).add(imported)
    found = cycles(graph)
    report = []
    for component in found:
        members = set(component)
        inside = sorted({_where(e, modules) for e in edges if e[0] in members and e[1] in members})
        report.append(f"cycle between {', '.join(component)}:\n  " + "\n  ".join(inside))
    assert not found, f"{len(found)} import cycles:\n" + "\n".join(report)


def test_the_graph_reader_sees_imports_inside_functions_and_relative_ones(tmp_path: Path):
    """The reader itself, on a made-up package: a deferred import and a relative one both count."""
    root = tmp_path / "ganlab"
    (root / "train").mkdir(parents=True)
    (root / "report").mkdir()
    for init in (root / "__init__.py", root / "train" / "__init__.py", root / "report" / "__init__.py"):
        init.write_text("")
    (root / "report" / "plots.py").write_text("from . import style\n")
    (root / "report" / "style.py").write_text("")
    (root / "train" / "loop.py").write_text("def f():\n    from ganlab.report.plots import draw\n")
    edges = {(a, b) for a, b, _ in import_edges(module_files(tmp_path))}
    assert edges == {("ganlab.train.loop", "ganlab.report.plots"), ("ganlab.report.plots", "ganlab.report.style")}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
