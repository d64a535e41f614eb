"""Purposes of access: what a caller may state (``X-Purpose``) to read personal data, each with its legal basis.

UU 27/2022 (Pelindungan Data Pribadi) lets personal data be processed only for a purpose stated beforehand
and on a legal basis, and Dukcapil's data-access agreements (PKS) grant access per purpose. So a purpose is
not a free word: the registry says for each code what it is for, on which legal basis, and which operations
it may be used for. A purpose stated for an operation it does not cover is refused (``forbidden``), naming the
purposes that do cover it, and every audit record carries the legal basis of the purpose it was made under.

The default registry is the hub's best reading of the law for a public service mall; the legal bases are
plausible, not legal advice: a mall's data protection officer confirms or replaces them in ``mpp-hub.toml``
(``[purposes.<code>]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from contracts import OPERATIONS, ErrorCode, HubError
from hub._rights import PATTERN_RULE, matches, personal_operations

__all__ = ["DEFAULT_PURPOSES", "Purpose", "PurposeCode", "PurposeRegistry"]

#: A purpose code as callers send it in X-Purpose (hub/_headers.py checks the same rule at the edge).
PurposeCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,48}$")]


class Purpose(BaseModel):
    """One purpose of access: what it is for, why that is lawful, and what it may read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1, max_length=300, description="What the access is for, for people.")
    legal_basis: str = Field(
        min_length=1, max_length=300, description="The law (and article) that makes it lawful; in every audit record."
    )
    operations: tuple[str, ...] = Field(
        min_length=1, description='Operations it may be used for: names or patterns ("identity.*", "*").'
    )
    consent_required: bool = Field(
        default=False, description="The legal basis is the data subject's consent: every call carries X-Consent-Ref."
    )

    @field_validator("operations")
    @classmethod
    def _patterns(cls, operations: tuple[str, ...]) -> tuple[str, ...]:
        # Whether each names an operation is known only once every contract package is in: PurposeRegistry checks.
        for pattern in operations:
            if not _is_pattern(pattern):
                raise ValueError(f'{pattern!r} is not an operation name, a prefix pattern such as "identity.*", or "*"')
        return operations

    def covers(self, operation: str) -> bool:
        return any(matches(pattern, operation) for pattern in self.operations)


def _is_pattern(text: str) -> bool:
    return re.fullmatch(PATTERN_RULE, text) is not None


class PurposeRegistry(Mapping[str, Purpose]):
    """The purposes this hub accepts, by code, and the check of one stated for one operation.

    Built from the configured purposes (the defaults, or the mall's ``[purposes.<code>]``) and the purposes the
    registered contract packages declare: a package's new code is added, and a package naming a default purpose
    adds its own operations to it. A purpose the mall configured itself is taken as configured.

    :raises ValueError: when a purpose names an operation the contract does not have (a typo would otherwise
        silently refuse, or fail to cover, an operation).
    """

    def __init__(self, purposes: Mapping[str, Purpose]) -> None:
        self._purposes = _with_packages(purposes)
        known = personal_operations()
        for code, purpose in self._purposes.items():
            for pattern in purpose.operations:
                if not any(matches(pattern, op) for op in known):
                    raise ValueError(
                        f"purpose {code!r}: {pattern!r} names no operation on personal data; use one of "
                        f'{", ".join(known)}, a prefix pattern such as "identity.*", or "*"'
                    )

    def __getitem__(self, code: str) -> Purpose:
        return self._purposes[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._purposes)

    def __len__(self) -> int:
        return len(self._purposes)

    def covering(self, operation: str) -> list[str]:
        return [code for code, purpose in self._purposes.items() if purpose.covers(operation)]

    def first_covering(self, operations: Iterable[str]) -> str | None:
        """The first purpose that covers every one of ``operations`` (a test harness's choice)."""
        wanted = list(operations)
        return next((c for c, p in self._purposes.items() if all(p.covers(op) for op in wanted)), None)

    def legal_basis(self, code: str | None) -> str | None:
        found = self._purposes.get(code) if code else None
        return found.legal_basis if found else None

    def check(self, code: str | None, operation: str, consent: str | None = None) -> None:
        """Pass if ``code`` may be stated for ``operation``; else the refusal, naming what would do."""
        purpose = self._purposes.get(code) if code else None
        if purpose is not None and purpose.covers(operation) and (consent or not purpose.consent_required):
            return  # every call that is let through: no list of what would do is made
        covering = ", ".join(self.covering(operation)) or "none configured: ask the hub's operator"
        if not code:
            raise HubError.of(
                ErrorCode.INVALID_INPUT,
                f"{operation} reads personal data: state the purpose of access in the X-Purpose header "
                f"(for {operation}: {covering})",
            )
        if purpose is None:
            raise HubError.of(
                ErrorCode.INVALID_INPUT, f"Unknown purpose {code!r}; for {operation} state one of: {covering}"
            )
        if not purpose.covers(operation):
            raise HubError.of(
                ErrorCode.FORBIDDEN,
                f"Purpose {code!r} does not cover {operation} (its legal basis does not reach that data); "
                f"purposes that do: {covering}",
            )
        if purpose.consent_required and not consent:
            raise HubError.of(
                ErrorCode.INVALID_INPUT,
                f"Purpose {code!r} rests on the data subject's consent: send the consent's reference in X-Consent-Ref",
            )


