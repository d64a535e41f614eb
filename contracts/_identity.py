"""Identity models: a resident as the civil registry knows them, and field-by-field identity checks."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from contracts._base import Contract
from contracts._personal import INITIALS, REDACT, Personal, PersonalData
from contracts._values import NIK, KKNumber, RegionCode

__all__ = [
    "Address",
    "BloodType",
    "FieldMatch",
    "IdentityCheck",
    "IdentityCheckResult",
    "LookupByNik",
    "MaritalStatus",
    "Region",
    "Religion",
    "Resident",
    "Sex",
]

FullName = Annotated[str, Field(min_length=1, max_length=200), Personal(PersonalData.NAME, INITIALS)]
BirthPlace = Annotated[str, Field(min_length=1, max_length=100), Personal(PersonalData.BIRTH_PLACE, REDACT)]
BirthDate = Annotated[dt.date, Personal(PersonalData.BIRTH_DATE, REDACT)]
Neighbourhood = Annotated[str, Field(pattern=r"^\d{3}$", examples=["005"]), Personal(PersonalData.ADDRESS)]


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Religion(StrEnum):
    ISLAM = "islam"
    PROTESTANT = "protestant"
    CATHOLIC = "catholic"
    HINDU = "hindu"
    BUDDHIST = "buddhist"
    CONFUCIAN = "confucian"
    INDIGENOUS_BELIEF = "indigenous_belief"


class MaritalStatus(StrEnum):
    SINGLE = "single"
    MARRIED = "married"
    DIVORCED = "divorced"
    WIDOWED = "widowed"


class BloodType(StrEnum):
    A = "A"
    B = "B"
    AB = "AB"
    O = "O"  # noqa: E741 - the blood group is called O
    A_POS = "A+"
    A_NEG = "A-"
    B_POS = "B+"
    B_NEG = "B-"
    AB_POS = "AB+"
    AB_NEG = "AB-"
    O_POS = "O+"
    O_NEG = "O-"


class Region(Contract):
    """A Kemendagri administrative region: province, regency/city, district or village."""

    code: RegionCode
    name: str = Field(examples=["SLAWI"])


class Address(Contract):
    street: Annotated[str, Personal(PersonalData.ADDRESS)] = Field(examples=["JL. MAWAR NO. 12"])
    hamlet: Annotated[str | None, Personal(PersonalData.ADDRESS)] = Field(default=None, description="Dusun")
    rt: Neighbourhood
    rw: Neighbourhood
    village: Annotated[Region, Personal(PersonalData.ADDRESS)] = Field(description="Kelurahan or desa")
    district: Region = Field(description="Kecamatan")
    regency: Region = Field(description="Kabupaten or kota")
    province: Region


class Resident(Contract):
    """A resident as registered with the civil registry (Dukcapil)."""

    nik: NIK
    kk_number: KKNumber
    full_name: FullName
    birth_place: BirthPlace
    birth_date: BirthDate
    sex: Sex
    religion: Religion | None = None
    marital_status: MaritalStatus | None = None
    occupation: str | None = Field(default=None, examples=["PETANI/PEKEBUN"])
    education: str | None = Field(default=None, examples=["SLTA/SEDERAJAT"])
    blood_type: Annotated[BloodType | None, Personal(PersonalData.HEALTH)] = Field(
        default=None, description="Absent where the registry does not know it."
    )
    family_relationship: str | None = Field(default=None, examples=["KEPALA KELUARGA"])
    address: Address


class LookupByNik(Contract):
    nik: NIK


class IdentityCheck(Contract):
    """Claimed identity to verify against the registry; only the fields given are checked."""

    nik: NIK
    kk_number: KKNumber | None = None
    full_name: FullName | None = None
    birth_place: BirthPlace | None = None
    birth_date: BirthDate | None = None
    sex: Sex | None = None
    occupation: str | None = Field(default=None, max_length=100)
    street: Annotated[str | None, Personal(PersonalData.ADDRESS), Field(max_length=200)] = None
    rt: Neighbourhood | None = None
    rw: Neighbourhood | None = None
    village_code: RegionCode | None = Field(default=None, description="A village (kelurahan/desa): 10 digits.")
    threshold: int = Field(
        default=90, ge=0, le=100, description="Similarity (0-100) a fuzzy field (name, place, street) needs."
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> Self:
        if self.village_code is not None and self.village_code.count(".") != 3:
            raise PydanticCustomError(
                "village_code", "village_code must name a village: 10 digits such as 33.28.10.2001"
            )
        if not self.claimed_fields():
            raise PydanticCustomError(
                "nothing_to_check", "give at least one field to check besides nik (e.g. full_name, birth_date)"
            )
        return self

    def claimed_fields(self) -> list[str]:
        return [
            name
            for name in type(self).model_fields
            if name not in ("nik", "threshold") and getattr(self, name) is not None
        ]


class FieldMatch(Contract):
    matched: bool
    score: int | None = Field(default=None, ge=0, le=100, description="Similarity for fuzzy fields.")


class IdentityCheckResult(Contract):
    """Which submitted fields match the registry, field by field (the registry's values are not revealed)."""

    nik: NIK
    matched: bool = Field(description="True when every submitted field matched.")
    fields: dict[str, FieldMatch]
