from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from contracts import HubError, IdentityCheck, LookupByNik, Region, parse_nik


def _message(**payload: object) -> str:
    with pytest.raises(ValidationError) as caught:
        LookupByNik.model_validate(payload)
    return HubError.from_validation(caught.value, "input").error.message


def test_valid_nik_is_split_into_its_parts() -> None:
    """A NIK is PP KK CC DDMMYY SSSS, with day + 40 for women."""
    parts = parse_nik("3328104505900001")
    assert parts.region == "332810"
    assert parts.birth_date == dt.date(1990, 5, 5)
    assert parts.female is True
    assert parts.serial == "0001"
    assert parse_nik("3515140508680001").female is False


@pytest.mark.parametrize(
    ("nik", "names"),
    [
        ("332810450590001", "exactly 16 digits"),
        ("33281045059000a1", "non-digits"),
        ("9928104505900001", "province code '99'"),
        ("3328103102900001", "birth-date part '310290'"),
        ("3328107205900001", "birth-date part '720590'"),  # day 72 - 40 = 32
        ("3328104513900001", "birth-date part '451390'"),  # month 13
        ("3328104505900000", "serial part"),
    ],
)
def test_malformed_nik_names_the_bad_part(nik: str, names: str) -> None:
    """Each way a NIK can be wrong gets a message that names the part to check on the card."""
    assert names in _message(nik=nik)


def test_nik_must_be_a_string() -> None:
    """An integer NIK is refused: a number loses leading zeros and breaks past 2^53."""
    assert "string" in _message(nik=3328104505900001)


def test_error_never_echoes_the_submitted_value() -> None:
    """invalid_input names the field and part, but never repeats the (personal) value."""
    message = _message(nik="3328103102900001")
    assert "3328103102900001" not in message
    assert message.startswith("Invalid input: nik:")


def test_unknown_field_is_refused_by_name() -> None:
    """A typo in a field name is an error, not a silently ignored field."""
    assert "nikk" in _message(nik="3328104505900001", nikk="x")


def test_feb_29_needs_a_leap_year() -> None:
    """29 Feb is a real date only in a leap year of either century."""
    assert parse_nik("3328102902000001").birth_date == dt.date(2000, 2, 29)
    assert "birth-date" in _message(nik="3328102902010001")


def test_region_codes_normalise_to_dotted_form() -> None:
    """Region codes accept plain digits and keep Kemendagri's dotted form."""
    assert Region(code="3328102001", name="X").code == "33.28.10.2001"
    assert Region(code="33.28", name="KAB. TEGAL").code == "33.28"
    with pytest.raises(ValidationError, match="province"):
        Region(code="00.28", name="X")
    with pytest.raises(ValidationError, match="2, 4, 6 or 10 digits"):
        Region(code="332", name="X")


def test_identity_check_needs_something_to_check() -> None:
    """A verify request with only a NIK has nothing to verify and is refused."""
    with pytest.raises(ValidationError, match="at least one field"):
        IdentityCheck(nik="3328104505900001")
    check = IdentityCheck(nik="3328104505900001", full_name="SRI", birth_date=dt.date(1990, 5, 5))
    assert check.claimed_fields() == ["full_name", "birth_date"]