def _with_packages(configured: Mapping[str, Purpose]) -> dict[str, Purpose]:
    merged = dict(configured)
    extensible = {code for code, purpose in merged.items() if purpose == DEFAULT_PURPOSES.get(code)}
    for package in OPERATIONS.packages:
        for code, declared in package.purposes.items():
            found = merged.get(code)
            if found is None:
                extensible.add(code)
                merged[code] = Purpose(
                    description=declared.description, legal_basis=declared.legal_basis,
                    operations=declared.operations, consent_required=declared.consent_required,
                )  # fmt: skip
            elif code in extensible:
                merged[code] = found.model_copy(update={"operations": (*found.operations, *declared.operations)})
    return merged


def _purpose(description: str, legal_basis: str, *operations: str) -> Purpose:
    return Purpose(description=description, legal_basis=legal_basis, operations=operations)


# The legal bases below are the hub's reading, to be confirmed by the mall's data protection officer.
DEFAULT_PURPOSES: Mapping[str, Purpose] = MappingProxyType({
    "layanan-kependudukan": _purpose(
        "Pelayanan administrasi kependudukan (KTP-el, KK, akta) dan permohonan berbasis data kependudukan",
        "UU 23/2006 jo. UU 24/2013 tentang Administrasi Kependudukan, Pasal 58 ayat (4) huruf a dan Pasal 79; "
        "Permendagri 102/2019",
        "identity.*", "citizen.profile", "application.*",
    ),
    "verifikasi-identitas": _purpose(
        "Verifikasi identitas pemohon atau nasabah terhadap data kependudukan (mis. KYC perbankan)",
        "UU 24/2013 Pasal 58 ayat (4) huruf a; Permendagri 102/2019 tentang Pemberian Hak Akses dan Pemanfaatan "
        "Data Kependudukan; PKS dengan Ditjen Dukcapil",
        "identity.lookup", "identity.verify",  # one person's identity: not their whole family card
    ),
    "verifikasi-bpjs": _purpose(
        "Pemeriksaan status kepesertaan Jaminan Kesehatan Nasional",
        "UU 24/2011 tentang BPJS, Pasal 10 dan 11; Perpres 82/2018 tentang Jaminan Kesehatan",
        "health.*", "identity.verify",
    ),
    "layanan-kesehatan": _purpose(
        "Pelayanan kesehatan bagi peserta JKN",
        "UU 17/2023 tentang Kesehatan; Perpres 82/2018 tentang Jaminan Kesehatan",
        "health.*", "identity.lookup", "identity.verify", "citizen.profile",
    ),
    "pembayaran-pajak": _purpose(
        "Pembayaran pajak kendaraan bermotor (PKB, opsen PKB, SWDKLLJ) melalui Samsat, dan tagihannya",
        "UU 1/2022 tentang Hubungan Keuangan Pusat dan Daerah (PKB); UU 22/2009 tentang LLAJ, Pasal 64-65; "
        "Perpres 5/2015 tentang Samsat",
        "vehicle.*", "payment.*", "identity.lookup", "identity.verify", "citizen.profile", "application.*",
    ),
    "layanan-perizinan": _purpose(
        "Pelayanan perizinan di Mal Pelayanan Publik",
        "UU 25/2009 tentang Pelayanan Publik; PP 5/2021 tentang Perizinan Berusaha Berbasis Risiko; "
        "Perpres 89/2021 tentang Penyelenggaraan MPP",
        "identity.lookup", "identity.verify", "application.*",
    ),
    "pengaduan": _purpose(
        "Penanganan pengaduan pelayanan publik",
        "UU 25/2009 tentang Pelayanan Publik, Pasal 36 dan 40; Perpres 76/2013 tentang Pengelolaan Pengaduan "
        "Pelayanan Publik",
        "identity.verify", "application.submit", "application.read",
    ),
    "hak-subjek-data": _purpose(
        "Warga melihat siapa yang mengakses data pribadinya, kapan, untuk apa dan atas dasar hukum apa",
        "UU 27/2022 tentang PDP, Pasal 5 dan 7 (hak Subjek Data atas informasi dan akses); Pasal 31 (rekam jejak "
        "pemrosesan)",
        "citizen.access_log",
    ),
    "layanan-terpadu": _purpose(
        "Profil warga lintas instansi di meja informasi MPP, atas permintaan dan dengan persetujuan warga",
        "Perpres 89/2021 tentang Penyelenggaraan MPP; UU 27/2022 tentang PDP, Pasal 20 ayat (2) huruf a "
        "(persetujuan Subjek Data)",
        "citizen.profile", "identity.lookup", "health.coverage", "vehicle.list_by_owner", "application.*",
    ),
})  # fmt: skip
