"""Contract evolution: which changes between two exported contracts break which operations.

It reads what ``export_json_schema`` writes (``operations.json`` plus one JSON Schema per model) and knows
the subset of JSON Schema pydantic emits: objects with ``properties``/``required``, ``$ref`` into ``$defs``,
``anyOf`` (optional and union fields), ``enum``, arrays, and the usual constraints; an object's own ``anyOf`` or
``oneOf`` (which fields must be given together) is a constraint, compared whole. The rules, per direction:

- a request (``input``) may gain an optional field, accept more values or lose a constraint; a new required
  field, a removed or retyped field, a lost enum value or a tighter constraint breaks the callers;
- a reply (``output``, ``error``) may gain a field (optional, so callers can ignore it) or lose an enum value;
  a removed, retyped or newly optional field, a new enum value or a looser constraint breaks the callers.

A removed operation, or a changed subject or HTTP path, breaks it too. Descriptions, titles and examples
never break anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Change", "ContractDiff", "diff_contracts"]

Direction = Literal["input", "output"]
_PARTS: tuple[tuple[str, Direction], ...] = (("input", "input"), ("output", "output"), ("error", "output"))
_LOWER_BOUNDS = ("minLength", "minItems", "minimum", "exclusiveMinimum", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "maxProperties", "decimal_places")
_EXACT = ("pattern", "format", "const", "max_digits", "multipleOf")
_OBJECT_RULES = ("anyOf", "oneOf")


@dataclass(frozen=True)
class Change:
    """One difference in one operation: where (``input.address.rt``), what happened, and whether it breaks."""

    operation: str
    path: str
    change: str
    breaking: bool


@dataclass
class ContractDiff:
    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return any(c.breaking for c in self.changes)

    def broken_operations(self) -> list[str]:
        return sorted({c.operation for c in self.changes if c.breaking})

    def to_json(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "breaking": self.breaking,
            "broken_operations": self.broken_operations(),
            "changes": [asdict(c) for c in self.changes],
        }

    def render(self) -> str:
        broken = self.broken_operations()
        verdict = f"breaks {len(broken)} operation(s): {', '.join(broken)}" if broken else "no breaking change"
        lines = [f"contract {self.old_version} -> {self.new_version}: {verdict}"]
        for operation in self.operations:
            mine = [c for c in self.changes if c.operation == operation]
            if not mine:
                lines.append(f"  {operation}: unchanged")
                continue
            state = "BREAKING" if any(c.breaking for c in mine) else "compatible"
            lines.append(f"  {operation}: {state}")
            for c in mine:
                lines.append(f"    {'breaking  ' if c.breaking else 'compatible'}  {c.path}: {c.change}")
        return "\n".join(lines)


class _Schema:
    """One model's JSON Schema, with its ``$defs`` to resolve references in."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.root = document
        self.defs: dict[str, Any] = document.get("$defs", {})

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            name = str(node["$ref"]).rsplit("/", 1)[-1]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = {**self.defs.get(name, {}), **rest}
        return node


