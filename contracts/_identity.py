"""Identity models: a resident and a family card as the civil registry knows them, and field-by-field identity
checks."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from contracts._base import Contract
from contracts._personal import INITIALS, REDACT, Personal, PersonalData
from contracts._values import NIK, KKNumber, RegionCode, VillageCode

__all__ = [
    "Address",
    "BloodType",
    "Citizenship",
    "FamilyCard",
    "FamilyMember",
    "FamilyRelationship",
    "FieldMatch",
    "IdentityCheck",
    "IdentityCheckResult",
    "LookupByKK",
    "LookupByNik",
    "MaritalStatus",
    "Region",
    "Religion",
    "Resident",
    "Sex",
]

FullName = Annotated[
    str,
    Field(min_length=1, max_length=200, description="A person's full name as registered, personal data."),
    Personal(PersonalData.NAME, INITIALS),
]
BirthPlace = Annotated[
    str,
    Field(min_length=1, max_length=100, description="Place of birth as registered, personal data."),
    Personal(PersonalData.BIRTH_PLACE, REDACT),
]
BirthDate = Annotated[
    dt.date, Field(description="Date of birth, personal data."), Personal(PersonalData.BIRTH_DATE, REDACT)
]
Neighbourhood = Annotated[
    str,
    Field(pattern=r"^[0-9]{3}$", examples=["005"], description="RT or RW number: 3 digits, personal data (address)."),
    Personal(PersonalData.ADDRESS),
]


class Sex(StrEnum):
    """Sex as the civil registry records it."""

    MALE = "male"
    FEMALE = "female"


class Religion(StrEnum):
    """Religion or belief as the civil registry records it (the six religions, or indigenous belief)."""

    ISLAM = "islam"
    PROTESTANT = "protestant"
    CATHOLIC = "catholic"
    HINDU = "hindu"
    BUDDHIST = "buddhist"
    CONFUCIAN = "confucian"
    INDIGENOUS_BELIEF = "indigenous_belief"


class MaritalStatus(StrEnum):
    """Marital status as the civil registry records it."""

    SINGLE = "single"
    MARRIED = "married"
    DIVORCED = "divorced"
    WIDOWED = "widowed"


class FamilyRelationship(StrEnum):
    """A member's place on the family card (status hubungan dalam keluarga), as the civil registry records it."""

    HEAD = "head"  # KEPALA KELUARGA
    HUSBAND = "husband"  # SUAMI
    WIFE = "wife"  # ISTRI
    CHILD = "child"  # ANAK
    CHILD_IN_LAW = "child_in_law"  # MENANTU
    GRANDCHILD = "grandchild"  # CUCU
    PARENT = "parent"  # ORANG TUA
    PARENT_IN_LAW = "parent_in_law"  # MERTUA
    OTHER_RELATIVE = "other_relative"  # FAMILI LAIN
    HOUSEHOLD_HELP = "household_help"  # PEMBANTU
    OTHER = "other"  # LAINNYA


class Citizenship(StrEnum):
    """Citizenship (kewarganegaraan) as the civil registry records it."""

    INDONESIAN = "indonesian"  # WNI
    FOREIGN = "foreign"  # WNA, with a residence permit


class BloodType(StrEnum):
    """Blood group, with the rhesus factor where the registry has it; health data."""

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
    name: str = Field(examples=["SLAWI"], description="The region's official name, in capitals.")


class Address(Contract):
    """A resident's registered address (alamat) on the family card; personal data down to the village."""

    street: Annotated[str, Personal(PersonalData.ADDRESS)] = Field(
        examples=["JL. MAWAR NO. 12"], description="Street and house number, personal data."
    )
    hamlet: Annotated[str | None, Personal(PersonalData.ADDRESS)] = Field(
        default=None, description="Dusun, where the village has them; personal data."
    )
    rt: Neighbourhood
    rw: Neighbourhood
    village: Annotated[Region, Personal(PersonalData.ADDRESS)] = Field(description="Kelurahan or desa, personal data.")
    district: Region = Field(description="Kecamatan")
    regency: Region = Field(description="Kabupaten or kota")
    province: Region = Field(description="Provinsi")


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
    occupation: str | None = Field(
        default=None, examples=["PETANI/PEKEBUN"], description="Occupation in the registry's own words."
    )
    education: str | None = Field(
        default=None, examples=["SLTA/SEDERAJAT"], description="Highest education in the registry's own words."
    )
    blood_type: Annotated[BloodType | None, Personal(PersonalData.HEALTH)] = Field(
        default=None,
        description="Blood group, health data (personal data); absent where the registry does not know it.",
    )
    family_relationship: str | None = Field(
        default=None, examples=["KEPALA KELUARGA"], description="Place in the family card's household."
    )
    address: Address


