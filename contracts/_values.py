"""Value types of the contract: NIK, KK number, region codes.

Each is an ``Annotated`` type whose validator explains *which part* is wrong, because
the person reading the error is at a service desk with a card in hand.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from contracts._patterns import DATE_2000S, DATE_TIME_2000S, kk_pattern, nik_pattern, region_pattern, village_pattern
from contracts._personal import Mask, Personal, PersonalData

__all__ = [
    "NIK",
    "PROVINCES",
    "BpjsCardNumber",
    "KKNumber",
    "MaskedNIK",
    "NikParts",
    "PlateNumber",
    "PositiveRupiah",
    "RegionCode",
    "Rupiah",
    "ThisCenturyDate",
    "ThisCenturyDateTime",
    "VillageCode",
    "VirtualAccountNumber",
    "check_plausible",
    "normalise_plate",
    "parse_nik",
]

#: Kemendagri province codes (Permendagri 2022 numbering, Papua split included).
PROVINCES: dict[str, str] = {
    "11": "ACEH", "12": "SUMATERA UTARA", "13": "SUMATERA BARAT", "14": "RIAU", "15": "JAMBI",
    "16": "SUMATERA SELATAN", "17": "BENGKULU", "18": "LAMPUNG", "19": "KEPULAUAN BANGKA BELITUNG",
    "21": "KEPULAUAN RIAU", "31": "DKI JAKARTA", "32": "JAWA BARAT", "33": "JAWA TENGAH",
    "34": "DI YOGYAKARTA", "35": "JAWA TIMUR", "36": "BANTEN", "51": "BALI", "52": "NUSA TENGGARA BARAT",
    "53": "NUSA TENGGARA TIMUR", "61": "KALIMANTAN BARAT", "62": "KALIMANTAN TENGAH",
    "63": "KALIMANTAN SELATAN", "64": "KALIMANTAN TIMUR", "65": "KALIMANTAN UTARA",
    "71": "SULAWESI UTARA", "72": "SULAWESI TENGAH", "73": "SULAWESI SELATAN", "74": "SULAWESI TENGGARA",
    "75": "GORONTALO", "76": "SULAWESI BARAT", "81": "MALUKU", "82": "MALUKU UTARA", "91": "PAPUA",
    "92": "PAPUA BARAT", "93": "PAPUA SELATAN", "94": "PAPUA TENGAH", "95": "PAPUA PEGUNUNGAN",
    "96": "PAPUA BARAT DAYA",
}  # fmt: skip


def _error(kind: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context or None)


def _digits(value: object, what: str, length: int) -> str:
    # A number would already have lost its leading zeros, so only strings are accepted.
    if not isinstance(value, str):
        raise _error(f"{what}_type", f"{what.upper()} must be a string of {length} digits, not a number")
    text = value.strip()
    if len(text) != length or not text.isascii() or not text.isdigit():
        raise _error(
            f"{what}_format",
            f"{what.upper()} must be exactly {length} digits; got {{got}} characters"
            + ("" if text.isdigit() else " including non-digits"),
            got=len(text),
        )
    return text


def _check_province(code: str, what: str) -> None:
    if code[:2] not in PROVINCES:
        raise _error(
            f"{what}_province",
            f"{what.upper()} region part: province code '{{code}}' (digits 1-2) is not an Indonesian province",
            code=code[:2],
        )


@dataclass(frozen=True, slots=True)
class NikParts:
    """The parts a NIK is made of: ``PP KK CC DDMMYY SSSS``."""

    region: str
    birth_date: dt.date
    female: bool
    serial: str


def _birth_date(ddmmyy: str, female: bool, today: dt.date) -> dt.date | None:
    day, month, yy = int(ddmmyy[:2]) - (40 if female else 0), int(ddmmyy[2:4]), int(ddmmyy[4:])
    # The NIK keeps two digits of the year: the most recent century that is not in the future.
    for century in (2000, 1900):
        try:
            born = dt.date(century + yy, month, day)
        except ValueError:
            continue
        if born <= today:
            return born
    return None


def parse_nik(value: object, *, today: dt.date | None = None) -> NikParts:
    """Split and check a NIK; raises pydantic's custom error naming the bad part."""
    nik = _digits(value, "nik", 16)
    _check_province(nik, "nik")
    female = int(nik[6:8]) > 40
    born = _birth_date(nik[6:12], female, today or dt.date.today())
    if born is None:
        raise _error(
            "nik_birth_date",
            "NIK birth-date part '{part}' (digits 7-12, DDMMYY, day + 40 for women) is not a real date",
            part=nik[6:12],
        )
    if nik[12:] == "0000":
        raise _error("nik_serial", "NIK serial part (digits 13-16) must not be 0000")
    return NikParts(region=nik[:6], birth_date=born, female=female, serial=nik[12:])


