"""Each package declares what its code imports, and imports what it declares: a layer installed
alone (`pip install ./packages/X`) must not fail on an import it did not ask pip for, nor pull
in a library it never uses. Read from the sources and each pyproject.toml, not from an
installed environment (where another layer may have brought the missing library along)."""

from __future__ import annotations

import ast
import pathlib
import re
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = sorted([*ROOT.glob("packages/*/pyproject.toml"), ROOT / "kernels" / "pyproject.toml"])
# Import names that differ from the distribution's name.
DISTRIBUTION = {"haiku": "dm-haiku"}


def _distribution(module: str) -> str:
    return DISTRIBUTION.get(module, module.replace("_", "-").lower())


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).replace("_", "-").lower()


def _imports(src: pathlib.Path) -> set[str]:
    """Top-level modules imported anywhere in the sources (function bodies included)."""
    found: set[str] = set()
    for file in src.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("pyproject", PACKAGES, ids=lambda p: p.parent.name)
def test_declared_dependencies_match_the_imports(pyproject):
    project = tomllib.loads(pyproject.read_text())["project"]
    own = _name(project["name"])
    declared = {_name(r) for r in project.get("dependencies", [])}
    extras = {_name(r) for reqs in project.get("optional-dependencies", {}).values()
              for r in reqs}
    imported = {_distribution(m) for m in _imports(pyproject.parent / "src")} - {own}
    assert imported, f"no imports found under {pyproject.parent / 'src'}"
    missing = imported - declared - extras
    assert not missing, f"{project['name']} imports {sorted(missing)} without declaring them"
    # jaxlib is jax's compiled half, declared beside jax by the kernel package on purpose.
    unused = declared - imported - {"jaxlib"}
    assert not unused, f"{project['name']} declares {sorted(unused)} and never imports them"


def _module_graph(package: pathlib.Path, name: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (anywhere in the file)."""
    graph: dict[str, set[str]] = {}
    for file in package.glob("*.py"):
        deps = graph.setdefault(file.stem, set())
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[0] == name and len(parts) > 1:
                    deps.add(parts[1])
    return graph


SOURCE_PACKAGES = sorted(p for p in ROOT.glob("packages/*/src/*") if (p / "__init__.py").exists())


@pytest.mark.parametrize("package", SOURCE_PACKAGES, ids=lambda p: p.name)
def test_no_import_cycle_between_the_modules_of_a_package(package):
    # A function-level import that works around a cycle counts: the modules are still tangled.
    graph = _module_graph(package, package.name)
    graph.pop("__init__", None)
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module):] + [module]
            pytest.fail(f"{package.name} has an import cycle: {' -> '.join(cycle)}")
        if module in done or module not in graph:
            return
        for dep in sorted(graph[module]):
            visit(dep, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
