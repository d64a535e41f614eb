"""Every log line the hub and the plugin write while under test: structlog's and the standard library's."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

import structlog

from hub._logging import configure_logging

__all__ = ["CapturedLogs"]


class _Lines(io.StringIO):
    """A text stream that keeps what is written, safe to write from the hub's thread."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


class _Handler(logging.Handler):
    def __init__(self, lines: _Lines) -> None:
        super().__init__(logging.DEBUG)
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        # The plugin's own stdlib loggers go wherever the deployment sends them; the suite reads them all.
        self._lines.write(f"{record.name} {record.levelname} {record.getMessage()}\n")


class CapturedLogs:
    """Logs at debug level, as JSON lines, from ``start`` to ``stop``; the previous set-up is restored after."""

    def __init__(self) -> None:
        self._lines = _Lines()
        self._handler = _Handler(self._lines)
        self._saved_structlog: dict[str, Any] | None = None
        self._saved_level = logging.NOTSET

    def start(self) -> None:
        self._saved_structlog = structlog.get_config()
        configure_logging("debug", "json", self._lines)  # the hub's own processors: masking included
        root = logging.getLogger()
        self._saved_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self._handler)

    def stop(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._saved_level)
        if self._saved_structlog is not None:
            structlog.configure(**self._saved_structlog)
            self._saved_structlog = None

    def lines(self) -> list[str]:
        return self._lines.text().splitlines()

    def mark(self) -> int:
        """A position to read from later: ``lines_since(mark)`` gives only what came after."""
        return len(self.lines())

    def lines_since(self, mark: int) -> list[str]:
        return self.lines()[mark:]
