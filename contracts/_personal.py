"""Personal data marked in the contract itself.

Every field that holds personal data carries a :class:`Personal` marker in its
``Annotated`` metadata.  Logs, traffic views, errors and audit records mask from
these markers, never from hand-kept lists of field names, so a new contract field
is masked everywhere the day it is declared.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "IDENTIFIERS",
    "Mask",
    "Personal",
    "PersonalCategory",
    "PersonalData",
    "marked_values",
    "mask_model",
    "mask_payload",
    "mask_text",
    "personal_fields",
    "personal_marker",
]

_FILL = "*"
_CATEGORY_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class PersonalData(StrEnum):
    """The class of a personal-data field (UU 27/2022 speaks of these as categories)."""

    NIK = "nik"
    KK_NUMBER = "kk_number"
    NAME = "name"
    BIRTH_DATE = "birth_date"
    BIRTH_PLACE = "birth_place"
    ADDRESS = "address"
    HEALTH = "health"
    CARD_NUMBER = "card_number"
    PLATE = "plate"
    PHONE = "phone"
    ACCOUNT_NUMBER = "account_number"  # a bank account or virtual-account number


@dataclass(frozen=True, slots=True)
class PersonalCategory:
    """A class of personal data a package declares for its markers (``Personal(WATER_CUSTOMER)``).

    ``identifies_subject``: a value of this category names a data subject (a customer number, an NIB), so the
    audit log keys its records by it and ``mpp-hub audit who-read`` finds them.
    """

    code: str
    description: str
    identifies_subject: bool = False

    def __post_init__(self) -> None:
        if not _CATEGORY_CODE.match(self.code):
            raise ValueError(f"category code {self.code!r} must be 2-32 lower-case letters, digits or '_'")

    @property
    def value(self) -> str:
        # The same spelling as a PersonalData member's, so a marker reads one way whichever kind it holds.
        return self.code

    def __str__(self) -> str:
        return self.code


#: The core categories that name a data subject, most telling first: the audit log keys its records by the
#: first field of one of these an operation carries (`mpp-hub audit who-read` finds them). A plate is not one: it
#: names a vehicle, whose owner changes, and the owner's NIK travels beside it wherever the contract knows it.
IDENTIFIERS = (
    PersonalData.NIK,
    PersonalData.CARD_NUMBER,
    PersonalData.ACCOUNT_NUMBER,
    PersonalData.KK_NUMBER,
)

# Categories that contract packages declared, by code: a package's own identifiers rank after the core's.
_PACKAGE_CATEGORIES: dict[str, PersonalCategory] = {}
_CORE_CATEGORIES = frozenset(member.value for member in PersonalData)


def category_conflict(category: PersonalCategory) -> str | None:
    """Why ``category`` cannot be registered (its code is the core's, or another package's), or None."""
    known = _PACKAGE_CATEGORIES.get(category.code)
    if category.code in _CORE_CATEGORIES or (known is not None and known != category):
        return f"personal-data category {category.code!r} is already defined: choose another code"
    return None


def register_categories(categories: typing.Iterable[PersonalCategory]) -> None:
    """Make a package's categories known (its markers may use them, and identifiers become audit subjects)."""
    for category in categories:
        if (conflict := category_conflict(category)) is not None:
            raise ValueError(conflict)
        _PACKAGE_CATEGORIES[category.code] = category


def known_category(code: str) -> bool:
    """Whether ``code`` is a core category or one a registered package declared."""
    return code in _CORE_CATEGORIES or code in _PACKAGE_CATEGORIES


def subject_categories() -> tuple[str, ...]:
    """The codes of every category that names a data subject, the core's first, most telling first."""
    packaged = (c.code for c in _PACKAGE_CATEGORIES.values() if c.identifies_subject)
    return (*(c.value for c in IDENTIFIERS), *packaged)


@dataclass(frozen=True, slots=True)
class Mask:
    """How a value is shown where personal data must not be: ``keep:4:2``, ``initials`` or ``redact``."""

    keep_start: int = 0
    keep_end: int = 0
    initials: bool = False

    def apply(self, value: object) -> str:
        text = str(value)
        if self.initials:
            return " ".join(word[:1] + _FILL * (len(word) - 1) for word in text.split())
        if self.keep_start == self.keep_end == 0 or len(text) <= self.keep_start + self.keep_end:
            return _FILL * 3
        hidden = len(text) - self.keep_start - self.keep_end
        return text[: self.keep_start] + _FILL * hidden + text[len(text) - self.keep_end :]

    def __str__(self) -> str:
        if self.initials:
            return "initials"
        if self.keep_start or self.keep_end:
            return f"keep:{self.keep_start}:{self.keep_end}"
        return "redact"