def _check_nik(value: object) -> str:
    parse_nik(value)
    return str(value).strip()


def _check_kk(value: object) -> str:
    kk = _digits(value, "kk", 16)
    _check_province(kk, "kk")
    if kk[12:] == "0000":
        raise _error("kk_serial", "KK serial part (digits 13-16) must not be 0000")
    return kk


_REGION_LENGTHS = {2: "province", 4: "regency", 6: "district", 10: "village"}


def _check_region(value: object) -> str:
    if not isinstance(value, str):
        raise _error("region_type", "region code must be a string such as '33.28' or '3328'")
    digits = value.strip().replace(".", "")
    if not digits.isascii() or not digits.isdigit() or len(digits) not in _REGION_LENGTHS:
        raise _error(
            "region_format",
            "region code must be 2, 4, 6 or 10 digits (province, regency, district, village), "
            "optionally dotted as in '33.28.10.2001'",
        )
    _check_province(digits, "region")
    parts = [digits[:2], digits[2:4], digits[4:6], digits[6:]]
    return ".".join(p for p in parts if p)


def _digit_string(pattern: str, length: int) -> dict[str, Any]:
    # The JSON Schema only: the validators above give the errors, which say which part is wrong.
    return {"pattern": pattern, "minLength": length, "maxLength": length}


#: Nomor Induk Kependudukan: 16 digits ``PP KK CC DDMMYY SSSS``, always a string.
NIK = Annotated[
    str,
    BeforeValidator(_check_nik),
    Field(
        examples=["3328104505900001"],
        description="The resident's NIK (Nomor Induk Kependudukan), personal data: 16 digits PP KK CC DDMMYY "
        "SSSS, a real province, a real birth date (day + 40 for women) and a serial other than 0000.",
        json_schema_extra=_digit_string(nik_pattern(PROVINCES), 16),
    ),
    Personal(PersonalData.NIK, Mask(keep_start=4, keep_end=2)),
]

_NIK_MASK = Mask(keep_start=4, keep_end=2)
_MASKED_NIK = re.compile(r"[0-9]{4}\*{10}[0-9]{2}")


def _mask_nik(value: object) -> str:
    # A full NIK is checked, then masked on the spot, so that a model holding this type never holds a NIK in
    # clear, whoever builds it; a masked one (read back from storage or from the hub's answer) passes as it is.
    if isinstance(value, str) and _MASKED_NIK.fullmatch(value.strip()):
        return value.strip()
    return _NIK_MASK.apply(_check_nik(value))


#: A NIK as the hub keeps and shows it once it needs no more: its first 4 and last 2 digits (``3328**********01``).
#: Deliberately not marked :class:`Personal` NIK: it names no data subject, so it must never be audited as one.
MaskedNIK = Annotated[
    str,
    BeforeValidator(_mask_nik),
    Field(
        examples=["3328**********01"],
        description="The NIK masked: first 4 and last 2 digits.",
        json_schema_extra={"pattern": f"^{_MASKED_NIK.pattern}$", "minLength": 16, "maxLength": 16},
    ),
]

