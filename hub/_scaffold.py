"""``mpp-hub new-plugin``: a new agency plugin as its own installable package, from the templates in
``hub/templates``.

Without an operation the new plugin serves the core's ``identity.lookup`` as a worked example
(``templates/plugin``). With ``--operation water.bill`` it brings that operation in a contract package of
its own (``templates/operation`` over the first set): the models, the personal-data category, the purpose,
the ``mpp_hub_contract`` hook, and the operation served at the schema hash of the models just generated.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from contracts import OPERATIONS, AgencyKind, ContractPackage
from contracts._packages import CORE_NAMESPACES
from hub import __version__
from hub._agency_http import HttpConnector

__all__ = ["EXAMPLE_OPERATION", "NewOperation", "Scaffold", "ScaffoldError", "new_plugin"]

#: The operation the new plugin serves as its worked example when it brings none of its own.
EXAMPLE_OPERATION = "identity.lookup"
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
# The namespace leaves room for the category code it prefixes (``<namespace>_customer``, at most 32).
_OPERATION = re.compile(r"^(?P<namespace>[a-z][a-z0-9_]{1,22})\.(?P<verb>[a-z][a-z0-9_]{1,31})$")
_MAX_NAME = 80
_SUFFIX = ".tmpl"
_CONTRACT_FILE = "__PACKAGE__/contract.py"


class ScaffoldError(Exception):
    """The plugin cannot be created as asked; the message says what to change."""


def _camel(words: str) -> str:
    return "".join(part.capitalize() for part in words.split("_"))


@dataclass(frozen=True)
class NewOperation:
    """An operation the new plugin adds under its own namespace, e.g. ``water.bill``."""

    namespace: str
    verb: str

    @classmethod
    def parse(cls, name: str) -> NewOperation:
        found = _OPERATION.match(name)
        if found is None:
            raise ScaffoldError(
                f"--operation {name!r} must be NAMESPACE.VERB in lower-case letters, digits and '_', each starting "
                "with a letter (a namespace of 2-23 characters, a verb of 2-32), e.g. water.bill"
            )
        operation = cls(found["namespace"], found["verb"])
        if operation.namespace in CORE_NAMESPACES:
            raise ScaffoldError(
                f"--operation {name!r}: {operation.namespace!r} is a namespace of the hub's core contract "
                f"({', '.join(sorted(CORE_NAMESPACES))}); a plugin adds operations under a namespace of its own, "
                "e.g. water.bill"
            )
        if keyword.iskeyword(operation.verb) or hasattr(HttpConnector, operation.verb):
            raise ScaffoldError(
                f"--operation {name!r}: the verb {operation.verb!r} would name the client's method, and Python "
                "or hub.HttpConnector already uses that name; choose another verb"
            )
        return operation

    @property
    def name(self) -> str:
        return f"{self.namespace}.{self.verb}"

    def replacements(self) -> dict[str, str]:
        return {
            "__OPERATION__": self.name,
            "__NAMESPACE__": self.namespace,
            "__VERB__": self.verb,
            "__VERB_UPPER__": self.verb.upper(),
            "__MODEL__": _camel(self.namespace) + _camel(self.verb),
            "__CATEGORY__": f"{self.namespace}_customer",
            "__PURPOSE__": f"layanan-{self.namespace.replace('_', '-')}",
        }


@dataclass(frozen=True)
class Scaffold:
    code: str
    name: str
    kind: AgencyKind
    operation: NewOperation | None = None
    #: The schema hash the plugin pins for the operation it serves (known once its contract is generated).
    schema_hash: str = ""

    @property
    def package(self) -> str:
        return f"mpp_plugin_{self.code}"

    @property
    def distribution(self) -> str:
        return f"mpp-plugin-{self.code.replace('_', '-')}"

    def replacements(self) -> dict[str, str]:
        tokens = {
            "__CODE_UPPER__": self.code.upper(),
            "__KIND_MEMBER__": self.kind.name,
            "__SCHEMA_HASH__": self.schema_hash,
            "__HUB_VERSION__": __version__,
            "__PACKAGE__": self.package,
            "__CLASS__": _camel(self.code),
            "__DIST__": self.distribution,
            "__NAME__": self.name,
            "__KIND__": self.kind.value,
            "__CODE__": self.code,
        }
        if self.operation is not None:
            tokens |= self.operation.replacements()
        # Longest first, so that __CODE_UPPER__ is not read as __CODE__ followed by text.
        return dict(sorted(tokens.items(), key=lambda item: -len(item[0])))

    def render(self, text: str) -> str:
        for token, value in self.replacements().items():
            text = text.replace(token, value)
        return text


def _check(code: str, name: str) -> None:
    if not _CODE.match(code):
        raise ScaffoldError(
            f"agency code {code!r} must be 2-32 characters: a lower-case letter, then lower-case letters, digits "
            "or '_' (e.g. landoffice, bpn_tegal)"
        )
    if not name.strip() or any(c in name for c in '"\\\n'):
        raise ScaffoldError("--name must be a non-empty line without double quotes or backslashes")
    if len(name) > _MAX_NAME:  # it goes into lines of code, which must stay within the linter's 120
        raise ScaffoldError(f"--name must be at most {_MAX_NAME} characters; shorten it (it is only shown to people)")


def _templates(kind: str) -> Traversable:
    return resources.files("hub") / "templates" / kind


def _files(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                found |= _files(entry, f"{relative}/")
        elif entry.name.endswith(_SUFFIX):
            found[relative[: -len(_SUFFIX)]] = entry
    return found


def _template_set(scaffold: Scaffold) -> dict[str, Traversable]:
    """The plugin's files by their (unrendered) path: the operation's set replaces the example's files."""
    files = _files(_templates("plugin"))
    if scaffold.operation is not None:
        files |= _files(_templates("operation"))
    return files


