"""The direction of imports inside ``vani/``: no new import circles, and control only goes down.

The layers, from the top down. A module may import from its own layer and the layers below it;
the engine and models, and everything under them, never import upwards:

    4  entry points      vani (create_app), vani.inbound, vani.api, vani.web, vani.commands,
                         vani.jobs, vani.cli, vani.blueprints, vani.lanes, vani.health,
                         vani.metrics_view, vani.config_checks, vani.devserver
    3  providers         vani.providers
    2  area services     vani.accounts, vani.orgs, vani.ingest, vani.processing, vani.prospects,
                         vani.conversations, vani.mail, vani.notifications, vani.outbound,
                         vani.dashboard, vani.registration, vani.retention, vani.tunnel
    1  engine, models    vani.work, vani.models, vani.egress, vani.tenancy
    0  extensions and    vani.extensions, config, vani.crypto, vani.errors, vani.tracing,
       config            vani.metrics, vani.proxy, vani.security, vani.samples, vani.version,
                         vani.payloads

Every import counts, the ones inside functions too: a late import still ties two modules.
``KNOWN_CIRCLES`` and ``KNOWN_UPWARD`` are ratchets (both empty now): what is left to untangle.
They may only shrink: the test fails on anything not listed, and on a listed item that is gone.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vani"

ENTRY, PROVIDERS, SERVICES, ENGINE, BASE = 4, 3, 2, 1, 0
LAYERS = {
    "vani": ENTRY, "vani.inbound": ENTRY, "vani.api": ENTRY, "vani.web": ENTRY,
    "vani.commands": ENTRY, "vani.jobs": ENTRY, "vani.cli": ENTRY, "vani.blueprints": ENTRY,
    "vani.lanes": ENTRY, "vani.health": ENTRY, "vani.metrics_view": ENTRY,
    "vani.config_checks": ENTRY, "vani.devserver": ENTRY,
    "vani.providers": PROVIDERS,
    "vani.accounts": SERVICES, "vani.orgs": SERVICES, "vani.ingest": SERVICES,
    "vani.processing": SERVICES, "vani.prospects": SERVICES, "vani.conversations": SERVICES,
    "vani.mail": SERVICES, "vani.notifications": SERVICES, "vani.outbound": SERVICES,
    "vani.dashboard": SERVICES, "vani.registration": SERVICES, "vani.retention": SERVICES,
    "vani.tunnel": SERVICES,
    "vani.work": ENGINE, "vani.models": ENGINE, "vani.egress": ENGINE, "vani.tenancy": ENGINE,
    "vani.extensions": BASE, "vani.crypto": BASE, "vani.errors": BASE, "vani.tracing": BASE,
    "vani.metrics": BASE, "vani.proxy": BASE, "vani.security": BASE, "vani.samples": BASE,
    "vani.version": BASE, "vani.payloads": BASE,
}

# Import circles still to untangle (none left: keep it so).
KNOWN_CIRCLES: list[frozenset[str]] = []

# Imports from the engine-and-models layer (or below) into services, providers or entry points.
KNOWN_UPWARD: set[tuple[str, str]] = set()

# Imports against the order between the upper layers: area services that still reach up into
# ``providers`` for the contract types (``providers.base``) and the registry. They go when the
# contract moves to a neutral module and services find providers through the app's registry.
KNOWN_AGAINST_THE_ORDER: set[tuple[str, str]] = {
    ("vani.mail.sync", "vani.providers.gmail.sync"),
    ("vani.mail.sync", "vani.providers.imap.sync"),
    ("vani.orgs.provider_settings", "vani.providers.calendly.oauth"),
    ("vani.registration.registrars", "vani.providers.cal_com.registrar"),
    ("vani.registration.registrars", "vani.providers.calendly.registrar"),
    ("vani.registration.registrars", "vani.providers.kapso.registrar"),
    ("vani.conversations", "vani.providers.base"),
    ("vani.dashboard.events", "vani.providers.registry"),
    ("vani.dashboard.overview", "vani.providers.registry"),
    ("vani.dashboard.urls", "vani.providers.registry"),
    ("vani.ingest", "vani.providers.base"),
    ("vani.prospects.leads", "vani.providers.base"),
    ("vani.mail.mapping", "vani.providers.base"),
    ("vani.processing.events", "vani.providers.registry"),
    ("vani.ingest.refusals", "vani.providers.base"),
    ("vani.registration.registrars", "vani.providers.registry"),
    ("vani.registration.base", "vani.providers.registry"),
    ("vani.orgs.secrets", "vani.providers.base"),
    ("vani.conversations.sending", "vani.providers.registry"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def build_graph() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Every module of ``vani/`` with the ``vani`` modules it imports, and the edges written
    inside a function."""
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
                    if target and target != name:
                        graph[name].add(target)
                        if in_function:
                            late.add((name, target))
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for child in ast.iter_child_nodes(node):
                visit(child, inner)

        visit(tree, False)
    return graph, late


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


def upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets
            if layer(a) <= ENGINE and layer(b) > ENGINE}


def _figures(graph, late) -> str:
    edges = sum(len(t) for t in graph.values())
    return (f"{len(graph)} modules, {edges} imports ({len(late)} inside functions), "
            f"{len(circles(graph))} circle(s), {len(upward(graph))} upward import(s)")


def test_every_module_has_a_layer():
    graph, _ = build_graph()
    missing = sorted(m for m in graph if not any(m == p or m.startswith(p + ".") for p in LAYERS))
    assert not missing, f"{len(missing)} module(s) of no layer (add them to LAYERS): {missing}"


def test_no_new_import_circle():
    graph, late = build_graph()
    found = circles(graph)
    new = [sorted(c) for c in found if not any(c <= known for known in KNOWN_CIRCLES)]
    assert not new, (f"{len(new)} new import circle(s) ({_figures(graph, late)}); "
                     f"break them (move the shared piece down a layer): {new}")
    in_circles = set().union(*found) if found else set()
    untangled = sorted(m for known in KNOWN_CIRCLES for m in known if m not in in_circles)
    assert not untangled, (f"{len(untangled)} module(s) of KNOWN_CIRCLES are no longer in a circle "
                           f"({_figures(graph, late)}); remove them from the list: {untangled}")


def test_engine_and_models_never_import_upwards():
    graph, late = build_graph()
    edges = upward(graph)
    new = sorted(edges - KNOWN_UPWARD)
    assert not new, (f"{len(new)} new upward import(s) from the engine and models into services, "
                     f"providers or entry points ({_figures(graph, late)}): {new}")
    gone = sorted(KNOWN_UPWARD - edges)
    assert not gone, (f"{len(gone)} import(s) of KNOWN_UPWARD are gone ({_figures(graph, late)}); "
                      f"remove them from the list: {gone}")


def test_every_import_goes_down_the_layers():
    graph, late = build_graph()
    edges = {(a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a)}
    new = sorted(edges - KNOWN_AGAINST_THE_ORDER - KNOWN_UPWARD)
    assert not new, (f"{len(new)} new import(s) against the layer order ({_figures(graph, late)}): {new}")
    gone = sorted(KNOWN_AGAINST_THE_ORDER - edges)
    assert not gone, (f"{len(gone)} import(s) of KNOWN_AGAINST_THE_ORDER are gone ({_figures(graph, late)}); "
                      f"remove them from the list: {gone}")


def test_the_graph_sees_late_and_relative_imports():
    graph, late = build_graph()
    assert "vani.blueprints" in graph["vani"]  # inside create_app
    assert ("vani", "vani.blueprints") in late
    assert "vani.work.claims" in graph["vani.work"]  # ``from vani.work.claims import Claim``
    assert "vani.work.wake" in graph["vani.work.sweep"]  # ``from vani.work import wake``
