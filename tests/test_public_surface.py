"""The public surface: what `hub` and `contracts` export is there, documented, sorted, and all a plugin needs.

A plugin (the built-in ones, the test plugins and what `mpp-hub new-plugin` writes) imports only public
modules, so the underscored modules behind `hub` stay free to change.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import contracts
import hub

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"hub": hub, "contracts": contracts}
#: Where plugins live: the built-in ones, the tests' third-party-style ones, and the scaffold's templates.
PLUGIN_SOURCES = (
    REPO / "plugins",
    REPO / "tests" / "plugins",
    REPO / "hub" / "templates" / "plugin",
    *sorted(path for path in (REPO / "agencies").glob("*/mpp_*") if path.is_dir()),  # the agencies' own packages
)


def _own_docstring(value: object) -> str | None:
    """A class's or function's own docstring: not one inherited, nor the signature a dataclass makes up."""
    doc = value.__dict__.get("__doc__") if isinstance(value, type) else getattr(value, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None
    if isinstance(value, type) and dataclasses.is_dataclass(value) and doc.startswith(f"{value.__name__}("):
        return None
    return doc


def _assigned_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple):
        for element in target.elts:
            yield from _assigned_names(element)


def _is_string(node: ast.stmt | None) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _documented_constants(package: types.ModuleType) -> set[str]:
    """Module-level names assigned under a ``#:`` comment, or followed by a string, anywhere in the package."""
    found: set[str] = set()
    for path in Path(package.__file__ or "").parent.rglob("*.py"):
        source = path.read_text()
        lines = source.splitlines()
        body = ast.parse(source).body
        for index, node in enumerate(body):
            if not isinstance(node, ast.Assign | ast.AnnAssign):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            commented = node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#:")
            following = body[index + 1] if index + 1 < len(body) else None
            if commented or _is_string(following):
                found.update(name for target in targets for name in _assigned_names(target))
    return found


def _undocumented(package: types.ModuleType) -> list[str]:
    constants = _documented_constants(package)
    missing = []
    for name in package.__all__:
        value = getattr(package, name)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
            documented = _own_docstring(value) is not None
        else:  # a constant, a type alias, an instance: documented where it is assigned
            documented = name in constants
        if not documented:
            missing.append(name)
    return missing


def _isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: SCREAMING_CASE, then CamelCase, then the rest."""
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


@pytest.mark.parametrize("package", PACKAGES.values(), ids=PACKAGES.keys())
def test_every_exported_name_exists(package: types.ModuleType) -> None:
    assert [name for name in package.__all__ if not hasattr(package, name)] == []


@pytest.mark.parametrize("package", PACKAGES.values(), ids=PACKAGES.keys())
def test_every_exported_name_is_documented(package: types.ModuleType) -> None:
    """Classes and functions have a docstring of their own; constants and aliases a ``#:`` comment."""
    assert _undocumented(package) == []


@pytest.mark.parametrize("package", PACKAGES.values(), ids=PACKAGES.keys())
def test_all_is_sorted_and_has_no_duplicates(package: types.ModuleType) -> None:
    names = list(package.__all__)
    assert sorted(names, key=_isort_style) == names
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("package", PACKAGES.values(), ids=PACKAGES.keys())
def test_a_star_import_gives_exactly_all(package: types.ModuleType) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {package.__name__} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(package.__all__)


def _plugin_sources() -> Iterator[Path]:
    for root in PLUGIN_SOURCES:
        yield from sorted(root.rglob("*.py"))
        yield from sorted(root.rglob("*.py.tmpl"))


def _private_hub_imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("hub._"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module.startswith("hub._"):
                yield node.module
            elif node.module == "hub":
                yield from (f"hub.{alias.name}" for alias in node.names if alias.name.startswith("_"))


def test_no_plugin_imports_a_private_hub_module() -> None:
    """Plugins, and what the scaffold writes, use `hub`, `hub.testing` and `contracts` only."""
    sources = list(_plugin_sources())
    assert any(path.suffix == ".tmpl" for path in sources) and any(path.suffix == ".py" for path in sources)
    offenders: dict[str, list[str]] = {}
    for path in sources:
        if names := sorted(set(_private_hub_imports(ast.parse(path.read_text())))):
            offenders[str(path.relative_to(REPO))] = names
    assert offenders == {}


def test_the_checks_catch_what_they_look_for() -> None:
    """The checks above would notice a private import, an undocumented name and an unsorted list."""
    tree = ast.parse("import hub._bus\nfrom hub._process import Outcome\nfrom hub import _agency, Agency\n")
    assert list(_private_hub_imports(tree)) == ["hub._bus", "hub._process", "hub._agency"]

    @dataclasses.dataclass
    class Bare:
        x: int

    class Child(hub.HttpAgencySettings):
        pass

    assert _own_docstring(Bare) is None and _own_docstring(Child) is None and _own_docstring(hub.Agency) is not None
    assert sorted(["hookimpl", "Agency", "WIB", "__version__"], key=_isort_style) == [
        "WIB", "Agency", "__version__", "hookimpl",
    ]  # fmt: skip
