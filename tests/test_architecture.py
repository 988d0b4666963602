"""The package's shape, checked from its imports alone (docs/architecture.md):

- the engine imports nothing from the layers above it (storage, assets, catalog, ops, tasks,
  workflows, registry, runner, bundles, cli, server, notebooks, config);
- no import cycles between modules, counting imports inside functions and the packages an import
  initialises (`import a.b.c` runs `a/__init__` and `a/b/__init__` first);
- no folder holds more than 12 modules;
- no module runs code at import beyond definitions (checked for the engine: no top-level calls
  other than assignments of constants and decorators).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "prsgazer"
UPPER = ("storage", "assets", "catalog", "ops", "tasks", "workflows", "registry", "runner", "bundles", "cli",
         "server", "notebooks", "config", "synthetic")  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Every prsgazer module `name` imports (at any depth in the file), with the packages each import
    initialises on the way."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            targets = [base]
            for a in node.names:  # `from pkg import module`
                if f"{base}.{a.name}" in modules:
                    targets.append(f"{base}.{a.name}")
        for t in targets:
            if not t.startswith("prsgazer"):
                continue
            parts = t.split(".")
            for k in range(1, len(parts) + 1):  # the packages the import runs, then the module itself
                mod = ".".join(parts[:k])
                # a module's own enclosing packages are initialised before it runs: never a dependency
                if mod in modules and mod != name and not name.startswith(mod + "."):
                    found.add(mod)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_the_engine_imports_no_upper_layer() -> None:
    bad = []
    for name, deps in _graph().items():
        if name.startswith("prsgazer.engine"):
            for d in deps:
                top = d.split(".")[1] if d.count(".") else ""
                if top in UPPER:
                    bad.append(f"{name} imports {d}")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in graph:
            if v not in index:
                strongconnect(v)
    finally:
        sys.setrecursionlimit(limit)
    return cycles


def test_no_folder_holds_more_than_12_modules() -> None:
    crowded = {}
    for folder in [PKG, *[d for d in PKG.rglob("*") if d.is_dir() and d.name != "__pycache__"]]:
        mods = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        if len(mods) > 12:
            crowded[str(folder.relative_to(SRC))] = len(mods)
    assert not crowded, crowded


def test_engine_modules_do_nothing_at_import() -> None:
    """Top-level statements of engine modules are definitions, imports, constants and docstrings only."""
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
               ast.AnnAssign, ast.If)  # fmt: skip
    bad = []
    for path in (PKG / "engine").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # docstring
            if not isinstance(node, allowed):
                bad.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)[:60]}")
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                bad.append(f"{path.relative_to(SRC)}:{node.lineno}: conditional code at import")
    assert not bad, "\n".join(bad)


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The graph builder finds function-level imports and package initialisation (so the checks can fail)."""
    modules = {"prsgazer.engine.x": tmp_path / "x.py", "prsgazer.ops.y": tmp_path / "y.py",
               "prsgazer.ops": tmp_path / "o.py", "prsgazer.engine": tmp_path / "e.py"}  # fmt: skip
    (tmp_path / "x.py").write_text("def f():\n    from prsgazer.ops.y import thing\n")
    (tmp_path / "y.py").write_text("import prsgazer.engine.x\n")
    graph = {n: _imports(p, n, modules) for n, p in modules.items() if p.exists()}
    assert graph["prsgazer.engine.x"] == {"prsgazer.ops", "prsgazer.ops.y"}  # the package it initialises too
    assert graph["prsgazer.ops.y"] == {"prsgazer.engine", "prsgazer.engine.x"}
    assert _cycles(graph) == [["prsgazer.engine.x", "prsgazer.ops.y"]]