REDACT = Mask()
INITIALS = Mask(initials=True)


@dataclass(frozen=True, slots=True)
class Personal:
    """Field metadata: this field holds personal data of ``category``, shown masked by ``mask``.

    It also writes ``x-personal-data`` and ``x-mask`` into the field's JSON Schema, so
    portals written in other languages learn the same rule from the exported schema.
    """

    category: PersonalData | PersonalCategory
    mask: Mask = REDACT

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["x-personal-data"] = self.category.value
        schema["x-mask"] = str(self.mask)
        return schema


# A field is either personal (masked whole), a nested model (masked field by field) or neither.
_Plan = Mapping[str, "Personal | type[BaseModel]"]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    # Optional[...], list[...], dict[str, ...]: the models are somewhere among the arguments.
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def personal_marker(field: FieldInfo) -> Personal | None:
    """The field's Personal marker, also inside ``X | None``, where pydantic leaves it in the annotation."""
    found = next((m for m in field.metadata if isinstance(m, Personal)), None)
    stack = list(typing.get_args(field.annotation))
    while found is None and stack:
        arg = stack.pop(0)
        found = next((m for m in getattr(arg, "__metadata__", ()) if isinstance(m, Personal)), None)
        stack.extend(typing.get_args(arg))
    return found


@functools.cache
def _plan(model: type[BaseModel]) -> _Plan:
    plan: dict[str, Personal | type[BaseModel]] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        marker = personal_marker(field)
        if marker is not None:
            plan[key] = marker
        elif nested := _models_in(field.annotation):
            plan[key] = nested[0]
    return plan


def _mask_value(value: Any, rule: Personal | type[BaseModel]) -> Any:
    if value is None:
        return None
    if isinstance(rule, Personal):
        return rule.mask.apply(value)
    if isinstance(value, Mapping):
        if _plan(rule).keys() & value.keys():
            return mask_payload(value, rule)
        return {k: _mask_value(v, rule) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v, rule) for v in value]
    return value


def mask_payload(payload: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Mask a JSON-shaped payload of ``model`` by the contract's markers (unknown keys pass through)."""
    plan = _plan(model)
    return {key: _mask_value(value, plan[key]) if key in plan else value for key, value in payload.items()}


def _marked(value: Any, rule: Personal | type[BaseModel]) -> typing.Iterator[tuple[str, Mask]]:
    if value is None:
        return
    if isinstance(rule, Personal):
        yield str(value), rule.mask
    elif isinstance(value, Mapping):
        plan = _plan(rule)
        for key, item in value.items():
            if key in plan:
                yield from _marked(item, plan[key])
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _marked(item, rule)


def marked_values(instance: BaseModel) -> list[tuple[str, Mask]]:
    """Every personal value in ``instance`` (nested models included) as text, with the mask its marker names."""
    return list(_marked(instance.model_dump(mode="json", by_alias=True), type(instance)))


def mask_model(instance: BaseModel) -> dict[str, Any]:
    """The instance as JSON-ready data with every personal field masked."""
    return mask_payload(instance.model_dump(mode="json", by_alias=True), type(instance))


def personal_fields(models: typing.Iterable[type[BaseModel]]) -> dict[str, Personal]:
    """Every key that is personal data in any of ``models`` (nested models included), with its rule."""
    found: dict[str, Personal] = {}
    seen: set[type[BaseModel]] = set()
    stack = list(models)
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for key, rule in _plan(model).items():
            if isinstance(rule, Personal):
                found.setdefault(key, rule)
            else:
                stack.append(rule)
    return found


# In free text a 16-digit run is a NIK or KK number, and a 13-digit one a BPJS card, until proven otherwise.
_IDENTIFIER_DIGITS = re.compile(r"(?<!\d)(?:\d{16}|\d{13})(?!\d)")
_IDENTIFIER = Mask(keep_start=4, keep_end=2)


def mask_text(text: str) -> str:
    """Free text (an agency's message, a log line) with every NIK- or card-like number masked."""
    return _IDENTIFIER_DIGITS.sub(lambda m: _IDENTIFIER.apply(m.group(0)), text)
