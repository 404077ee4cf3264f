"""The package layer rule, checked over the real imports (an AST walk, no import needed).

``docs/architecture.md`` states the order; this test is its enforcement:

- a module may import from its own package and from packages listed *below* its own;
- only ``dvc_pedata.dvcio`` imports DVC (``dvc``, ``dvc_data``, ``dvc_objects``, ``scmrepo``);
- nothing imports ``dvc_pedata.cli`` (``__main__`` runs it);
- there is no import cycle between modules, counting imports inside functions too, so a cycle
  cannot be hidden behind a function-level import;
- a function-level import of a pedata module outside ``cli`` says why in the statement
  (``# lazy: <reason>``): the only accepted reasons are start-up cost (DVC, pyarrow, the warm
  path), never a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dvc_pedata"

# Lowest first. `errors` is a module at the top of the package: every layer may raise.
LAYERS = [
    "errors",
    "base",
    "model",
    "sidecar",
    "dvcio",
    "registry",
    "trust",
    "publish",
    "lineage",
    "releases",
    "resolver",
    "dataframes",
    "external",
    "store",
    "verify",
    "site",
    "cli",
]
# The package facade (``dvc_pedata/__init__.py``: get_path/open/schema) sits above everything
# but the CLI; ``__main__`` runs the CLI.
FACADE = {"dvc_pedata", "dvc_pedata.__main__"}
DVC_ROOTS = {"dvc", "dvc_data", "dvc_objects", "scmrepo"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        out[name] = path
    return out


MODULES = _modules()


def _layer(module: str) -> str | None:
    if module in FACADE:
        return None
    return module.split(".")[1]


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    targets = []
    for alias in node.names:
        sub = f"{mod}.{alias.name}"
        targets.append(sub if sub in MODULES else mod)
    return targets


def _imports(module: str, path: Path) -> list[tuple[str, int, bool, str]]:
    """(imported module, line, inside a function, the source line) for every import."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    found: list[tuple[str, int, bool, str]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                text = "\n".join(lines[child.lineno - 1:child.end_lineno])  # the whole statement
                targets = [a.name for a in child.names] if isinstance(child, ast.Import) else _resolve(module, path, child)
                for target in targets:
                    found.append((target, child.lineno, nested, text))
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # annotations only: never executed
            visit(child, inner)

    visit(tree, False)
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _edges() -> dict[str, list[tuple[str, int, bool, str]]]:
    return {m: _imports(m, p) for m, p in MODULES.items()}


EDGES = _edges()


def layer_violations(edges=None) -> list[str]:
    edges = EDGES if edges is None else edges
    problems = []
    for module, imports in edges.items():
        mine = _layer(module)
        for target, line, _nested, _text in imports:
            root = target.split(".")[0]
            where = f"{module}:{line}"
            if root in DVC_ROOTS and mine != "dvcio":
                problems.append(f"{where} imports {target}: only dvc_pedata.dvcio may import DVC")
            if root != "dvc_pedata" or target in FACADE and target == "dvc_pedata":
                if target == "dvc_pedata" and mine is not None:
                    problems.append(f"{where} imports the package facade (dvc_pedata): import the module itself")
                continue
            theirs = _layer(target)
            if theirs == "cli" and mine != "cli" and module != "dvc_pedata.__main__":
                problems.append(f"{where} imports {target}: nothing imports the CLI")
                continue
            if mine is None or theirs is None or mine == theirs:
                continue
            if theirs not in LAYERS or mine not in LAYERS:
                problems.append(f"{where}: package {theirs if theirs not in LAYERS else mine} is not in LAYERS")
            elif LAYERS.index(theirs) > LAYERS.index(mine):
                problems.append(f"{where} imports {target}: {mine} is below {theirs} in the layer order")
    return problems


def cycles(edges=None) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), imports in functions included."""
    edges = EDGES if edges is None else edges
    graph = {m: sorted({t for t, *_ in imps if t in edges and t != m}) for m, imps in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def unexplained_lazy_imports(edges=None) -> list[str]:
    edges = EDGES if edges is None else edges
    problems = []
    for module, imports in edges.items():
        if _layer(module) == "cli" or module in FACADE:
            continue  # the CLI imports each command's code in its handler: start-up cost, by rule
        for target, line, nested, text in imports:
            if nested and target.startswith("dvc_pedata") and "# lazy:" not in text:
                problems.append(f"{module}:{line} imports {target} inside a function without '# lazy: <reason>'")
    return problems


def test_every_package_is_in_the_layer_order():
    packages = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__"}
    assert packages | modules == set(LAYERS)


def test_imports_follow_the_layer_order():
    assert layer_violations() == []


def test_no_import_cycles():
    assert cycles() == []


def test_function_level_imports_say_why():
    assert unexplained_lazy_imports() == []


@pytest.mark.parametrize(
    "module, added, expected",
    [
        ("dvc_pedata.model.uri", "dvc_pedata.resolver.resolve", "model is below resolver"),
        ("dvc_pedata.registry.repo", "dvc.repo", "only dvc_pedata.dvcio may import DVC"),
        ("dvc_pedata.store.fsck", "dvc_pedata.cli.output", "nothing imports the CLI"),
    ],
)
def test_the_rule_fails_on_an_upward_import(module, added, expected):
    edges = {m: list(v) for m, v in EDGES.items()}
    edges[module].append((added, 1, False, f"import {added}"))
    assert any(expected in p for p in layer_violations(edges))


def test_the_rule_fails_on_a_cycle():
    edges = {m: list(v) for m, v in EDGES.items()}
    edges["dvc_pedata.model.names"].append(("dvc_pedata.model.uri", 1, True, "from x import y  # lazy: test"))
    assert ["dvc_pedata.model.names", "dvc_pedata.model.uri"] in cycles(edges)


def test_every_command_module_is_in_the_command_table():
    from dvc_pedata.cli import COMMANDS

    assert sorted(COMMANDS) == sorted(p.stem for p in (PKG / "cli").glob("cmd_*.py"))


def test_every_check_module_is_in_the_check_table():
    from dvc_pedata.verify.checks import CHECKS

    listed = {fn.__module__.rsplit(".", 1)[1] for _name, fn in CHECKS}
    present = {p.stem for p in (PKG / "verify").glob("*.py")} - {"__init__", "checks", "core", "context", "review", "scope"}
    assert listed == present
