"""JSON Schema patterns of the contract's value types, as strict as a regular expression can say.

The validators in :mod:`contracts._values` decide; these patterns tell a portal (and a test generator) the
same rule up front, so a value the published schema accepts is a value the hub accepts. Written in the
subset ECMA 262 (JSON Schema's dialect), Python's ``re`` and Rust's ``regex`` read alike: ``[0-9]``, never
``\\d`` (Python's matches any script's digits, which the validators refuse), no look-around, and anchored
with ``^...$``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DATE_2000S",
    "DATE_TIME_2000S",
    "RAW_TEXT",
    "TEXT",
    "codes",
    "kk_pattern",
    "nik_pattern",
    "region_pattern",
    "village_pattern",
]

# Characters a text value must not start or end with: whitespace as Python, Rust (pydantic strips with it) and
# ECMA 262 each define it, and control characters.
_EDGE = r"\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF"
# Control characters the contract refuses anywhere in text (tab, newline and carriage return are text).
_CONTROL = r"\x00-\x08\x0B\x0C\x0E-\x1F"

#: Text of a contract model: no control characters anywhere, and nothing the model would strip.
TEXT = rf"^(?:[^{_EDGE}](?:[^{_CONTROL}]*[^{_EDGE}])?)?$"
#: Text of a model that keeps every byte as sent (an audit receipt): only the control characters are refused.
RAW_TEXT = rf"^[^{_CONTROL}]*$"

# A serial part (the last 4 digits of a NIK or KK number): anything but 0000.
_SERIAL = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_ANY_MONTH = "0[1-9]|1[0-2]"
_NOT_FEBRUARY = "0[13-9]|1[0-2]"
_LONG_MONTHS = "0[13578]|1[02]"
# Two year digits whose year is a leap year in both centuries a NIK can mean (00 is 2000, which is past).
_LEAP_YEARS = "[02468][048]|[13579][26]"


def codes(values: Iterable[str]) -> str:
    """Two-digit codes as one group: ``11, 12, 21`` is ``(?:1[12]|2[1])``."""
    by_first: dict[str, list[str]] = {}
    for code in sorted(values):
        by_first.setdefault(code[0], []).append(code[1])
    return "(?:" + "|".join(f"{first}[{''.join(seconds)}]" for first, seconds in by_first.items()) + ")"


def _birth_ddmmyy(tens_offset: int) -> str:
    # DDMMYY of a real date; women's days are written +40, so their tens digit is 4 higher.
    tens = [str(digit + tens_offset) for digit in range(4)]
    first_28 = f"{tens[0]}[1-9]|{tens[1]}[0-9]|{tens[2]}[0-8]"
    return (
        f"(?:(?:{first_28})(?:{_ANY_MONTH})|{tens[2]}9(?:{_NOT_FEBRUARY})|{tens[3]}0(?:{_NOT_FEBRUARY})"
        f"|{tens[3]}1(?:{_LONG_MONTHS}))[0-9]{{2}}|{tens[2]}902(?:{_LEAP_YEARS})"
    )


def nik_pattern(provinces: Iterable[str]) -> str:
    """Every NIK :func:`contracts.parse_nik` accepts, and only those: province, area, birth date, serial."""
    return f"^{codes(provinces)}[0-9]{{4}}(?:{_birth_ddmmyy(0)}|{_birth_ddmmyy(4)}){_SERIAL}$"


def kk_pattern(provinces: Iterable[str]) -> str:
    """A family card number: a province of issue, 10 digits, and a serial that is not 0000."""
    return f"^{codes(provinces)}[0-9]{{10}}{_SERIAL}$"


def region_pattern(provinces: Iterable[str]) -> str:
    """A province, regency, district or village code, dotted (``33.28.10.2001``) or not."""
    return rf"^{codes(provinces)}(?:\.?[0-9]{{2}}(?:\.?[0-9]{{2}}(?:\.?[0-9]{{4}})?)?)?$"


def village_pattern(provinces: Iterable[str]) -> str:
    """A village (kelurahan or desa) code: all 10 digits, dotted or not."""
    return rf"^{codes(provinces)}\.?[0-9]{{2}}\.?[0-9]{{2}}\.?[0-9]{{4}}$"


# A real day of a year 2000-2099 (every fourth one is a leap year, 2000 included), as YYYY-MM-DD.
_DAY_2000S = (
    "20[0-9]{2}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    "|20(?:[02468][048]|[13579][26])-02-29"
)
#: A date (RFC 3339 full-date) in 2000-2099: the calendar spelled out, so a generator draws real days only.
DATE_2000S = f"^(?:{_DAY_2000S})$"
#: A time with a time zone (RFC 3339 date-time) whose own date is in 2000-2099.
DATE_TIME_2000S = (
    f"^(?:{_DAY_2000S})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{{1,6}})?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