#: Family card (Kartu Keluarga) number: 16 digits, region of issue first.
KKNumber = Annotated[
    str,
    BeforeValidator(_check_kk),
    Field(
        examples=["3328101203150007"],
        description="Family card (Kartu Keluarga) number, personal data: 16 digits, a real province of issue first "
        "and a serial other than 0000.",
        json_schema_extra=_digit_string(kk_pattern(PROVINCES), 16),
    ),
    Personal(PersonalData.KK_NUMBER, Mask(keep_start=4, keep_end=2)),
]

#: Kemendagri region code, normalised to the dotted form: ``33``, ``33.28``, ``33.28.10``, ``33.28.10.2001``.
RegionCode = Annotated[
    str,
    AfterValidator(_check_region),
    Field(
        examples=["33.28.10.2001"],
        description="Kemendagri region code of a real province: 2, 4, 6 or 10 digits (province, regency, district, "
        "village), dotted as in 33.28.10.2001 or not; answered in the dotted form.",
        json_schema_extra={"pattern": region_pattern(PROVINCES), "minLength": 2, "maxLength": 13},
    ),
]


def _check_village(value: str) -> str:
    if value.count(".") != 3:
        raise _error("village_code", "village_code must name a village: 10 digits such as 33.28.10.2001")
    return value


#: The code of a village (kelurahan or desa): a :data:`RegionCode` of all 10 digits.
VillageCode = Annotated[
    str,
    AfterValidator(_check_region),
    AfterValidator(_check_village),
    Field(
        examples=["33.28.10.2001"],
        description="Kemendagri code of a village (kelurahan or desa): 10 digits, dotted as in 33.28.10.2001 or not.",
        json_schema_extra={"pattern": village_pattern(PROVINCES), "minLength": 10, "maxLength": 13},
    ),
]


def _check_card(value: object) -> str:
    return _digits(value, "card number", 13)


#: BPJS Kesehatan card number (no. kartu): 13 digits, always a string.
BpjsCardNumber = Annotated[
    str,
    BeforeValidator(_check_card),
    Field(
        examples=["0001234567890"],
        description="BPJS Kesehatan card number (nomor kartu), personal data: 13 digits.",
        json_schema_extra=_digit_string("^[0-9]{13}$", 13),
    ),
    Personal(PersonalData.CARD_NUMBER, Mask(keep_end=4)),
]

_PLATE = re.compile(r"^([A-Z]{1,2})\s*([1-9][0-9]{0,3})\s*([A-Z]{0,3})$")


def normalise_plate(value: object) -> str:
    """``g-1234-ab``, ``G1234AB`` and ``G 1234 AB`` are all ``G 1234 AB``; anything else is refused."""
    if not isinstance(value, str):
        raise _error("plate_type", "plate number must be a string such as 'G 1234 AB'")
    text = re.sub(r"[\s.\-]+", " ", value.strip().upper())
    match = _PLATE.match(text)
    if match is None:
        raise _error(
            "plate_format",
            "plate number must be 1-2 region letters, 1-4 digits not starting with 0, and up to 3 letters, "
            "e.g. 'G 1234 AB'",
        )
    return " ".join(part for part in match.groups() if part)


#: Vehicle registration plate (TNKB), normalised to ``G 1234 AB``.
PlateNumber = Annotated[
    str,
    BeforeValidator(normalise_plate),
    Field(
        examples=["G 1234 AB"],
        description="Vehicle registration plate (TNKB), personal data: 1-2 region letters, 1-4 digits not starting "
        "with 0 and up to 3 letters, separated by a space, '-' or '.' or not at all; answered as G 1234 AB.",
        json_schema_extra={
            "pattern": "^[A-Za-z]{1,2}[ .-]?[1-9][0-9]{0,3}(?:[ .-]?[A-Za-z]{1,3})?$",
            "minLength": 2,
            "maxLength": 11,
        },
    ),
    Personal(PersonalData.PLATE, Mask(keep_start=2, keep_end=2)),
]

_MAX_RUPIAH = Decimal("9999999999999999.99")  # SNAP's amount format is 16,2


