from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from contracts._patterns import RAW_TEXT, TEXT

__all__ = ["Contract"]

#: Control characters other than tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A string schema with one of these already says exactly what it takes.
_SPELLED_OUT = ("pattern", "format", "enum", "const")


def _text_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Publish what every contract model does to text: no control characters, surrounding whitespace stripped.

    Without it the schema would call ``" "`` or a NUL a valid name, and a portal (or a test generator) following
    the schema would meet a refusal it had no way to foresee.
    """
    pattern = TEXT if model.model_config.get("str_strip_whitespace") else RAW_TEXT
    for prop in schema.get("properties", {}).values():
        # Only a field's own text is checked (a list's or a dict's items are not): the field or its ``X | None``.
        for node in (prop, *prop.get("anyOf", ())):
            if node.get("type") == "string" and not any(key in node for key in _SPELLED_OUT):
                node["pattern"] = pattern


class Contract(BaseModel):
    """Base of every contract model: unknown fields are refused, values are immutable, text is clean."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, json_schema_extra=_text_rules)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        # A NUL or other control character in text is never data: agencies truncate or choke on it.
        if isinstance(value, str) and _CONTROL.search(value):
            raise PydanticCustomError("control_character", "text must not contain control characters such as NUL")
        return value
