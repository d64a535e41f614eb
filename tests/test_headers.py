"""Caller-supplied X-Correlation-Id and X-Purpose: well-formed values pass, others are refused unechoed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts import ErrorCode, HubError
from hub._headers import CORRELATION_ID_MAX, PURPOSE_MAX, correlation_id, purpose

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
