"""The citizen profile: what several agencies know of one resident, fetched side by side."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from contracts._base import Contract
from contracts._errors import ContractError
from contracts._health import Coverage
from contracts._identity import Resident
from contracts._values import NIK
from contracts._vehicle import VehicleList

__all__ = ["CitizenProfile", "PartStatus", "ProfilePart"]

DataT = TypeVar("DataT", bound=BaseModel)


class PartStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


class ProfilePart(Contract, Generic[DataT]):
    """One agency's part of the profile, and where and when it came from, or why it is missing."""

    operation: str
    agency: str | None = Field(description="The agency that answered (or should have).")
    status: PartStatus
    fetched_at: dt.datetime
    elapsed_ms: float
    data: DataT | None = None
    error: ContractError | None = None


class CitizenProfile(Contract):
    nik: NIK
    complete: bool = Field(description="True when every part came back.")
    identity: ProfilePart[Resident]
    health: ProfilePart[Coverage]
    vehicles: ProfilePart[VehicleList]
