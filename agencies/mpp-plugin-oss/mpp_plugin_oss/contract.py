"""The ``business`` contract package: business identities (NIB) as OSS-RBA issues them.

The core contract has no business licensing, so this distribution brings its own operations, its own
personal-data category (the NIB, which names a person when the business is a sole proprietorship) and the
purpose of access that covers them. The hub checks the package like the core before serving it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Self

from contracts import (
    NIK,
    Contract,
    ContractPackage,
    Mask,
    Operation,
    Personal,
    PersonalCategory,
    PersonalData,
    PurposeDeclaration,
    RegionCode,
)
from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

__all__ = [
    "CONTRACT",
    "NIB_CATEGORY",
    "PACKAGE_VERSION",
    "Business",
    "BusinessActivity",
    "BusinessActorType",
    "BusinessAddress",
    "BusinessList",
    "BusinessScale",
    "LegalForm",
    "NibConfirmation",
    "NibLookup",
    "NibQuery",
    "NibStatus",
    "RiskLevel",
]

#: The package's own version (semver): its major part names the subjects, ``mpp.v1.business.*``.
PACKAGE_VERSION = "1.0.0"

#: An NIB names the business it was issued to; for a sole proprietor, that business is a person.
NIB_CATEGORY = PersonalCategory(
    code="nib",
    description="Nomor Induk Berusaha (OSS-RBA): for a sole proprietorship it identifies the owner, a person",
    identifies_subject=True,
)

_INITIALS = Mask(initials=True)


def _check_nib(value: object) -> str:
    # A number would already have lost its leading zeros, so only strings are accepted.
    if not isinstance(value, str):
        raise PydanticCustomError("nib_type", "NIB must be a string of 13 digits, not a number")
    text = value.strip()
    if len(text) != 13 or not text.isascii() or not text.isdigit():
        raise PydanticCustomError(
            "nib_format",
            "NIB must be exactly 13 digits, as printed on the NIB document; got {got} characters"
            + ("" if text.isdigit() else " including non-digits"),
            {"got": len(text)},
        )
    return text


#: Nomor Induk Berusaha: 13 digits, always a string.
Nib = Annotated[
    str,
    BeforeValidator(_check_nib),
    Field(
        examples=["9120001234567"],
        description="The NIB (Nomor Induk Berusaha) OSS-RBA issued: 13 digits; personal data for a sole proprietor.",
        json_schema_extra={"pattern": "^[0-9]{13}$", "minLength": 13, "maxLength": 13},
    ),
    Personal(NIB_CATEGORY, Mask(keep_start=4, keep_end=2)),
]

# For a sole proprietor OSS records the owner's own name as the business's name, so it is masked like one.
BusinessName = Annotated[
    str,
    Field(min_length=1, max_length=255, description="The business's registered name; a person's for a sole trader."),
    Personal(PersonalData.NAME, _INITIALS),
]
_AddressText = Annotated[str, Personal(PersonalData.ADDRESS)]


class BusinessActorType(StrEnum):
    """Who holds the NIB (jenis pelaku usaha)."""

    ENTERPRISE = "enterprise"  # badan usaha
    INDIVIDUAL = "individual"  # perseorangan: a sole proprietor
    REPRESENTATIVE_OFFICE = "representative_office"  # kantor perwakilan
    FOREIGN_ENTERPRISE = "foreign_enterprise"  # badan usaha luar negeri


class BusinessScale(StrEnum):
    """Business scale (skala usaha) as OSS-RBA classifies it."""

    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class RiskLevel(StrEnum):
    """The risk level of a business activity under risk-based licensing (PP 5/2021)."""

    LOW = "low"  # rendah: an NIB suffices
    MEDIUM_LOW = "medium_low"  # menengah rendah: NIB and a standard certificate (self-declared)
    MEDIUM_HIGH = "medium_high"  # menengah tinggi: NIB and a verified standard certificate
    HIGH = "high"  # tinggi: NIB and a licence


class NibStatus(StrEnum):
    """The NIB's status (status NIB) in OSS-RBA."""

    ACTIVE = "active"  # aktif
    NOT_YET_ACTIVE = "not_yet_active"  # belum aktif
    PERMITTED_TO_TRADE = "permitted_to_trade"  # diizinkan usaha
    PERMITTED_TO_OPERATE = "permitted_to_operate"  # diizinkan beroperasi
    SUSPENDED = "suspended"  # dibekukan
    REVOKED = "revoked"  # dicabut


class LegalForm(Contract):
    """The business's legal form (jenis perusahaan): OSS-RBA's two-digit code and what it means."""

    code: str = Field(pattern=r"^[0-9]{2}$", examples=["01"], description="OSS-RBA's code of the legal form.")
    description: str = Field(
        min_length=1, max_length=100, examples=["Perseroan Terbatas (PT)"], description="The legal form in words."
    )


