"""What ops see of each exchange on the bus: a small summary with personal data already masked."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from contracts._base import Contract

__all__ = ["TrafficRecord"]


class TrafficRecord(Contract):
    """One exchange on the bus as ops see it: who asked what of which agency, how it went; nothing personal."""

    at: dt.datetime = Field(description="When the request was served.")
    correlation_id: str = Field(description="The request's correlation id.")
    operation: str = Field(description="The contract operation.")
    agency: str | None = Field(description="The agency that served it.")
    provider: str | None = Field(
        default=None, description="The provider that served it (one bank of several); else the agency's code."
    )
    consumer: str | None = Field(description="The consumer that asked.")
    outcome: str = Field(description='"ok" or the contract error code.')
    latency_ms: float = Field(description="Time to the answer, in milliseconds.")
    request_bytes: int = Field(description="Size of the request on the bus.")
    response_bytes: int = Field(description="Size of the answer on the bus.")
    worker: str = Field(description="The hub worker that served it.")
    subject: str | None = Field(default=None, description="The data subject, masked (3328**********01).")
