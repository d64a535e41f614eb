"""Translation between Dukcapil's wire format and the contract (see docs/agencies/dukcapil.md).

Dukcapil answers HTTP 200 even for failures, with a Spring-page envelope whose ``content[0]`` is
either a record (upper-case keys, codes as JSON numbers without leading zeros) or an error
``{"RESPON": "..."}``; verify-by-element failures carry ``RESPONSE_CODE`` instead.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import ValidationError

from contracts import (
    Citizenship,
    ErrorCode,
    FamilyCard,
    FamilyMember,
    FamilyRelationship,
    FieldMatch,
    HubError,
    IdentityCheck,
    IdentityCheckResult,
    Resident,
    Sex,
    mask_text,
)
from hub import WIB

AGENCY = "dukcapil"

_SEX = {"LAKI-LAKI": "male", "PEREMPUAN": "female"}
_RELIGION = {
    "ISLAM": "islam",
    "KRISTEN": "protestant",
    "KATHOLIK": "catholic",
    "KATOLIK": "catholic",
    "HINDU": "hindu",
    "BUDHA": "buddhist",
    "BUDDHA": "buddhist",
    "KHONGHUCU": "confucian",
    "KONGHUCU": "confucian",
}
_MARITAL = {"BELUM KAWIN": "single", "KAWIN": "married", "CERAI HIDUP": "divorced", "CERAI MATI": "widowed"}
_BLOOD = {"A", "B", "AB", "O", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"}
_HEAD = "KEPALA KELUARGA"
#: STAT_HBKEL, the member's place on the family card, in SIAK's list of relationships.
_RELATIONSHIP = {
    _HEAD: FamilyRelationship.HEAD,
    "SUAMI": FamilyRelationship.HUSBAND,
    "ISTRI": FamilyRelationship.WIFE,
    "ANAK": FamilyRelationship.CHILD,
    "MENANTU": FamilyRelationship.CHILD_IN_LAW,
    "CUCU": FamilyRelationship.GRANDCHILD,
    "ORANG TUA": FamilyRelationship.PARENT,
    "MERTUA": FamilyRelationship.PARENT_IN_LAW,
    "FAMILI LAIN": FamilyRelationship.OTHER_RELATIVE,
    "PEMBANTU": FamilyRelationship.HOUSEHOLD_HELP,
    "LAINNYA": FamilyRelationship.OTHER,
}
_WORDS = re.compile(r"[A-Z][A-Z /.-]{0,29}")
_CITIZENSHIP = {"WNI": Citizenship.INDONESIAN, "WNA": Citizenship.FOREIGN}
#: What a "Data Tidak Ditemukan" means, by what was asked for.
NO_RESIDENT = "Dukcapil has no resident with this NIK; check the number on the KTP or family card"
NO_FAMILY = "Dukcapil has no family card with this number; check the KK number printed on the card"

#: Verify-by-element keys for each contract field of IdentityCheck.
_CHECK_KEYS = {
    "kk_number": ("NO_KK",),
    "full_name": ("NAMA_LGKP",),
    "birth_place": ("TMPT_LHR",),
    "birth_date": ("TGL_LHR",),
    "sex": ("JENIS_KLMIN",),
    "occupation": ("JENIS_PKRJN",),
    "street": ("ALAMAT",),
    "rt": ("NO_RT",),
    "rw": ("NO_RW",),
    "village_code": ("NO_PROP", "NO_KAB", "NO_KEC", "NO_KEL"),
}
_VERDICT = re.compile(r"^\s*(sesuai|tidak sesuai)\s*(?:\((\d{1,3})\))?\s*$", re.IGNORECASE)


def _garbled(what: str) -> HubError:
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"Dukcapil sent an answer the hub cannot read ({what}); if it persists, report it to the Dukcapil liaison",
        agency=AGENCY,
    )


def records(body: Any, not_found: str = NO_RESIDENT) -> list[dict[str, Any]]:
    """Every record in the envelope's ``content``, or the contract error a ``RESPON`` stands for."""
    if not isinstance(body, dict) or not isinstance(body.get("content"), list) or not body["content"]:
        raise _garbled("no content in the envelope")
    found = [r for r in body["content"] if isinstance(r, dict)]
    # One client reads content[1]: the error may not always come first, so look at every element.
    for record in found:
        if "RESPON" in record:
            raise refusal(str(record["RESPON"]), not_found)
    if not found:
        raise _garbled("content holds no record")
    return found


def first_record(body: Any) -> dict[str, Any]:
    """``content[0]`` of the envelope, or the contract error its ``RESPON`` stands for."""
    return records(body)[0]


