"""Rights on operations, and on the fields of their replies.

A right names an operation (``identity.lookup``), a prefix pattern (``identity.*``) or everything (``*``).
A right on one contract operation may also name the reply fields it releases, as a data-access agreement
(PKS) with Dukcapil does: ``identity.lookup[full_name,birth_date]``. Field names are the reply model's
top-level wire names; a nested model (``address``) is released whole or not at all, because no reply of the
contract needs finer cuts and a part of an address is rarely less identifying than the whole.

Consumers' rights (``hub._consumers``) and the operations a purpose covers (``hub._purposes``) share the
pattern rule and its matching, kept here once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, create_model

from contracts import OPERATIONS, FieldIssue
from contracts._base import Contract

__all__ = [
    "PATTERN_RULE",
    "PERSONAL_EDGE_OPERATIONS",
    "Right",
    "fields_for",
    "matches",
    "narrowest",
    "parse_right",
    "partial_model",
    "personal_operations",
    "release",
    "reply_fields",
    "right_issues",
]

PATTERN_RULE = r"(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)"
_FIELD = r"[a-z][a-z0-9_]{0,63}"
_RIGHT = re.compile(rf"^(?P<pattern>{PATTERN_RULE})(\[(?P<fields>{_FIELD}(,{_FIELD})*)\])?$")
_RIGHT_HINT = (
    'must be an operation name like "identity.lookup", a prefix pattern like "identity.*", or "*"; a right on one '
    'operation may name the reply fields it releases: "identity.lookup[full_name,birth_date]"'
)

#: The HTTP edge's own operations on personal data (hub/_http.py): rights and purposes name them too.
PERSONAL_EDGE_OPERATIONS = ("citizen.profile", "citizen.access_log", "application.submit", "application.read")


@dataclass(frozen=True, slots=True)
class Right:
    pattern: str
    fields: tuple[str, ...] | None = None  # None: every field of the reply

    @property
    def exact(self) -> bool:
        return not (self.pattern == "*" or self.pattern.endswith(".*"))


def matches(pattern: str, operation: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return operation.startswith(pattern[:-1])
    return pattern == operation


@functools.lru_cache(maxsize=1024)
def parse_right(text: str) -> Right | None:
    """The right ``text`` states, or None when it breaks the syntax (checked at registration)."""
    found = _RIGHT.fullmatch(text)
    if found is None:
        return None
    fields = found.group("fields")
    return Right(found.group("pattern"), tuple(dict.fromkeys(fields.split(","))) if fields else None)


def personal_operations() -> list[str]:
    """Every operation a purpose of access can be stated for: the contract's on personal data and the edge's."""
    return [op.name for op in OPERATIONS if op.personal_data] + list(PERSONAL_EDGE_OPERATIONS)


@functools.cache
def reply_fields(operation: str) -> tuple[str, ...]:
    """The top-level wire names of ``operation``'s reply (empty for what is not a contract operation)."""
    if operation not in OPERATIONS:
        return ()
    return tuple(_wire_names(OPERATIONS.get(operation).output))


def _wire_names(model: type[BaseModel]) -> dict[str, str]:
    """Wire name -> attribute name of ``model``'s fields, in declaration order."""
    return {info.alias or name: name for name, info in model.model_fields.items()}


def right_issues(where: str, text: str) -> list[FieldIssue]:
    """What is wrong with one right as written (nothing when it is good); never echoes more than names."""
    right = parse_right(text)
    if right is None:
        return [FieldIssue(field=where, message=_RIGHT_HINT)]
    if right.fields is None:
        return []
    if not right.exact or right.pattern not in OPERATIONS:
        message = f"names reply fields, which only a right on one contract operation can, not {right.pattern!r}"
        return [FieldIssue(field=where, message=message)]
    known = reply_fields(right.pattern)
    unknown = [name for name in right.fields if name not in known]
    if unknown:
        message = f"names reply fields {right.pattern} does not have: {', '.join(unknown)}; it has {', '.join(known)}"
        return [FieldIssue(field=where, message=message)]
    return []


def fields_for(rights: Iterable[str], operation: str) -> tuple[str, ...] | None:
    """The reply fields ``rights`` release of ``operation``; None for all of them.

    A right naming the operation itself is more specific than a pattern and decides alone: ``*`` with
    ``identity.lookup[full_name]`` releases only the name of a lookup. Several such rights add up.
    """
    named = [r for r in map(parse_right, rights) if r is not None and r.exact and r.pattern == operation]
    if not named or any(r.fields is None for r in named):
        return None
    allowed = {name for r in named for name in r.fields or ()}
    return tuple(name for name in reply_fields(operation) if name in allowed)


def narrowest(*limits: Sequence[str] | None) -> tuple[str, ...] | None:
    """The fields every limit allows, in the order of the first; None when none limits."""
    given = [tuple(limit) for limit in limits if limit is not None]
    if not given:
        return None
    return tuple(name for name in given[0] if all(name in other for other in given[1:]))


def release(result: BaseModel, fields: Sequence[str] | None) -> bytes:
    """The reply as it leaves the worker: every field, or only the ``fields`` (wire names) a right releases."""
    if fields is None:
        return result.model_dump_json(by_alias=True).encode()
    names = _wire_names(type(result))
    return result.model_dump_json(by_alias=True, include={names[f] for f in fields if f in names}).encode()


@functools.lru_cache(maxsize=256)
def partial_model(model: type[BaseModel], fields: tuple[str, ...]) -> type[BaseModel]:
    """A model of only ``fields`` of ``model``, each typed and marked as there, for a reply a right cut short.

    The whole model's own cross-field checks (a total that is the sum of its parts) cannot hold on a part, so
    only each field's type is checked; personal-data markers come along, so masking still works.
    """
    names = _wire_names(model)
    definitions: dict[str, Any] = {
        names[f]: (model.model_fields[names[f]].annotation, model.model_fields[names[f]]) for f in fields if f in names
    }
    return create_model(f"{model.__name__}Part", __base__=Contract, __module__=model.__module__, **definitions)