@dataclass
class _Walk:
    operation: str
    direction: Direction
    old: _Schema
    new: _Schema
    found: list[Change]
    seen: set[tuple[str, str]] = field(default_factory=set)

    def note(self, path: str, change: str, *, breaks_input: bool, breaks_output: bool) -> None:
        breaking = breaks_input if self.direction == "input" else breaks_output
        self.found.append(Change(self.operation, path, change, breaking))

    def compare(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        refs = (str(old.get("$ref", "")), str(new.get("$ref", "")))
        if refs[0] and refs[1]:
            if (path, refs[0] + refs[1]) in self.seen:
                return  # a recursive model, already compared at this place
            self.seen.add((path, refs[0] + refs[1]))
        old, new = self.old.resolve(old), self.new.resolve(new)
        old_variants, new_variants = _variants(old), _variants(new)
        if len(old_variants) > 1 or len(new_variants) > 1:
            self._compare_variants(old_variants, new_variants, path)
            return
        self._compare_one(old, new, path)

    def _compare_variants(self, old: list[dict[str, Any]], new: list[dict[str, Any]], path: str) -> None:
        old_by_kind = {self._kind(self.old, v): v for v in old}
        new_by_kind = {self._kind(self.new, v): v for v in new}
        for kind in old_by_kind.keys() - new_by_kind.keys():
            self.note(path, f"no longer accepts {kind}", breaks_input=True, breaks_output=False)
        for kind in new_by_kind.keys() - old_by_kind.keys():
            self.note(path, f"now also allows {kind}", breaks_input=False, breaks_output=True)
        for kind in old_by_kind.keys() & new_by_kind.keys():
            self.compare(old_by_kind[kind], new_by_kind[kind], path)

    @staticmethod
    def _kind(schema: _Schema, node: dict[str, Any]) -> str:
        resolved = schema.resolve(node)
        if "properties" in resolved:
            return "object"
        if "enum" in resolved and "type" not in resolved:
            return "enum"
        return str(resolved.get("type", "any"))

    def _compare_one(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_type, new_type = old.get("type"), new.get("type")
        if old_type != new_type and not ("properties" in old and "properties" in new):
            change = f"retyped from {old_type or 'any'} to {new_type or 'any'}"
            self.note(path, change, breaks_input=True, breaks_output=True)
            return
        if "properties" in old or "properties" in new:
            self._compare_objects(old, new, path)
        if "items" in old and "items" in new:
            self.compare(old["items"], new["items"], f"{path}[]")
        if isinstance(old.get("additionalProperties"), dict) and isinstance(new.get("additionalProperties"), dict):
            self.compare(old["additionalProperties"], new["additionalProperties"], f"{path}{{}}")
        self._compare_enum(old, new, path)
        self._compare_constraints(old, new, path)

    def _compare_objects(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        prefix = f"{path}." if path else ""
        for name in sorted(old_props.keys() - new_props.keys()):
            self.note(f"{prefix}{name}", "removed", breaks_input=True, breaks_output=True)
        for name in sorted(new_props.keys() - old_props.keys()):
            required = name in new_required
            self.note(
                f"{prefix}{name}",
                f"added ({'required' if required else 'optional'})",
                breaks_input=required,
                breaks_output=False,
            )
        for name in sorted(old_props.keys() & new_props.keys()):
            if name in old_required and name not in new_required:
                self.note(f"{prefix}{name}", "now optional", breaks_input=False, breaks_output=True)
            elif name not in old_required and name in new_required:
                self.note(f"{prefix}{name}", "now required", breaks_input=True, breaks_output=False)
            self.compare(old_props[name], new_props[name], f"{prefix}{name}")
        for key in _OBJECT_RULES:
            if old.get(key) != new.get(key):
                # Which fields must be given is the kind of rule a caller cannot read off one property.
                self.note(path or "(body)", f"{key} rule changed", breaks_input=True, breaks_output=True)

    def _compare_enum(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        if "enum" not in old and "enum" not in new:
            return
        old_values, new_values = _values(old.get("enum")), _values(new.get("enum"))
        if lost := sorted(old_values - new_values):
            self.note(path, f"enum values removed: {', '.join(lost)}", breaks_input=True, breaks_output=False)
        if gained := sorted(new_values - old_values):
            self.note(path, f"enum values added: {', '.join(gained)}", breaks_input=False, breaks_output=True)

    def _compare_constraints(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            before, after = old.get(key), new.get(key)
            if before == after:
                continue
            lower = key in _LOWER_BOUNDS
            if before is None or after is None:
                tighter = after is not None
            else:
                tighter = after > before if lower else after < before
            change = f"{key} {_shown(before)} -> {_shown(after)} ({'tighter' if tighter else 'looser'})"
            self.note(path, change, breaks_input=tighter, breaks_output=not tighter)
        for key in _EXACT:
            if old.get(key) != new.get(key):
                change = f"{key} {_shown(old.get(key))} -> {_shown(new.get(key))}"
                self.note(path, change, breaks_input=True, breaks_output=True)


def _variants(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "properties" in node:
        return [node]  # an object's own anyOf/oneOf says which fields it needs: a rule, not alternatives
    for key in _OBJECT_RULES:
        if key in node:
            return list(node[key])
    return [node]


def _values(values: Any) -> set[str]:
    return {json.dumps(v) for v in values or []}


def _shown(value: Any) -> str:
    return "none" if value is None else json.dumps(value)


def _load(directory: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    index_file = directory / "operations.json"
    try:
        index = json.loads(index_file.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{index_file} not found: give a directory written by `mpp-hub contract export`"
        ) from None
    return str(index["contract_version"]), {op["name"]: op for op in index["operations"]}


def _part(directory: Path, operation: dict[str, Any], part: str) -> _Schema:
    return _Schema(json.loads((directory / operation[part]).read_text()))


def _walk_operation(old_dir: Path, new_dir: Path, old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    name = old["name"]
    for key in ("subject", "http_path"):
        if old.get(key) != new.get(key):
            yield Change(name, key, f"changed from {old.get(key)} to {new.get(key)}", True)
    if old.get("version") != new.get("version"):
        yield Change(name, "version", f"{old.get('version')} -> {new.get('version')}", False)
    for part, direction in _PARTS:
        if part not in old or part not in new:
            continue
        found: list[Change] = []
        old_schema, new_schema = _part(old_dir, old, part), _part(new_dir, new, part)
        _Walk(name, direction, old_schema, new_schema, found).compare(old_schema.root, new_schema.root, part)
        yield from found


def diff_contracts(old_dir: Path, new_dir: Path) -> ContractDiff:
    """Compare two ``mpp-hub contract export`` directories, operation by operation."""
    old_version, old_ops = _load(old_dir)
    new_version, new_ops = _load(new_dir)
    diff = ContractDiff(old_version, new_version, operations=sorted(old_ops.keys() | new_ops.keys()))
    for name in diff.operations:
        if name not in new_ops:
            diff.changes.append(Change(name, "operation", "removed", True))
        elif name not in old_ops:
            diff.changes.append(Change(name, "operation", "added", False))
        else:
            diff.changes.extend(_walk_operation(old_dir, new_dir, old_ops[name], new_ops[name]))
    return diff
