"""The suite's shape: every test module lives in the folder of the area it tests (tests/<area>/,
a package), none directly in tests/; no module under tests/ imports a test module or conftest;
shared helpers live in plain modules (paths, settings, clients, network, factories, fakes, and the
helpers of an area) that anything may import."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def forbidden(module: str) -> bool:
    """A test module (``tests.test_x``, ``tests.work.test_y``) or a conftest."""
    parts = module.split(".")
    return parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts[1:])


def imported_modules(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement loads (``from tests import test_x`` loads ``tests.test_x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")[:len(package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        return [module] + [f"{module}.{alias.name}" for alias in node.names]
    return []


def offending_imports(root: Path = TESTS) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent)
        if "fixtures" in relative.parts:
            continue
        package = ".".join(relative.parent.parts)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            bad = [m for m in imported_modules(node, package) if forbidden(m)]
            if bad:
                found.append(f"{relative}:{node.lineno} imports {bad[0]}")
    return found


def test_no_module_imports_a_test_module_or_conftest():
    found = offending_imports()
    assert not found, ("move the shared helper into a plain module (tests/paths.py, settings.py, clients.py, "
                       "network.py, factories.py or tests/fakes/) and import it from there:\n  " + "\n  ".join(found))


def misplaced_test_modules(root: Path = TESTS) -> list[str]:
    """Test modules directly in tests/, and folders of test modules that are not packages (two
    areas may then each hold a ``test_sync.py``)."""
    found = [f"{p.relative_to(root.parent)} is not in an area's folder" for p in sorted(root.glob("test_*.py"))]
    for folder in sorted({p.parent for p in root.rglob("test_*.py")} - {root}):
        missing = [f for f in [folder, *folder.parents] if f != root.parent and root in [f, *f.parents]
                   and not (f / "__init__.py").is_file()]
        found += [f"{f.relative_to(root.parent)} has no __init__.py" for f in missing]
    return sorted(set(found))


def test_every_test_module_is_in_its_areas_package():
    found = misplaced_test_modules()
    assert not found, "move each test module into tests/<area>/ (a package):\n  " + "\n  ".join(found)


def test_the_check_sees_misplaced_test_modules(tmp_path):
    package = tmp_path / "tests"
    (package / "area" / "part").mkdir(parents=True)
    (package / "plain").mkdir()
    for path in ("__init__.py", "helpers.py", "test_loose.py", "area/__init__.py", "area/test_ok.py",
                 "area/part/test_deep.py", "plain/test_b.py"):
        (package / path).write_text("")
    assert misplaced_test_modules(package) == [
        "tests/area/part has no __init__.py",
        "tests/plain has no __init__.py",
        "tests/test_loose.py is not in an area's folder",
    ]


def test_the_check_sees_every_form_of_import(tmp_path):
    package = tmp_path / "tests"
    (package / "units").mkdir(parents=True)
    (package / "helpers.py").write_text("from tests.paths import ROOT\nimport tests.factories\n")
    (package / "units" / "test_a.py").write_text(
        "import os\n\n\ndef test_x():\n    from tests.test_email_mapping import mail\n")
    (package / "test_b.py").write_text("from tests import conftest\nimport tests.units.test_a\nfrom . import test_c\n")
    assert offending_imports(package) == [
        "tests/test_b.py:1 imports tests.conftest",
        "tests/test_b.py:2 imports tests.units.test_a",
        "tests/test_b.py:3 imports tests.test_c",
        "tests/units/test_a.py:5 imports tests.test_email_mapping",
    ]