def _write(target: Path, scaffold: Scaffold, templates: Mapping[str, Traversable]) -> None:
    for relative, template in templates.items():
        path = target / scaffold.render(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(scaffold.render(template.read_text()))


def _package_hash(path: Path, operation: str) -> str:
    """The schema hash of ``operation`` in the contract package just written to ``path``, by importing it.

    The hash is the hub's own (``Operation.schema_hash``) over the generated models themselves, so the pin
    the plugin is written with is exactly what the hub computes when it loads the package.
    """
    module_name = f"_mpp_hub_scaffold_{path.parent.name}_contract"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pydantic resolves the models' annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        package: ContractPackage = module.CONTRACT
    finally:
        del sys.modules[module_name]
    return next(op.schema_hash for op in package.operations if op.name == operation)


def new_plugin(
    code: str,
    *,
    name: str | None = None,
    kind: AgencyKind = AgencyKind.REGIONAL,
    operation: str | None = None,
    parent: Path,
) -> Path:
    """Write the new plugin's package into ``parent/mpp-plugin-<code>`` and return that folder.

    :param operation: ``NAMESPACE.VERB``: the plugin brings this operation in a contract package of its own,
        instead of serving ``identity.lookup`` as an example.
    """
    _check(code, name or code)
    new_operation = None if operation is None else NewOperation.parse(operation)
    scaffold = Scaffold(code=code, name=(name or code).strip(), kind=kind, operation=new_operation)
    target = parent / scaffold.distribution
    if target.exists():
        raise ScaffoldError(f"{target} already exists: choose another agency code or remove the folder first")
    templates = _template_set(scaffold)
    if new_operation is None:
        scaffold = replace(scaffold, schema_hash=OPERATIONS.get(EXAMPLE_OPERATION).schema_hash)
    else:
        _write(target, scaffold, {_CONTRACT_FILE: templates.pop(_CONTRACT_FILE)})
        contract_file = target / scaffold.render(_CONTRACT_FILE)
        scaffold = replace(scaffold, schema_hash=_package_hash(contract_file, new_operation.name))
    _write(target, scaffold, templates)
    return target
