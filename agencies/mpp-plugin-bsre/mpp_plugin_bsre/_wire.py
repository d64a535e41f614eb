"""BSrE's answers in the contract's terms: its refusals as contract errors, its JSON as contract models.

Nothing here sends anything; :mod:`mpp_plugin_bsre.client` does, and hands every answer to these functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from contracts import ErrorCode, HubError, mask_text
from pydantic import ValidationError

from mpp_plugin_bsre.contract import SignatureCheck, SignerState, SignerStatus, VerificationResult

__all__ = ["AGENCY", "NAME", "garbled", "sign_refusal", "to_signer_status", "to_verification"]

AGENCY = "bsre"
NAME = "BSrE (BSSN)"
#: BSrE answers times without a zone; its servers keep Western Indonesian Time (guess).
_WIB = dt.timezone(dt.timedelta(hours=7))
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
#: BSrE's user-status words (ISSUE and NOT_REGISTERED are public; the others are guesses).
_STATES = {
    "ISSUE": SignerState.REGISTERED,
    "NOT_REGISTERED": SignerState.NOT_REGISTERED,
    "EXPIRED": SignerState.CERTIFICATE_EXPIRED,
    "REVOKE": SignerState.CERTIFICATE_REVOKED,
    "REVOKED": SignerState.CERTIFICATE_REVOKED,
    "SUSPEND": SignerState.SUSPENDED,
    "SUSPENDED": SignerState.SUSPENDED,
    "NEW": SignerState.PENDING,
    "WAITING_FOR_VERIFICATION": SignerState.PENDING,
    "RENEW": SignerState.PENDING,
}
#: A sign refusal, recognised by words of BSrE's message (its status codes are not public): code and advice.
_SIGN_REFUSALS: tuple[tuple[tuple[str, ...], ErrorCode, str], ...] = (
    (
        ("ditangguhkan", "suspend", "terkunci", "locked"),
        ErrorCode.FORBIDDEN,
        "BSrE has locked this signer after wrong passphrases: the signer must ask the BSrE admin of the agency "
        "to unlock it; do not try again until then",
    ),
    (
        ("passphrase",),
        ErrorCode.FORBIDDEN,
        "BSrE refused the signer's passphrase: the signer must enter it again. It is not retried: several wrong "
        "tries lock the signer's BSrE account",
    ),
    (
        ("tidak terdaftar", "belum terdaftar", "not registered", "not found"),
        ErrorCode.NOT_FOUND,
        "BSrE has no signer registered with this NIK: check the NIK, or register the official at BSrE first",
    ),
    (
        ("tidak aktif", "expired", "kedaluwarsa", "revoke", "dicabut"),
        ErrorCode.FORBIDDEN,
        "The signer's BSrE certificate is not active (expired, revoked or not yet issued): document.signer_status "
        "tells which; the signer must renew it at BSrE",
    ),
    (
        ("pdf", "dokumen"),
        ErrorCode.INVALID_INPUT,
        "BSrE cannot sign this file: it is not a valid PDF (save it again as PDF and resend)",
    ),
)


def garbled(what: str) -> HubError:
    return HubError.of(ErrorCode.AGENCY_ERROR, f"{NAME} answered {what}", agency=AGENCY)


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        for key in ("error", "message", "pesan"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""


def sign_refusal(status: int, body: Any, passphrase: str) -> HubError:
    """The contract error for a refused signing; BSrE's own text is never echoed whole (it may quote input)."""
    text = _message(body)
    lowered = text.lower()
    for words, code, advice in _SIGN_REFUSALS:
        if any(word in lowered for word in words):
            return HubError.of(code, advice, agency=AGENCY)
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"{NAME} refused the signing (HTTP {status}): {_scrubbed(text, passphrase) or 'no reason given'}",
        agency=AGENCY,
    )


def _scrubbed(text: str, passphrase: str) -> str:
    """BSrE's text, short, with NIK-like numbers masked and the passphrase (should it be quoted) removed."""
    if passphrase:
        text = text.replace(passphrase, "***")
    return mask_text(text)[:120]


def refusal(status: int, body: Any) -> HubError:
    """Any other refusal: the account (HTTP 401), or an answer the plugin does not know."""
    if status in (401, 403):
        return HubError.of(
            ErrorCode.AGENCY_ERROR,
            f"{NAME} refused the hub's eSign client account: an operator must fix the {AGENCY} username/password",
            agency=AGENCY,
        )
    return garbled(f"HTTP {status}: {mask_text(_message(body))[:120] or 'without a reason'}")


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    for layout in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(value.strip(), layout).replace(tzinfo=_WIB).astimezone(dt.UTC)
        except ValueError:
            continue
    raise ValueError("a signing time in an unknown layout")


def _check(detail: Mapping[str, Any]) -> SignatureCheck:
    signer, document = detail["info_signer"], detail["signature_document"]
    return SignatureCheck.model_validate(
        {
            "field": detail["signature_field"],
            "signer_name": signer["signer_name"],
            "signed_at": _time(document.get("signed_in")),
            "intact": document["document_integrity"] is True,
            "certified": signer.get("cert_user_certified") is True,
            "timestamped": document.get("signed_using_tsa") is True,
            "issuer": signer.get("issuer_dn") or "",
            "reason": document.get("reason") or None,
            "location": document.get("location") or None,
        }
    )


def to_verification(body: Any) -> VerificationResult:
    """BSrE's verify answer; one that does not fit is the agency's error, reported without its content."""
    try:
        checks = [_check(detail) for detail in body["details"]]
        count = int(body["jumlah_signature"])
        signed = count > 0 and bool(checks)
        summary = body.get("summary") or body.get("notes") or "Dokumen belum ditandatangani secara elektronik"
        return VerificationResult(
            signed=signed,
            intact=signed and all(c.intact for c in checks),
            trusted=signed and all(c.certified for c in checks),
            signature_count=count,
            signatures=checks,
            summary=str(summary)[:300],
        )
    except (KeyError, TypeError, ValueError, ValidationError):  # ValidationError's text would quote a name
        raise garbled("a verification the hub cannot read") from None


def to_signer_status(nik: str, body: Any) -> SignerStatus:
    """BSrE's user status for ``nik``; an unknown status word is the agency's error (it is not personal)."""
    word = body.get("status") if isinstance(body, Mapping) else None
    if not isinstance(word, str) or word.upper() not in _STATES:
        raise garbled(f"a user status the hub does not know ({str(word)[:30]!r})")
    state = _STATES[word.upper()]
    try:
        return SignerStatus(
            nik=nik,
            state=state,
            can_sign=state is SignerState.REGISTERED,
            agency_status=word[:40],
            message=mask_text(_message(body))[:300],
        )
    except ValidationError:
        raise garbled("a user status the hub cannot read") from None
