"""Translation between VClaim's wire format and the contract (see docs/agencies/bpjs.md).

Every answer is an envelope ``{"metaData": {"code": "200", "message": "OK"}, "response": ...}`` with the
code as a string. On success ``response`` is encrypted (see ``_crypto``) and holds ``{"peserta": {...}}``;
on failure it is null and ``metaData`` says why (code ``201`` for "no such participant").
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import ValidationError

from contracts import Coverage, CoverageQuery, ErrorCode, HubError, mask_text
from hub import WIB
from plugins.bpjs import _crypto

AGENCY = "bpjs"

OK = "200"
NOT_FOUND_CODE = "201"
# Texts VClaim uses when it has no such participant: "No.Kartu Tidak Sesuai" is [U]; the others, and
# the assumption that they all come with code 201, are our guess [I].
_NOT_FOUND_TEXTS = ("tidak sesuai", "tidak ditemukan", "tidak terdaftar")
_SEX = {"L": "male", "P": "female"}


def today_wib() -> dt.date:
    """The default service date: today where the agency and the mall are."""
    return dt.datetime.now(WIB).date()


def peserta_path(query: CoverageQuery, day: dt.date) -> str:
    if query.card_number is not None:
        return f"/Peserta/nokartu/{query.card_number}/tglSEP/{day.isoformat()}"
    return f"/Peserta/nik/{query.nik}/tglSEP/{day.isoformat()}"


def _quote(text: str) -> str:
    """An agency's own words, fit to show: NIK-like and card-like numbers masked, length capped."""
    return mask_text(text.strip())[:200]


def garbled(what: str) -> HubError:
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"BPJS Kesehatan sent an answer the hub cannot read ({what}); if it persists, report it to the BPJS liaison",
        agency=AGENCY,
    )


def _agency_error(message: str) -> HubError:
    return HubError.of(ErrorCode.AGENCY_ERROR, message, agency=AGENCY)


def gateway_refusal(message: str, status: int) -> HubError:
    """Map the gateway's refusal of the hub's own headers to the setting an operator must fix.

    The refusal texts are not public; the sandbox's are our guess [I], so this matches on keywords.
    """
    said = message.lower()
    if "header" in said:
        return _agency_error(
            f"BPJS Kesehatan says a required header was missing ({_quote(message)}): something between the hub "
            "and BPJS (a proxy) may strip headers; check the bpjs base_url setting"
        )
    if "timestamp" in said:
        return _agency_error(
            "BPJS Kesehatan rejected the request timestamp as too far from its own clock: check the hub "
            "machine's clock (NTP, UTC)"
        )
    if "consumer" in said or "cons" in said:
        return _agency_error("BPJS Kesehatan does not know the hub's consumer id: fix the bpjs cons_id setting")
    if "signature" in said:
        return _agency_error(
            "BPJS Kesehatan rejected the request signature: fix the bpjs secret setting (it must be the secret "
            "issued with the configured cons_id)"
        )
    if "user" in said:
        return _agency_error(
            "BPJS Kesehatan rejected the user key: fix the bpjs user_key setting (the key issued for VClaim)"
        )
    return _agency_error(
        f"BPJS Kesehatan refused the hub's credentials (HTTP {status}): check the bpjs cons_id, secret and "
        "user_key settings"
    )


def _meta(body: Any) -> tuple[str, str]:
    meta = body.get("metaData") if isinstance(body, dict) else None
    if not isinstance(meta, dict) or "code" not in meta:
        raise garbled("no metaData in the envelope")
    return str(meta["code"]).strip(), str(meta.get("message") or "").strip()


def refusal_message(body: Any) -> str:
    """``metaData.message`` of a refusal, or "" when the body is not an envelope (a bare gateway page)."""
    try:
        return _meta(body)[1]
    except HubError:
        return ""