def _seconds_to_midnight_wib(now: dt.datetime | None = None) -> float:
    now = (now or dt.datetime.now(WIB)).astimezone(WIB)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), WIB)
    return round((midnight - now).total_seconds())


def refusal(text: str, not_found: str = NO_RESIDENT) -> HubError:
    """Map Dukcapil's ``RESPON`` texts (their case varies by site) to contract errors; ``not_found`` says what
    "tidak ditemukan" means for the call."""
    said = text.strip().lower()
    if "tidak ditemukan" in said:
        return HubError.of(ErrorCode.NOT_FOUND, not_found, agency=AGENCY)
    if "login gagal" in said:
        return HubError.of(
            ErrorCode.AGENCY_ERROR,
            "Dukcapil refused the hub's credentials (Login Gagal): an operator must fix the dukcapil "
            "user_id/password settings",
            agency=AGENCY,
        )
    if "ip" in said.split():
        return HubError.of(
            ErrorCode.AGENCY_ERROR,
            f"Dukcapil refused the hub's client IP ({text.strip()}): fix the dukcapil ip_user setting or have "
            "Dukcapil register this hub's address",
            agency=AGENCY,
        )
    if "kuota" in said:
        return HubError.of(
            ErrorCode.AGENCY_UNAVAILABLE,
            "Dukcapil's daily access quota for this hub is used up; it resets at midnight WIB",
            agency=AGENCY,
            retry_after=_seconds_to_midnight_wib(),
        )
    return HubError.of(ErrorCode.AGENCY_ERROR, f"Dukcapil refused the request: {_quote(text)}", agency=AGENCY)


def _quote(text: str) -> str:
    """An agency's own words, fit to show: NIK-like numbers masked, length capped."""
    return mask_text(text.strip())[:200]


def _code(value: Any, width: int) -> str:
    # Codes arrive as JSON numbers without leading zeros (NO_RT 5, NO_KEC 9); the contract keeps digits.
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise _garbled(f"a code is {type(value).__name__}, not digits")
    return str(value).strip().zfill(width)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _upper(record: dict[str, Any], key: str) -> str:
    return str(record.get(key) or "").strip().upper()


def _address(record: dict[str, Any]) -> dict[str, Any]:
    prop, kab, kec, kel = (
        _code(record[k], w) for k, w in (("NO_PROP", 2), ("NO_KAB", 2), ("NO_KEC", 2), ("NO_KEL", 4))
    )
    return {
        "street": record["ALAMAT"],
        "hamlet": _text(record.get("DUSUN")),
        "rt": _code(record["NO_RT"], 3),
        "rw": _code(record["NO_RW"], 3),
        "village": {"code": f"{prop}.{kab}.{kec}.{kel}", "name": record["KEL_NAME"]},
        "district": {"code": f"{prop}.{kab}.{kec}", "name": record["KEC_NAME"]},
        "regency": {"code": f"{prop}.{kab}", "name": record["KAB_NAME"]},
        "province": {"code": prop, "name": record["PROP_NAME"]},
    }


def _person(record: dict[str, Any]) -> dict[str, Any]:
    """The fields a resident's record and a family member's share, in the contract's spelling."""
    return {
        "nik": _code(record["NIK"], 16),
        "full_name": record["NAMA_LGKP"],
        "birth_place": record["TMPT_LHR"],
        "birth_date": record["TGL_LHR"],
        "sex": _SEX.get(_upper(record, "JENIS_KLMIN")),
        "religion": _RELIGION.get(_upper(record, "AGAMA")),
        "marital_status": _MARITAL.get(_upper(record, "STATUS_KAWIN")),
        "occupation": _text(record.get("JENIS_PKRJN")),
        "education": _text(record.get("PDDK_AKH")),
    }


def _contract_error(exc: KeyError | ValidationError) -> HubError:
    if isinstance(exc, KeyError):
        return _garbled(f"the record lacks {exc.args[0]}")
    fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)}))
    return _garbled(f"the record breaks the contract in: {fields}")


def to_resident(record: dict[str, Any]) -> Resident:
    try:
        blood = (_text(record.get("GOL_DARAH")) or "").upper()
        return Resident.model_validate(
            {
                **_person(record),
                "kk_number": _code(record["NO_KK"], 16),
                "blood_type": blood if blood in _BLOOD else None,
                "family_relationship": _text(record.get("STAT_HBKEL")),
                "address": _address(record),
            }
        )
    except (KeyError, ValidationError) as exc:
        raise _contract_error(exc) from None


