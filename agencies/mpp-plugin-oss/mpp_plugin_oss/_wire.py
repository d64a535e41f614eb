"""OSS-RBA's wire format (PIA, Pedoman Integrasi Aplikasi 4.3.22): envelopes, codes, and their translation.

Shared by the client (reading answers) and the sandbox (writing them), so both speak one format. The
sources of every fact are in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from contracts import ErrorCode, HubError

from mpp_plugin_oss.contract import (
    Business,
    BusinessActorType,
    BusinessScale,
    NibConfirmation,
    NibStatus,
    RiskLevel,
)

__all__ = [
    "AGENCY",
    "CHECK_NIB",
    "INQUERY_NIB",
    "LEGAL_FORMS",
    "NAME",
    "Method",
    "code_of",
    "to_business",
    "to_confirmation",
]

AGENCY = "oss"
NAME = "OSS-RBA"

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Method:
    """One OSS-RBA method: its name (the path under the base URL) and the key its request is wrapped in."""

    path: str  # relative: joined to the base URL, which ends in /v1/kl/rba
    request_key: str

    @property
    def response_key(self) -> str:
        return f"respon{self.path}"

    def request(self, fields: Mapping[str, object]) -> dict[str, Any]:
        return {self.request_key: dict(fields)}


INQUERY_NIB = Method("inqueryNIB", "INQUERYNIB")
CHECK_NIB = Method("checkNIB", "CHECKNIB")

#: Lampiran 9, the answer codes (``kode``), in OSS's own words.
CODES: Mapping[int, str] = {
    200: "Sukses",
    400: "Data Parameter Salah",
    401: "User Akses Tidak Valid",
    403: "Ilegal Inquery /Akses",
    404: "Akses Service Tidak Ditemukan",
    405: "Akses Service Ditolak",
    500: "Proses Payload Data Di Sistem OSS Gagal",
    504: "Proses Payload Data Di Sistem OSS Timeout",
}


def code_of(value: Any) -> int | None:
    """An answer's ``kode``: the PIA types it ``string(3)`` and shows it as a number, so either is read."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None


#: The ``keterangan`` of a code-400 answer for an NIB OSS does not have (the PIA's error example).
NIB_NOT_FOUND = "Data NIB tidak ditemukan"

#: Lampiran 18, jenis pelaku usaha.
_ACTOR_TYPES = {
    "01": BusinessActorType.ENTERPRISE,
    "02": BusinessActorType.INDIVIDUAL,
    "03": BusinessActorType.REPRESENTATIVE_OFFICE,
    "04": BusinessActorType.FOREIGN_ENTERPRISE,
}
#: Lampiran 31, skala usaha.
_SCALES = {"01": BusinessScale.MICRO, "02": BusinessScale.SMALL, "03": BusinessScale.MEDIUM, "04": BusinessScale.LARGE}
#: Lampiran 14, status dokumen NIB.
_STATUSES = {
    "01": NibStatus.ACTIVE,
    "02": NibStatus.NOT_YET_ACTIVE,
    "03": NibStatus.PERMITTED_TO_TRADE,
    "04": NibStatus.PERMITTED_TO_OPERATE,
    "05": NibStatus.SUSPENDED,
    "06": NibStatus.REVOKED,
}
#: skala_resiko is free text of up to 50 characters; the PP 5/2021 levels, spelled out or abbreviated (guess).
_RISKS = {
    "rendah": RiskLevel.LOW,
    "r": RiskLevel.LOW,
    "menengah rendah": RiskLevel.MEDIUM_LOW,
    "mr": RiskLevel.MEDIUM_LOW,
    "menengah tinggi": RiskLevel.MEDIUM_HIGH,
    "mt": RiskLevel.MEDIUM_HIGH,
    "tinggi": RiskLevel.HIGH,
    "t": RiskLevel.HIGH,
}
#: Lampiran 2, jenis perusahaan (the codes OSS lists; 03 and 11-15 are not in use).
LEGAL_FORMS: Mapping[str, str] = {
    "01": "Perseroan Terbatas (PT)",
    "02": "Persekutuan Komanditer (CV)",
    "04": "Badan Usaha Pemerintah",
    "05": "Firma (Fa)",
    "06": "Persekutuan Perdata",
    "07": "Koperasi",
    "08": "Dana Pensiun",
    "09": "Persekutuan dan Perkumpulan",
    "10": "Yayasan",
    "16": "Bentuk Usaha Tetap (BUT)",
    "17": "Perseorangan",
    "18": "Badan Layanan Umum (BLU)",
    "19": "Badan Hukum (selain PT, Yayasan dan Koperasi)",
    "20": "Badan Usaha Lainnya (Khusus STPW Luar Negeri)",
    "21": "Perusahaan Umum (Perum)",
    "22": "Perusahaan Umum Daerah (Perumda)",
    "23": "Perusahaan Daerah (Perusda)",
    "24": "Badan Operasi Bersama (BOB)",
    "25": "Badan Usaha Perwakilan",
    "26": "Perseroan Terbatas (PT) Perorangan",
    "27": "Pedagang Berjangka Asing (PBA)",
    "28": "Badan Usaha Milik Desa (BUM Desa)",
    "29": "Badan Usaha Milik Desa Bersama (BUM Desa Bersama)",
}