def _check_rupiah(value: object) -> Decimal:
    # A float has already lost sen (0.1 + 0.2 != 0.3): amounts travel as strings or whole numbers.
    if isinstance(value, float | bool):
        raise _error("money_type", "amounts must be a string such as '150000.00' or an integer, never a float")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise _error("money_format", "amount must be a number of rupiah such as '150000.00'") from None
    if not amount.is_finite() or amount.is_signed() or amount > _MAX_RUPIAH:  # is_signed: "-0" too
        raise _error("money_range", "amount must be between 0 and 9999999999999999.99 rupiah")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise _error("money_precision", "amount has more than 2 decimals (the smallest unit is one sen)")
    return amount.quantize(Decimal("0.01"))


#: Money in rupiah: ``Decimal`` with two decimals, serialised as a string (``"150000.00"``), never a float.
Rupiah = Annotated[
    Decimal,
    BeforeValidator(_check_rupiah),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,16}\.[0-9]{2}$",
            "examples": ["150000.00"],
            "description": "An amount in rupiah with two decimals (sen), as a string; 0 to 9999999999999999.99.",
        }
    ),
]


def _positive(amount: Decimal) -> Decimal:
    if not amount:
        raise _error("money_zero", "amount must be more than 0 rupiah")
    return amount


#: An amount of :data:`Rupiah` that is more than zero: what a bill asks for.
PositiveRupiah = Annotated[
    Decimal,
    BeforeValidator(_check_rupiah),
    AfterValidator(_positive),
    WithJsonSchema(
        {
            "type": "string",
            # Some digit other than 0; the length keeps the rupiah to 16 digits.
            "pattern": r"^(?:0*[1-9][0-9]*\.[0-9]{2}|0+\.(?:0[1-9]|[1-9][0-9]))$",
            "maxLength": 19,
            "examples": ["150000.00"],
            "description": "An amount in rupiah with two decimals (sen), as a string; 0.01 to 9999999999999999.99.",
        }
    ),
]


def _check_virtual_account(value: object) -> str:
    if not isinstance(value, str):
        raise _error("va_type", "virtual account number must be a string of digits")
    # SNAP pads the company code with spaces; people type the digits only.
    text = value.replace(" ", "")
    if not text.isascii() or not text.isdigit() or not 8 <= len(text) <= 28:
        raise _error("va_format", "virtual account number must be 8 to 28 digits")
    return text


#: A bank virtual account number, digits only (SNAP's space padding removed). Personal data: the bank issues it
#: for one customer's bill, so it names who pays (UU 27/2022 counts personal financial data as specific data).
VirtualAccountNumber = Annotated[
    str,
    BeforeValidator(_check_virtual_account),
    Field(
        examples=["8812333280807098"],
        description="A bank virtual account number, personal data (it names who pays): 8 to 28 digits.",
        json_schema_extra={"pattern": "^[0-9]{8,28}$", "minLength": 8, "maxLength": 28},
    ),
    Personal(PersonalData.ACCOUNT_NUMBER, Mask(keep_start=4, keep_end=2)),
]


_EARLIEST, _LATEST = dt.date(2000, 1, 1), dt.date(2100, 1, 1)


def check_plausible(day: dt.date, field: str) -> None:
    """A service, payment or expiry date in this century: agencies' systems overflow on year 1 or 9999."""
    if not _EARLIEST <= day < _LATEST:
        raise PydanticCustomError(
            "implausible_date", f"{field} must be between {_EARLIEST:%Y} and {_LATEST:%Y}; check the year"
        )


#: A service, payment or expiry date the contract checks with :func:`check_plausible`: its year is 2000-2099.
ThisCenturyDate = Annotated[dt.date, Field(json_schema_extra={"pattern": DATE_2000S})]
#: A time with a time zone whose own date is one :func:`check_plausible` accepts (the zone is checked by the model).
ThisCenturyDateTime = Annotated[dt.datetime, Field(json_schema_extra={"pattern": DATE_TIME_2000S})]
