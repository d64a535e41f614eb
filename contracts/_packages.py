"""Contract packages: operations an agency's distribution adds to the contract under its own namespace.

The core contract (``identity.*``, ``health.*``, ``vehicle.*``, ``payment.*``) ships with the hub. Every other
capability arrives as a :class:`ContractPackage` that a plugin returns from its ``mpp_hub_contract`` hook:
its operations and their models, the personal-data categories its markers use, and the purposes of access
that cover its operations. The hub checks a package by the same rules as the core before it serves anything
(see :func:`contracts.check_package`), so a portal still sees one governed, typed contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contracts._operations import Operation

__all__ = ["ContractPackage", "PersonalCategory", "PurposeDeclaration"]

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True, slots=True)
class PersonalCategory:
    """A class of personal data a package declares for its markers (``Personal(WATER_CUSTOMER)``).

    ``identifies_subject``: a value of this category names a data subject (a customer number, an NIB), so the
    audit log keys its records by it and ``mpp-hub audit who-read`` finds them.
    """

    code: str
    description: str
    identifies_subject: bool = False

    def __post_init__(self) -> None:
        if not _CODE.match(self.code):
            raise ValueError(f"category code {self.code!r} must be 2-32 lower-case letters, digits or '_'")

    @property
    def value(self) -> str:
        # The same spelling as a PersonalData member's, so a marker reads one way whichever kind it holds.
        return self.code

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class PurposeDeclaration:
    """A purpose of access a package proposes for its operations; a mall's ``[purposes.<code>]`` overrides it."""

    description: str
    legal_basis: str
    operations: tuple[str, ...]
    consent_required: bool = False


@dataclass(frozen=True)
class ContractPackage:
    """Operations under one namespace, at one version, with what their personal data needs.

    Every operation is named ``<namespace>.<verb>`` and carries ``version=package.version``; its bus subject is
    ``mpp.v<major>.<namespace>.<verb>`` and its HTTP path ``/v1/<namespace>.<verb>`` (the portal API's version).
    """

    namespace: str
    version: str
    summary: str
    operations: Sequence[Operation]
    categories: Sequence[PersonalCategory] = ()
    purposes: Mapping[str, PurposeDeclaration] = field(default_factory=dict)
