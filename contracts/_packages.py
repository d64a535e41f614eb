"""Contract packages: operations an agency's distribution adds to the contract under its own namespace.

The core contract (``identity.*``, ``health.*``, ``vehicle.*``, ``payment.*``) ships with the hub. Every other
capability arrives as a :class:`ContractPackage` that a plugin returns from its ``mpp_hub_contract`` hook:
its operations and their models, the personal-data categories its markers use, and the purposes of access
that cover its operations. The hub checks a package by the same rules as the core before it serves anything
(see :func:`contracts.check_package`), so a portal still sees one governed, typed contract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contracts._operations import Operation
from contracts._personal import PersonalCategory

__all__ = ["ContractPackage", "PurposeDeclaration"]


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
