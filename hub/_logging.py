"""structlog set-up: JSON lines, with personal data masked by the contract's own markers."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any, TextIO

import orjson
import structlog
from pydantic import BaseModel, SecretStr

from contracts import OPERATIONS, ContractError, Mask, Personal, marked_values, mask_model, mask_text, personal_fields

__all__ = ["CallValues", "configure_logging", "get_logger", "mask_personal_data"]

# Values shorter than this are not looked for in free text: masking every "L" or "2026" would garble the line.
_SHORTEST_HIDDEN = 5


class _PersonalKeys:
    """Personal-data keys, from every model the contract knows (a package's too, once it is registered), so a
    field added to the contract is masked in logs the day it is declared."""

    def __init__(self) -> None:
        self._generation = -1
        self._keys: dict[str, Personal] = {}

    def get(self) -> dict[str, Personal]:
        if self._generation != OPERATIONS.generation:
            models = [m for op in OPERATIONS for m in (op.input, op.output)]
            self._keys, self._generation = personal_fields([*models, ContractError]), OPERATIONS.generation
        return self._keys


_PERSONAL = _PersonalKeys()
_CALL_VALUES: ContextVar[CallValues | None] = ContextVar("mpp_hub_call_values", default=None)


class CallValues:
    """The personal values of the call being served, hidden wherever they turn up in a log line's text.

    Keys tell the masker which values are personal; a value that travels under no such key (the customer number
    an agency's URL path carries, an agency's message quoting it) is found by its text instead.
    """

    def __init__(self) -> None:
        self._values: list[tuple[str, Mask]] = []

    def add(self, model: BaseModel) -> None:
        self._values.extend((text, mask) for text, mask in marked_values(model) if len(text) >= _SHORTEST_HIDDEN)

    def hide(self, text: str) -> str:
        for value, mask in self._values:
            if value in text:
                text = text.replace(value, mask.apply(value))
        return text

    @contextlib.contextmanager
    def bound(self) -> Iterator[CallValues]:
        """Hide these values in every line logged within the block (and the tasks it starts)."""
        token = _CALL_VALUES.set(self)
        try:
            yield self
        finally:
            _CALL_VALUES.reset(token)


def _mask(key: str, value: Any, personal: Mapping[str, Personal], call: CallValues | None) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, BaseModel):
        return mask_model(value)
    if key in personal and value is not None and not isinstance(value, Mapping | list):
        return personal[key].mask.apply(value)
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v, personal, call) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(key, v, personal, call) for v in value]
    if isinstance(value, str):
        text = mask_text(value)  # the last line of defence for free text
        return call.hide(text) if call is not None else text
    return value


def mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask every personal value before anything is rendered."""
    personal, call = _PERSONAL.get(), _CALL_VALUES.get()
    return {key: _mask(key, value, personal, call) for key, value in event_dict.items()}


def _orjson_text(event: Any, **options: Any) -> str:
    # One line per call answered: orjson renders it in a tenth of the standard library's time.
    return orjson.dumps(event, default=options.get("default")).decode()


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(_orjson_text)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # httpx logs every request URL at INFO, and some agencies (BPJS) put a NIK or card number in the path.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