def _member(record: dict[str, Any]) -> FamilyMember:
    relationship = _upper(record, "STAT_HBKEL")
    if relationship not in _RELATIONSHIP:
        # A word for a place on the card names no one, and the liaison needs it to fix the map; anything else
        # in the field might, so it is not quoted.
        said = repr(relationship) if _WORDS.fullmatch(relationship) else "(not a word)"
        raise _garbled(f"STAT_HBKEL {said} is not a relationship the hub knows")
    return FamilyMember.model_validate(
        {
            **_person(record),
            "relationship": _RELATIONSHIP[relationship],
            "citizenship": _CITIZENSHIP.get(_upper(record, "KWRNGRN")),
            "father_name": _text(record.get("NAMA_LGKP_AYAH")),
            "mother_name": _text(record.get("NAMA_LGKP_IBU")),
        }
    )


def to_family(kk_number: str, found: list[dict[str, Any]]) -> FamilyCard:
    """The family card from ``CALL_KK``'s records, one per member; the card's address is its head's."""
    try:
        if any(_code(record["NO_KK"], 16) != kk_number for record in found):
            raise _garbled("a member's record names another family card")
        heads = [record for record in found if _upper(record, "STAT_HBKEL") == _HEAD]
        if len(heads) != 1:
            raise _garbled(f"the card has {len(heads)} heads of family, not one")
        members = [_member(record) for record in found]
        head = next(member for member in members if member.relationship is FamilyRelationship.HEAD)
        return FamilyCard.model_validate(
            {
                "kk_number": kk_number,
                "head_nik": head.nik,
                "head_name": head.full_name,
                "address": _address(heads[0]),
                "members": members,
            }
        )
    except (KeyError, ValidationError) as exc:
        raise _contract_error(exc) from None


def to_elements(check: IdentityCheck) -> dict[str, Any]:
    """The claimed elements of a verify-by-element request, in Dukcapil's spelling and formats."""
    elements: dict[str, Any] = {"NIK": check.nik, "TRESHOLD": check.threshold}  # sic: TRESHOLD
    if check.kk_number is not None:
        elements["NO_KK"] = check.kk_number
    if check.full_name is not None:
        elements["NAMA_LGKP"] = check.full_name.upper()
    if check.birth_place is not None:
        elements["TMPT_LHR"] = check.birth_place.upper()
    if check.birth_date is not None:
        elements["TGL_LHR"] = check.birth_date.strftime("%d-%m-%Y")
    if check.sex is not None:
        elements["JENIS_KLMIN"] = "Laki-laki" if check.sex is Sex.MALE else "Perempuan"
    if check.occupation is not None:
        elements["JENIS_PKRJN"] = check.occupation.upper()
    if check.street is not None:
        elements["ALAMAT"] = check.street.upper()
    if check.rt is not None:
        elements["NO_RT"] = int(check.rt)
    if check.rw is not None:
        elements["NO_RW"] = int(check.rw)
    if check.village_code is not None:
        parts = check.village_code.split(".")
        for key, part in zip(_CHECK_KEYS["village_code"], parts, strict=False):
            elements[key] = int(part)
    return elements


def _verdict(value: Any) -> FieldMatch:
    match = _VERDICT.match(str(value))
    if match is None:
        raise _garbled("a verify verdict is neither Sesuai nor Tidak Sesuai")
    score = int(match.group(2)) if match.group(2) else None
    return FieldMatch(matched=match.group(1).lower() == "sesuai", score=score)


def to_check_result(check: IdentityCheck, record: dict[str, Any]) -> IdentityCheckResult:
    if "RESPONSE_CODE" in record:
        code = str(record["RESPONSE_CODE"]).strip()
        # [I] The codes' meanings are not public; "13" came with "NIK tidak ditemukan" where it was seen.
        if code == "13":
            raise refusal("Data Tidak Ditemukan")
        raise HubError.of(
            ErrorCode.AGENCY_ERROR,
            f"Dukcapil could not verify the identity (response code {code}: {_quote(str(record.get('RESPONSE')))})",
            agency=AGENCY,
        )
    fields: dict[str, FieldMatch] = {}
    for name in check.claimed_fields():
        verdicts = []
        for key in _CHECK_KEYS[name]:
            if key not in record:
                raise _garbled(f"no verdict for {key}")
            verdicts.append(_verdict(record[key]))
        scores = [v.score for v in verdicts if v.score is not None]
        fields[name] = FieldMatch(matched=all(v.matched for v in verdicts), score=min(scores) if scores else None)
    return IdentityCheckResult(nik=check.nik, matched=all(f.matched for f in fields.values()), fields=fields)
