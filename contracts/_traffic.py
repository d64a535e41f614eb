"""What ops see of each exchange on the bus: a small summary with personal data already masked."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from contracts._base import Contract

__all__ = ["TrafficRecord"]


class TrafficRecord(Contract):
    at: dt.datetime
    correlation_id: str
    operation: str
    agency: str | None
    consumer: str | None
    outcome: str = Field(description='"ok" or the contract error code.')
    latency_ms: float
    request_bytes: int
    response_bytes: int
    worker: str
    subject: str | None = Field(default=None, description="The data subject, masked (3328**********01).")
