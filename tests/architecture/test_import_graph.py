"""The direction of imports inside ``vani/``: no import circles, and control only goes down.

The layers, from the top down. A module may import from its own layer and the layers below it,
never from a layer above:

    4  entry points      vani (create_app), vani.inbound, vani.api, vani.web, vani.commands,
                         vani.jobs, vani.cli, vani.blueprints, vani.lanes, vani.health,
                         vani.metrics_view, vani.config_checks, vani.devserver, and the
                         providers' own pages (vani.providers.<name>.views, ….api_views)
    3  providers         vani.providers
    2  area services     vani.accounts, vani.orgs, vani.ingest, vani.processing, vani.prospects,
                         vani.conversations, vani.mail, vani.notifications, vani.outbound,
                         vani.dashboard, vani.registration, vani.retention, vani.tunnel
    1  engine, models    vani.work, vani.models, vani.egress, vani.tenancy, vani.plugins (the
                         provider contract and the app's registry, which areas reach providers by)
    0  extensions and    vani.extensions, config, vani.crypto, vani.errors, vani.tracing,
       config            vani.metrics, vani.proxy, vani.security, vani.samples, vani.version,
                         vani.payloads

A module's layer is that of the longest listed name it starts with. Every import counts, the ones
inside functions too: a late import still ties two modules. Importing ``a.b.c`` also runs the
package ``a.b`` (its ``__init__``), so it counts as an import of each package above the module too
(but ``vani`` itself, and the packages the importer sits in, which have run already).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "vani"

ENTRY, PROVIDERS, SERVICES, ENGINE, BASE = 4, 3, 2, 1, 0
LAYERS = {
    "vani": ENTRY, "vani.inbound": ENTRY, "vani.api": ENTRY, "vani.web": ENTRY,
    "vani.commands": ENTRY, "vani.jobs": ENTRY, "vani.cli": ENTRY, "vani.blueprints": ENTRY,
    "vani.lanes": ENTRY, "vani.health": ENTRY, "vani.metrics_view": ENTRY,
    "vani.config_checks": ENTRY, "vani.devserver": ENTRY,
    "vani.providers.calendly.views": ENTRY, "vani.providers.calendly.api_views": ENTRY,
    "vani.providers.gmail.views": ENTRY,
    "vani.providers": PROVIDERS,
    "vani.accounts": SERVICES, "vani.orgs": SERVICES, "vani.ingest": SERVICES,
    "vani.processing": SERVICES, "vani.prospects": SERVICES, "vani.conversations": SERVICES,
    "vani.mail": SERVICES, "vani.notifications": SERVICES, "vani.outbound": SERVICES,
    "vani.dashboard": SERVICES, "vani.registration": SERVICES, "vani.retention": SERVICES,
    "vani.tunnel": SERVICES,
    "vani.work": ENGINE, "vani.models": ENGINE, "vani.egress": ENGINE, "vani.tenancy": ENGINE,
    "vani.plugins": ENGINE,
    "vani.extensions": BASE, "vani.crypto": BASE, "vani.errors": BASE, "vani.tracing": BASE,
    "vani.metrics": BASE, "vani.metrics_folder": BASE, "vani.metrics_export": BASE, "vani.proxy": BASE, "vani.security": BASE, "vani.samples": BASE,
    "vani.version": BASE, "vani.payloads": BASE, "vani.memo": BASE, "vani.heap": BASE, "vani.threads": BASE,
}

def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def build_graph() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Every module of ``vani/`` with the ``vani`` modules it imports (and the packages those run on
    the way), and the edges written inside a function."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    late: set[tuple[str, str]] = set()

    def targets(node, name: str) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        package = name if files[name].name == "__init__.py" else name.rpartition(".")[0]
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(base + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]

    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))

        def visit(node, in_function: bool) -> None:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in targets(node, name):
                    while target and target not in files:  # ``import vani.x.y`` of a name
                        target = target.rpartition(".")[0]
                    for reached in [target, *parents(target)]:
                        if reached and reached != name and not name.startswith(reached + "."):
                            graph[name].add(reached)
                            if in_function:
                                late.add((name, reached))
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for child in ast.iter_child_nodes(node):
                visit(child, inner)

        visit(tree, False)
    return graph, late


def parents(module: str) -> list[str]:
    """The packages importing ``module`` runs first, ``vani`` left out: ``vani.a.b`` → ``vani.a``."""
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(2, len(parts))]


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.add(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(frozenset(members))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def layer(module: str) -> int:
    package = module
    while package not in LAYERS:
        package = package.rpartition(".")[0]
        assert package, f"{module!r} has no layer: add its package to LAYERS"
    return LAYERS[package]


def _figures(graph, late) -> str:
    edges = sum(len(t) for t in graph.values())
    return (f"{len(graph)} modules, {edges} imports ({len(late)} inside functions), "
            f"{len(circles(graph))} circle(s)")


def test_every_module_has_a_layer():
    graph, _ = build_graph()
    missing = sorted(m for m in graph if not any(m == p or m.startswith(p + ".") for p in LAYERS))
    assert not missing, f"{len(missing)} module(s) of no layer (add them to LAYERS): {missing}"


def test_no_import_circle():
    graph, late = build_graph()
    found = [sorted(c) for c in circles(graph)]
    assert not found, (f"{len(found)} import circle(s) ({_figures(graph, late)}); "
                       f"break them (move the shared piece down a layer): {found}")


def test_no_import_goes_up_the_layers():
    graph, late = build_graph()
    edges = sorted((a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a))
    assert not edges, f"{len(edges)} import(s) against the layer order ({_figures(graph, late)}): {edges}"


def test_the_graph_sees_late_and_relative_imports():
    graph, late = build_graph()
    assert "vani.blueprints" in graph["vani"]  # inside create_app
    assert ("vani", "vani.blueprints") in late
    assert "vani.work.claims" in graph["vani.work"]  # ``from vani.work.claims import Claim``
    assert "vani.work.wake" in graph["vani.work.sweep"]  # ``from vani.work import wake``


def test_the_graph_sees_the_packages_an_import_runs():
    graph, _ = build_graph()
    assert parents("vani.providers.calendly.sync") == ["vani.providers", "vani.providers.calendly"]
    assert {"vani.providers.calendly", "vani.providers"} <= graph["vani.blueprints"]  # ``….calendly.views``
    assert "vani.registration" in graph["vani.providers.calendly.registrar"]  # ``vani.registration.base``
    assert "vani" not in graph["vani.inbound"]  # the root package has run before anything
    assert "vani.providers.calendly" not in graph["vani.providers.calendly.mapper"]  # its own package