def _unknown_participant(code: str, message: str) -> bool:
    said = message.lower()
    # A 201 that complains about the request's format is the hub's fault, not an unknown participant.
    malformed = any(word in said for word in ("format", "harus"))
    return code == NOT_FOUND_CODE and not malformed and any(text in said for text in _NOT_FOUND_TEXTS)


def check_envelope(body: Any) -> None:
    """Raise the contract error a non-success envelope stands for; return when the code is 200."""
    code, message = _meta(body)
    if code == OK:
        return
    if _unknown_participant(code, message):
        raise HubError.of(
            ErrorCode.NOT_FOUND,
            "BPJS Kesehatan has no participant with this card number or NIK; check the number on the JKN card or KTP",
            agency=AGENCY,
        )
    if code in ("401", "403"):
        raise gateway_refusal(message, int(code))
    raise _agency_error(f"BPJS Kesehatan refused the request (code {_quote(code)}): {_quote(message)}")


def decrypt_peserta(body: Any, key: bytes) -> dict[str, Any]:
    """``response.peserta`` of a success envelope, decrypted with the key of the request's timestamp."""
    check_envelope(body)
    encrypted = body.get("response")
    if not isinstance(encrypted, str):
        raise garbled("the response is not encrypted text")
    try:
        decoded = json.loads(_crypto.decrypt_response(encrypted, key))
    except (_crypto.DecryptionError, ValueError):
        raise _agency_error(
            "BPJS Kesehatan's answer does not decrypt with the hub's keys: check that the bpjs cons_id and "
            "secret settings are the pair BPJS issued"
        ) from None
    peserta = decoded.get("peserta") if isinstance(decoded, dict) else None
    if not isinstance(peserta, dict):
        raise garbled("no peserta in the response")
    return peserta


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise garbled("a date is not yyyy-MM-dd") from None


# [I] VClaim writes open-ended coverage as a far-future tglTAT; the contract says "no end" with None.
_NO_END_AFTER = dt.date(2090, 1, 1)


def _coverage_end(value: Any) -> dt.date | None:
    end = _date(value)
    return None if end is not None and end >= _NO_END_AFTER else end


def _pair(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _care_class(hak_kelas: dict[str, Any]) -> int | None:
    code = str(hak_kelas.get("kode") or "").strip()
    return int(code) if code in ("1", "2", "3") else None


def to_coverage(peserta: dict[str, Any], query: CoverageQuery, checked_for: dt.date) -> Coverage:
    status = _pair(peserta, "statusPeserta")
    active = str(status.get("kode", "")).strip() == "0"
    status_text = str(status.get("keterangan") or "").strip()
    provider = _pair(peserta, "provUmum")
    try:
        coverage = Coverage.model_validate(
            {
                "card_number": peserta["noKartu"],
                "nik": peserta["nik"],
                "full_name": peserta["nama"],
                "sex": _SEX.get(str(peserta["sex"]).strip().upper()),
                "birth_date": _date(peserta["tglLahir"]),
                "active": active,
                "status": status_text,
                "inactive_reason": None if active else status_text or None,
                "care_class": _care_class(_pair(peserta, "hakKelas")),
                "participant_type": _pair(peserta, "jenisPeserta").get("keterangan"),
                "primary_care": {"code": provider.get("kdProvider"), "name": provider.get("nmProvider")},
                "card_printed_on": _date(peserta.get("tglCetakKartu")),
                "coverage_start": _date(peserta.get("tglTMT")),
                "coverage_end": _coverage_end(peserta.get("tglTAT")),
                "checked_for": checked_for,
            }
        )
    except KeyError as exc:
        raise garbled(f"the participant lacks {exc.args[0]}") from None
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)}))
        raise garbled(f"the participant breaks the contract in: {fields}") from None
    asked = query.nik if query.nik is not None else query.card_number
    if asked not in (coverage.nik, coverage.card_number):
        raise garbled("it describes a participant other than the one asked for")
    return coverage
