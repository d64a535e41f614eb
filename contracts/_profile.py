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
    """Whether one part of a citizen profile came back."""

    OK = "ok"
    FAILED = "failed"


class ProfilePart(Contract, Generic[DataT]):
    """One agency's part of the profile, and where and when it came from, or why it is missing."""

    operation: str = Field(description="The contract operation this part was fetched with.")
    agency: str | None = Field(description="The agency that answered (or should have).")
    status: PartStatus
    fetched_at: dt.datetime = Field(description="When the hub asked.")
    elapsed_ms: float = Field(description="How long the answer took, in milliseconds.")
    data: DataT | None = Field(default=None, description="The agency's answer, when the part came back.")
    error: ContractError | None = Field(default=None, description="Why the part is missing, when it failed.")


class CitizenProfile(Contract):
    """What the mall's agencies know of one resident (identity, health coverage, vehicles), fetched side by side."""

    nik: NIK
    complete: bool = Field(description="True when every part came back.")
    identity: ProfilePart[Resident] = Field(description="The civil registry's record (identity.lookup).")
    health: ProfilePart[Coverage] = Field(description="Health coverage for today (health.coverage).")
    vehicles: ProfilePart[VehicleList] = Field(description="Vehicles registered to the resident.")