class LookupByNik(Contract):
    """A look-up of one resident by NIK."""

    nik: NIK


class LookupByKK(Contract):
    """A look-up of one family card by its number."""

    kk_number: KKNumber


class FamilyMember(Contract):
    """One member of a family card, as the card lists them."""

    nik: NIK
    full_name: FullName
    sex: Sex
    birth_place: BirthPlace
    birth_date: BirthDate
    religion: Religion | None = None
    education: str | None = Field(
        default=None, examples=["SLTA/SEDERAJAT"], description="Highest education in the registry's own words."
    )
    occupation: str | None = Field(
        default=None, examples=["PETANI/PEKEBUN"], description="Occupation in the registry's own words."
    )
    marital_status: MaritalStatus | None = None
    relationship: FamilyRelationship = Field(description="The member's place in the family (hubungan keluarga).")
    citizenship: Citizenship | None = Field(default=None, description="Absent where the registry does not say.")
    father_name: FullName | None = Field(
        default=None, description="Father's full name as registered, personal data; absent where not on file."
    )
    mother_name: FullName | None = Field(
        default=None, description="Mother's full name as registered, personal data; absent where not on file."
    )


class FamilyCard(Contract):
    """A family card (Kartu Keluarga) as the civil registry holds it: its head, its address and its members."""

    kk_number: KKNumber
    head_nik: NIK = Field(description="NIK of the head of the family (kepala keluarga), personal data.")
    head_name: FullName = Field(description="Full name of the head of the family as registered, personal data.")
    address: Address
    members: list[FamilyMember] = Field(
        min_length=1, description="Everyone on the card, in the card's order: the head of the family first."
    )


class IdentityCheck(Contract):
    """Claimed identity to verify against the registry: the NIK and at least one claimed field; only the fields
    given are checked, and the answer says which match (never the registry's values)."""

    nik: NIK = Field(description="NIK of the resident whose identity is claimed, personal data.")
    kk_number: KKNumber | None = Field(default=None, description="Claimed family card number, personal data.")
    full_name: FullName | None = Field(
        default=None, description="Claimed full name, personal data; fuzzy (matched by similarity)."
    )
    birth_place: BirthPlace | None = Field(
        default=None, description="Claimed place of birth, personal data; fuzzy (matched by similarity)."
    )
    birth_date: BirthDate | None = Field(default=None, description="Claimed date of birth, personal data.")
    sex: Sex | None = Field(default=None, description="Claimed sex.")
    occupation: str | None = Field(default=None, max_length=100, description="Claimed occupation.")
    street: Annotated[str | None, Personal(PersonalData.ADDRESS), Field(max_length=200)] = Field(
        default=None, description="Claimed street and house number, personal data; fuzzy (matched by similarity)."
    )
    rt: Neighbourhood | None = Field(default=None, description="Claimed RT (3 digits), personal data.")
    rw: Neighbourhood | None = Field(default=None, description="Claimed RW (3 digits), personal data.")
    village_code: VillageCode | None = Field(
        default=None, description="Claimed village (kelurahan/desa) of the address: its 10-digit code."
    )
    threshold: int = Field(
        default=90, ge=0, le=100, description="Similarity (0-100) a fuzzy field (name, place, street) needs."
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> Self:
        if not self.claimed_fields():
            raise PydanticCustomError(
                "nothing_to_check", "give at least one field to check besides nik (e.g. full_name, birth_date)"
            )
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The same rule as _something_to_check, in the schema: at least one claimed field, and not null.
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["anyOf"] = [_given(name) for name in cls._claimable()]
        return schema

    @classmethod
    def _claimable(cls) -> list[str]:
        return [name for name in cls.model_fields if name not in ("nik", "threshold")]

    def claimed_fields(self) -> list[str]:
        """The claimed fields, in the model's order: the ones given, besides nik and threshold."""
        return [name for name in self._claimable() if getattr(self, name) is not None]


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


class FieldMatch(Contract):
    """Whether one claimed field matched the registry, with the similarity for a fuzzy field."""

    matched: bool = Field(description="True when the claimed value matched the registry's.")
    score: int | None = Field(default=None, ge=0, le=100, description="Similarity for fuzzy fields.")


class IdentityCheckResult(Contract):
    """Which submitted fields match the registry, field by field (the registry's values are not revealed)."""

    nik: NIK
    matched: bool = Field(description="True when every submitted field matched.")
    fields: dict[str, FieldMatch] = Field(description="Each submitted field's match, by field name.")