def _unreadable() -> HubError:
    # No detail: the record is personal data, and so is any validation message quoting it.
    return HubError.of(ErrorCode.AGENCY_ERROR, f"{NAME} answered with a record the hub cannot read", agency=AGENCY)


def _text(value: Any) -> str | None:
    """OSS sends empty strings (and sometimes null) for what it does not have."""
    text = "" if value is None else str(value).strip()
    return text or None


def _kbli(value: Any) -> str:
    # The PIA types kbli as number(7): a KBLI code with a leading zero (01111, corn) may arrive as 1111.
    return str(value).strip().zfill(5) if isinstance(value, int) else str(value).strip()


def _risk(value: Any) -> RiskLevel | None:
    label = _text(value)
    if label is None:
        return None
    risk = _RISKS.get(label.lower())
    if risk is None:
        # A level OSS spells in a way the hub does not know yet: the activity is kept, its risk left out.
        _log.warning("unknown risk level from OSS-RBA", label=label[:50])
    return risk


def _activities(projects: Any) -> list[dict[str, Any]]:
    return [
        {"kbli": _kbli(p["kbli"]), "description": _text(p.get("uraian_usaha")), "risk": _risk(p.get("skala_resiko"))}
        for p in projects or ()
    ]


def _legal_form(code: Any) -> dict[str, str]:
    text = str(code).strip()
    return {"code": text, "description": LEGAL_FORMS.get(text, f"Jenis perusahaan kode {text}")}


def _owner(people: Any) -> str | None:
    # The first person in charge (penanggung jawab) is the owner of a sole proprietorship.
    return _text(people[0].get("nama_penanggung_jwb")) if people else None


def to_business(record: Any) -> Business:
    """An inqueryNIB ``dataNIB`` in the contract's terms; a record that does not fit is the agency's error."""
    try:
        return Business.model_validate(
            {
                "nib": record["nib"],
                "business_name": record["nama_perseroan"],
                "actor_type": _ACTOR_TYPES[record["jenis_pelaku_usaha"]],
                "legal_form": _legal_form(record["jenis_perseroan"]),
                "scale": _SCALES.get(record.get("skala_usaha") or ""),
                "activities": _activities(record.get("data_proyek")),
                "issued_on": record["tgl_terbit_nib"],
                "status": _STATUSES[record["status_nib"]],
                "address": {
                    "street": record["alamat_perseroan"],
                    "rt_rw": _text(record.get("rt_rw_perseroan")),
                    "village": _text(record.get("kelurahan_perseroan")),
                    "region_code": _text(record.get("perseroan_daerah_id")),
                    "postal_code": _text(record.get("kode_pos_perseroan")),
                },
                "owner_name": _owner(record.get("penanggung_jwb")),
            }
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise _unreadable() from None


def to_confirmation(record: Any) -> NibConfirmation:
    """A checkNIB ``dataNIB`` in the contract's terms."""
    try:
        return NibConfirmation.model_validate(
            {"nib": record["nib"], "business_name": record["nama_perusahaan"], "status": _STATUSES[record["status"]]}
        )
    except (KeyError, TypeError, ValueError):
        raise _unreadable() from None
