"""Caller-supplied X-Correlation-Id and X-Purpose: well-formed values pass, others are refused unechoed; and each
checked header's published schema takes what its check takes."""

from __future__ import annotations

from collections.abc import Callable

import jsonschema_rs
import pytest

from contracts import ErrorCode, HubError
from hub._headers import (
    CONSENT_REF_MAX,
    CORRELATION_ID_MAX,
    OFFICER_MAX,
    PURPOSE_MAX,
    channel,
    consent_ref,
    correlation_id,
    header_schema,
    officer,
    purpose,
)

ESC = "\x1b"


def _refusal(check: Callable[[str], str | None], value: str) -> str:
    """The message of the invalid_input the check raises for value; it must not contain the value."""
    with pytest.raises(HubError) as caught:
        check(value)
    error = caught.value.error
    assert error.code is ErrorCode.INVALID_INPUT and not error.retryable
    assert value not in error.message and value not in str(caught.value)
    return error.message


@pytest.mark.parametrize(
    "value",
    [
        "a",
        "3f2b8c4e-9d1a-4b6f-8e2a-7c5d9b1e0f3a",
        "01HZX3K9Q8R7S6T5V4W3Y2Z1A0",
        "portal:req.42_retry-1",
        "x" * CORRELATION_ID_MAX,
    ],
)
def test_correlation_id_keeps_a_well_formed_value(value: str) -> None:
    """1 to 64 characters of ASCII letters, digits and . _ : - come back unchanged."""
    assert correlation_id(value) == value


@pytest.mark.parametrize("value", [None, ""])
def test_correlation_id_not_given_is_none(value: str | None) -> None:
    """A missing or empty header means 'not given': None, so the hub makes its own id."""
    assert correlation_id(value) is None


@pytest.mark.parametrize(
    "value",
    [
        f"abc{ESC}[31mred",  # a terminal escape
        "x" * (CORRELATION_ID_MAX + 1),  # 65 characters
        "has space",
        "kode-ñandú",  # non-ASCII letters
        "٣٤٥",  # non-ASCII digits, which \d would take
        "line\n",  # a trailing newline, which $ would let through
        "tab\there",
        "3174012345678901/NIK",  # a slash (and what looks like personal data)
        "\x00",
    ],
)
def test_correlation_id_refuses_anything_else(value: str) -> None:
    """Control characters, spaces, non-ASCII, other punctuation or a 65th character: invalid_input."""
    message = _refusal(correlation_id, value)
    assert f"1 to {CORRELATION_ID_MAX} characters" in message and ". _ : -" in message
    assert "X-Correlation-Id" in message and "leave the header out" in message


@pytest.mark.parametrize("value", ["layanan-kependudukan", "a", "kesehatan2", "p" * PURPOSE_MAX])
def test_purpose_keeps_a_well_formed_code(value: str) -> None:
    """1 to 48 characters of lowercase letters, digits and '-' come back unchanged."""
    assert purpose(value) == value


@pytest.mark.parametrize("value", [None, ""])
def test_purpose_not_given_is_none(value: str | None) -> None:
    """A missing or empty header means 'not given': None (operations that need one say so elsewhere)."""
    assert purpose(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "Layanan-Kependudukan",  # upper case
        f"layanan{ESC}]0;pwned{ESC}\\",  # a terminal title escape
        "p" * (PURPOSE_MAX + 1),
        "layanan kependudukan",
        "layanan_kependudukan",
        "layanan-kependudukan-é",
        "layanan\n",
        "NIK 3174012345678901",
    ],
)
def test_purpose_refuses_anything_else(value: str) -> None:
    """Upper case, control characters, spaces, '_', non-ASCII or a 49th character: invalid_input."""
    message = _refusal(purpose, value)
    assert "X-Purpose" in message and "purpose codes" in message
    assert "lowercase letters, digits and '-'" in message and f"1 to {PURPOSE_MAX}" in message


#: Per header the edge checks: its check, values it keeps, values it refuses (unechoed, as above).
_CHECKS: dict[str, tuple[Callable[[str], str | None], list[str], list[str]]] = {
    "X-Correlation-Id": (
        correlation_id,
        ["a", "3f2b8c4e-9d1a-4b6f-8e2a-7c5d9b1e0f3a", "portal:req.42_retry-1", "x" * CORRELATION_ID_MAX],
        ["x" * (CORRELATION_ID_MAX + 1), "has space", "kode-ñandú", "٣٤٥", "line\n", "3174012345678901/NIK"],
    ),
    "X-Purpose": (
        purpose,
        ["layanan-kependudukan", "a", "kesehatan2", "p" * PURPOSE_MAX],
        ["Layanan-Kependudukan", "p" * (PURPOSE_MAX + 1), "layanan_kependudukan", "layanan\n", f"a{ESC}[0m"],
    ),
    "X-Channel": (channel, ["desk", "portal", "kiosk", "mobile"], ["Desk", "van", "desk ", "web"]),
    "X-Officer": (
        officer,
        ["198703152010121001", "ani.s@desk-3.mpp-tegal", "a", "o" * OFFICER_MAX],
        [".ani", "ani s", "o" * (OFFICER_MAX + 1), "ani/desk", "ani\n"],
    ),
    "X-Consent-Ref": (
        consent_ref,
        ["PDP/2026/000123", "3f2b8c4e-9d1a-4b6f-8e2a-7c5d9b1e0f3a", "urn:consent:1", "c" * CONSENT_REF_MAX],
        ["/PDP/2026", "PDP 2026", "c" * (CONSENT_REF_MAX + 1), "PDP@2026", "ref\n"],
    ),
}


@pytest.mark.parametrize("header", sorted(_CHECKS))
def test_the_published_schema_of_a_header_takes_what_its_check_takes(header: str) -> None:
    """OpenAPI publishes each header with its check's own rule (no copy of it), so the two never disagree: a JSON
    Schema validator, with its ECMA-style regular expressions, keeps and refuses what the check does."""
    check, kept, refused = _CHECKS[header]
    published = jsonschema_rs.Draft202012Validator(header_schema(header))
    for value in kept:
        assert check(value) == value and published.is_valid(value), value
    for value in refused:
        _refusal(check, value)
        assert not published.is_valid(value), value


def test_a_header_schema_is_a_fresh_copy() -> None:
    """Whoever documents a header may add to its schema (FastAPI adds a title) without changing another's."""
    first = header_schema("X-Officer")
    first["title"] = "X-Officer"
    assert "title" not in header_schema("X-Officer")