class BusinessActivity(Contract):
    """One business activity (a project in OSS-RBA): its KBLI code and the risk level licensing gave it."""

    kbli: str = Field(pattern=r"^[0-9]{5}$", examples=["47111"], description="The activity's KBLI 2020 code: 5 digits.")
    description: str | None = Field(
        default=None, max_length=255, description="The activity as the business described it (uraian usaha)."
    )
    risk: RiskLevel | None = Field(default=None, description="Its risk level; absent where OSS-RBA gives none.")


class BusinessAddress(Contract):
    """Where the business is registered; a sole proprietor's may be their home, so it is personal data."""

    street: _AddressText = Field(max_length=255, description="Street and number, personal data.")
    rt_rw: Annotated[str | None, Personal(PersonalData.ADDRESS)] = Field(
        default=None, max_length=7, examples=["001/004"], description="RT and RW, personal data."
    )
    village: Annotated[str | None, Personal(PersonalData.ADDRESS)] = Field(
        default=None, max_length=50, description="Kelurahan or desa by name, personal data."
    )
    region_code: Annotated[RegionCode | None, Personal(PersonalData.ADDRESS)] = Field(
        default=None, description="Kemendagri code of the business's region (down to the village), personal data."
    )
    postal_code: str | None = Field(default=None, pattern=r"^[0-9]{5}$", description="Postal code.")


class Business(Contract):
    """A business as OSS-RBA registered it under its NIB."""

    nib: Nib
    business_name: BusinessName
    actor_type: BusinessActorType
    legal_form: LegalForm
    scale: BusinessScale | None = Field(default=None, description="Business scale; absent where OSS-RBA gives none.")
    activities: list[BusinessActivity] = Field(description="Its business activities, by KBLI, with their risk.")
    issued_on: dt.date = Field(description="The day OSS-RBA issued the NIB.")
    status: NibStatus
    address: BusinessAddress
    owner_name: Annotated[str | None, Personal(PersonalData.NAME, _INITIALS)] = Field(
        default=None,
        max_length=500,
        description="The owner or person in charge (penanggung jawab) as registered, personal data.",
    )


class NibLookup(Contract):
    """A look-up of a business by its NIB, or of the businesses an owner holds by the owner's NIK: exactly one."""

    nib: Nib | None = Field(default=None, description="The NIB to look up.")
    owner_nik: NIK | None = Field(default=None, description="The NIK of the owner whose businesses to list.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.nib is None) == (self.owner_nik is None):
            raise PydanticCustomError(
                "one_of_nib_owner_nik",
                "give exactly one of nib (the 13-digit NIB) or owner_nik (the owner's 16-digit NIK)",
            )
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The same rule as _exactly_one, in the schema, so a portal knows it before it sends.
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["oneOf"] = [_given("nib"), _given("owner_nik")]
        return schema


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


class BusinessList(Contract):
    """The businesses found: one for an NIB; for an owner, each NIB they hold (none is an empty list)."""

    businesses: list[Business] = Field(description="Each business found.")


class NibQuery(Contract):
    """A check of one NIB."""

    nib: Nib


class NibConfirmation(Contract):
    """That an NIB exists, whose it is by name, and its status; nothing more."""

    nib: Nib
    business_name: BusinessName
    status: NibStatus


CONTRACT = ContractPackage(
    namespace="business",
    version=PACKAGE_VERSION,
    summary="Business identities (NIB) as OSS-RBA, the Ministry of Investment's licensing system, issues them.",
    operations=(
        Operation(
            name="business.nib_lookup",
            summary="Look up a business by its NIB, or the businesses of an owner by the owner's NIK.",
            input=NibLookup,
            output=BusinessList,
            idempotent=True,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
        Operation(
            name="business.nib_confirm",
            summary="Confirm that an NIB exists, with the business's name and the NIB's status.",
            input=NibQuery,
            output=NibConfirmation,
            idempotent=True,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
    ),
    categories=(NIB_CATEGORY,),
    purposes={
        "layanan-perizinan": PurposeDeclaration(
            description="Pelayanan perizinan berusaha: memeriksa NIB dan data pelaku usaha pemohon di MPP",
            legal_basis="PP 5/2021 tentang Penyelenggaraan Perizinan Berusaha Berbasis Risiko (guess: periksa "
            "penggantinya, PP 28/2025); UU 27/2022 tentang Pelindungan Data Pribadi, Pasal 20 ayat (2) huruf e",
            operations=("business.*",),
        ),
    },
)
