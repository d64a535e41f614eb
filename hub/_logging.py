"""structlog set-up: JSON lines, with personal data masked by the contract's own markers."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import orjson
import structlog
from pydantic import BaseModel, SecretStr

from contracts import OPERATIONS, ContractError, mask_model, mask_text, personal_fields

__all__ = ["configure_logging", "get_logger", "mask_personal_data"]

# Personal-data keys, from every model the contract knows, so a field added to the contract is masked
# in logs the day it is declared.
_PERSONAL = personal_fields([m for op in OPERATIONS for m in (op.input, op.output)] + [ContractError])


def _mask(key: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, BaseModel):
        return mask_model(value)
    if key in _PERSONAL and value is not None and not isinstance(value, Mapping | list):
        return _PERSONAL[key].mask.apply(value)
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(key, v) for v in value]
    if isinstance(value, str):
        return mask_text(value)  # the last line of defence for free text
    return value


def mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask every personal value before anything is rendered."""
    return {key: _mask(key, value) for key, value in event_dict.items()}


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
