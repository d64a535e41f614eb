from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

__all__ = ["Contract"]


class Contract(BaseModel):
    """Base of every contract model: unknown fields are refused, values are immutable, text is clean."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        # A NUL or other control character in text is never data: agencies truncate or choke on it.
        if isinstance(value, str) and any(ord(c) < 32 and c not in "\t\n\r" for c in value):
            raise PydanticCustomError("control_character", "text must not contain control characters such as NUL")
        return value
