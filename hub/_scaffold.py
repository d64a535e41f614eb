"""``mpp-hub new-plugin``: a new agency plugin as its own installable package, from the templates in
``hub/templates/plugin``.

The new plugin serves ``identity.lookup`` as a worked example against a sandbox of its own: a contract
operation is what a portal can call, and a capability the contract lacks is added to ``contracts/`` first
(see docs/writing-a-plugin.md), never invented by one plugin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from contracts import OPERATIONS, AgencyKind
from hub import __version__

__all__ = ["EXAMPLE_OPERATION", "Scaffold", "ScaffoldError", "new_plugin"]

#: The operation the new plugin serves as its worked example.
EXAMPLE_OPERATION = "identity.lookup"
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_SUFFIX = ".tmpl"


class ScaffoldError(Exception):
    """The plugin cannot be created as asked; the message says what to change."""


@dataclass(frozen=True)
class Scaffold:
    code: str
    name: str
    kind: AgencyKind

    @property
    def package(self) -> str:
        return f"mpp_plugin_{self.code}"

    @property
    def distribution(self) -> str:
        return f"mpp-plugin-{self.code.replace('_', '-')}"

    def replacements(self) -> dict[str, str]:
        # Longest first, so __CODE_UPPER__ is not read as __CODE__ followed by text.
        return {
            "__CODE_UPPER__": self.code.upper(),
            "__KIND_MEMBER__": self.kind.name,
            "__SCHEMA_HASH__": OPERATIONS.get(EXAMPLE_OPERATION).schema_hash,
            "__HUB_VERSION__": __version__,
            "__PACKAGE__": self.package,
            "__CLASS__": "".join(part.capitalize() for part in self.code.split("_")),
            "__DIST__": self.distribution,
            "__NAME__": self.name,
            "__KIND__": self.kind.value,
            "__CODE__": self.code,
        }

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


def _templates() -> Traversable:
    return resources.files("hub") / "templates" / "plugin"


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                found += _files(entry, f"{relative}/")
        elif entry.name.endswith(_SUFFIX):
            found.append((relative[: -len(_SUFFIX)], entry))
    return found


def new_plugin(code: str, *, name: str | None = None, kind: AgencyKind = AgencyKind.REGIONAL, parent: Path) -> Path:
    """Write the new plugin's package into ``parent/mpp-plugin-<code>`` and return that folder."""
    _check(code, name or code)
    scaffold = Scaffold(code=code, name=(name or code).strip(), kind=kind)
    target = parent / scaffold.distribution
    if target.exists():
        raise ScaffoldError(f"{target} already exists: choose another agency code or remove the folder first")
    for relative, template in _files(_templates()):
        path = target / scaffold.render(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(scaffold.render(template.read_text()))
    return target
