"""Imports run one way: plugins → kernel, app layer → both. Walks every import statement (module level
and inside functions) with `ast`, so a new back edge or cycle fails here, not in a reviewer's head."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_PACKAGES = ("collector", "detectors", "sinks")
# The app layer: the only modules that may load the plugin registries.
APP = {"spendwatch.app", "spendwatch.cli", "spendwatch.cli_export", "spendwatch.__main__", "spendwatch.daemon",
       "spendwatch.supervisor", "spendwatch.jobs", "spendwatch.demo", "spendwatch.api"}
APP_PACKAGES = ("spendwatch.web",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    out = {}
    for top in ("spendwatch", *PLUGIN_PACKAGES):
        for path in sorted((ROOT / top).rglob("*.py")):
            out[module_name(path)] = path
    return out


MODULES = project_modules()


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of import nodes under `if TYPE_CHECKING:` (annotations only, never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports_of(name: str, path: Path, runtime_only: bool = False) -> set[str]:
    """Project modules `name` imports (resolving relative imports; `from pkg import mod` counts as mod).
    With runtime_only, imports made only for type checkers are left out."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip = _typing_only(tree) if runtime_only else set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}
RUNTIME = {name: imports_of(name, path, runtime_only=True) for name, path in MODULES.items()}


def is_app(name: str) -> bool:
    return name in APP or name.startswith(APP_PACKAGES)


def is_plugin(name: str) -> bool:
    return name.split(".")[0] in PLUGIN_PACKAGES


def test_the_graph_is_read() -> None:
    assert "spendwatch.contracts" in GRAPH["collector"]
    assert "spendwatch.store" in GRAPH["spendwatch.contracts"]


def test_kernel_never_imports_a_plugin_package() -> None:
    back = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if m.startswith("spendwatch") and not is_app(m)
                  for t in ts if is_plugin(t))
    assert back == [], "spine modules importing plugins (only the app layer may): " + ", ".join(back)


def test_kernel_never_imports_the_app_layer() -> None:
    # the package root only re-exports the public API (`spendwatch.open`, imported lazily)
    up = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if m.startswith("spendwatch.") and not is_app(m)
                for t in ts if is_app(t))
    assert up == [], ", ".join(up)


def test_plugins_never_import_the_app_layer() -> None:
    up = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if is_plugin(m) for t in ts if is_app(t))
    assert up == [], ", ".join(up)


def test_plugin_kinds_do_not_import_each_other() -> None:
    cross = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if is_plugin(m) for t in ts
                   if is_plugin(t) and t.split(".")[0] != m.split(".")[0])
    assert cross == [], ", ".join(cross)


def _cycle() -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str]:
        state[n] = 1
        stack.append(n)
        for t in sorted(RUNTIME.get(n, ())):
            # a package's __init__ importing its own submodules (registries loading) is not a cycle of layers
            if t.startswith(n + "."):
                continue
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if not state.get(t):
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return []

    for n in sorted(RUNTIME):
        if not state.get(n):
            found = visit(n)
            if found:
                return found
    return []


def test_no_import_cycle() -> None:
    """Among the imports that run (type-only imports may point anywhere the layering allows)."""
    cycle = _cycle()
    assert cycle == [], " -> ".join(cycle)


@pytest.mark.parametrize("bad", ["from sinks import SINKS", "from collector.openai import X",
                                 "import detectors.spike"])
def test_a_new_back_edge_would_fail(tmp_path: Path, bad: str) -> None:
    """The walker itself: a kernel module with a plugin import is reported."""
    f = tmp_path / "m.py"
    f.write_text(f"def f():\n    {bad}\n")
    MODULES["spendwatch.tmp_probe"] = f
    try:
        assert any(is_plugin(t) for t in imports_of("spendwatch.tmp_probe", f))
    finally:
        del MODULES["spendwatch.tmp_probe"]
