"""The package's import graph keeps its layers (docs/architecture.md, "Layers"): no module imports from a
layer above its own, and the only import cycles are a registry and its own plug-ins.

Every import counts: module level, inside functions (deferred imports) and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "promptbreeder"

# Bottom to top; a module belongs to the longest prefix that names it. A module may import its own layer
# and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "jsonio", "package_queries"),                               # leaves
    ("backends.base", "backends.chat", "backends.models", "store", "sandbox", "tracking"),  # contracts, storage
    ("config",),                                                          # RunConfig
    ("backends",),                                                        # fake, caching, hf/, lmql/
    ("scorers",),
    ("genomes.base", "genomes.kind"),                                     # the genome contracts
    ("evolution",),                                                       # the one GA engine
    ("genomes.prompt", "genomes.hpo", "genomes.text", "genomes.generation"),  # the kinds
    ("genomes",),                                                         # the registry of kinds
    ("daycare",),
    ("reporting", "importers", "optimizer", "tuning", ""),                # "" is the package itself
    ("app",),
    ("commands", "cli", "__main__"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix == "" and module == "" or prefix and (module == prefix or module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    if best is None:
        raise AssertionError(f"module {module!r} is in no layer: add it to LAYERS and docs/architecture.md")
    return best[1]


def imports_of(module: str) -> set[str]:
    """Our modules that `module` imports; `from a import b` means a.b when that is a module."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            elif base == "promptbreeder" or base.startswith("promptbreeder."):
                base = base.removeprefix("promptbreeder").removeprefix(".")
            else:
                continue
            submodules = [f"{base}.{a.name}".lstrip(".") for a in node.names]
            targets = [s for s in submodules if s in MODULES] or [base]
            found.update(t for t in targets if t in MODULES)
            continue
        else:
            continue
        for target in targets:
            if target == "promptbreeder" or target.startswith("promptbreeder."):
                name = target.removeprefix("promptbreeder").removeprefix(".")
                while name not in MODULES and name:
                    name = name.rpartition(".")[0]
                found.add(name)
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
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
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_layer_above(module):
    upward = sorted(t for t in GRAPH[module] if layer_of(t) > layer_of(module))
    assert not upward, f"{module or 'promptbreeder'} (layer {layer_of(module)}) imports from above: " + ", ".join(
        f"{t} (layer {layer_of(t)})" for t in upward)


def test_the_only_cycles_are_registries_and_their_plug_ins():
    for component in strongly_connected(GRAPH):
        registries = [m for m in component if m.rpartition(".")[2] == "registry"]
        assert registries, f"import cycle without a registry: {sorted(component)}"
        home = registries[0].rpartition(".")[0]
        strays = sorted(m for m in component if m != home and not m.startswith(home + "."))
        assert not strays, f"the cycle of {registries[0]} reaches outside its package: {strays}"


def test_the_checker_sees_deferred_and_type_only_imports():
    # a deferred import inside a function (the text kind builds its genome lazily) and a TYPE_CHECKING one
    assert "genomes.text.genome" in GRAPH["genomes.text.kind"]
    assert "config" in GRAPH["genomes.kind"]
    assert layer_of("genomes.prompt.operators.eda") == layer_of("genomes.prompt")
    assert layer_of("genomes.registry") > layer_of("genomes.prompt") > layer_of("evolution") > layer_of("genomes.kind")
