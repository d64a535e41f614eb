"""Contract packages: operations an agency's distribution adds to the contract under its own namespace.

The core contract (``identity.*``, ``health.*``, ``vehicle.*``, ``payment.*``) ships with the hub. Every other
capability arrives as a :class:`ContractPackage` that a plugin returns from its ``mpp_hub_contract`` hook:
its operations and their models, the personal-data categories its markers use, and the purposes of access
that cover its operations. The hub checks a package by the same rules as the core before it serves anything
(see :func:`contracts.check_package`), so a portal still sees one governed, typed contract.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from contracts._operations import OPERATIONS, Operation
from contracts._personal import (
    PersonalCategory,
    category_conflict,
    known_category,
    personal_marker,
    register_categories,
)

__all__ = ["CORE_NAMESPACES", "ContractPackage", "PackageError", "PurposeDeclaration", "register_package"]


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


class PackageError(ValueError):
    """A contract package breaks the contract's rules; the message names the package, what is wrong and the fix."""


#: Namespaces of the core contract and of the hub's own edge operations: no package may add operations there.
CORE_NAMESPACES = frozenset({"identity", "health", "vehicle", "payment", "citizen", "application", "hub", "ops"})
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_PURPOSE_CODE = re.compile(r"^[a-z0-9-]{1,48}$")

# Who a "..._name" field names when it is a person; a business's or a file's name is not personal data.
_PERSON = (
    r"(owner|father|mother|spouse|customer|signer|applicant|holder|participant|head|member|citizen|"
    r"resident|pemilik|pelanggan|pemohon|penandatangan|ayah|ibu|kepala_keluarga|peserta|wajib_pajak)"
)
# Field names that hold personal data wherever they appear: a field so named must carry a Personal marker
# (what it looks like, the rule, the category to mark it with). A bare "name" is not among them: a region, a
# facility and a business have one too.
_LOOKS_PERSONAL = (
    ("a NIK", re.compile(r"(^|_)nik($|_)"), "NIK"),
    ("a KK number", re.compile(r"(^|_)(no_kk|kk_number|nomor_kk)($|_)|^kk$"), "KK_NUMBER"),
    ("a name", re.compile(rf"^(full_name|nama_lengkap)$|^{_PERSON}_(full_)?name$|^nama_{_PERSON}$"), "NAME"),
    ("an address", re.compile(r"(^|_)(address|alamat)($|_)"), "ADDRESS"),
    ("a birth date", re.compile(r"birth_date|date_of_birth|(tanggal|tgl)_lahir"), "BIRTH_DATE"),
    ("a phone number", re.compile(r"(^|_)(phone|telepon|no_hp|handphone)($|_)"), "PHONE"),
)


def _fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[tuple[type[BaseModel], str, FieldInfo]]:
    """Every field of ``model`` and of the models nested in it, once each."""
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        yield model, name, info
        for nested in _nested_models(info.annotation):
            yield from _fields(nested, seen)


def _nested_models(annotation: typing.Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _nested_models(arg)


def _field_issue(where: str, info: FieldInfo, own: set[str]) -> str | None:
    marker = personal_marker(info)
    if marker is not None:
        code = marker.category.value
        if code in own or known_category(code):
            return None
        return (
            f"{where} is marked {code!r}, a category neither the core nor this package declares: add it to categories"
        )
    if next(_nested_models(info.annotation), None) is not None:
        return None  # a nested model: its own fields are checked
    name = where.rpartition(".")[2]
    for looks, rule, category in _LOOKS_PERSONAL:
        if rule.search(name) or (info.alias and rule.search(info.alias)):
            return (
                f"{where} looks like {looks} but carries no Personal marker: annotate it "
                f"(Annotated[..., Personal(PersonalData.{category})]), or rename it if it is not personal data"
            )
    return None


def _marker_issues(own: set[str], models: Sequence[type[BaseModel]]) -> Iterator[str]:
    seen: set[type[BaseModel]] = set()
    for root in models:
        for model, name, info in _fields(root, seen):
            if (issue := _field_issue(f"{model.__name__}.{name}", info, own)) is not None:
                yield issue


def _operation_issues(package: ContractPackage) -> Iterator[str]:
    if not package.operations:
        yield "it declares no operation"
    for op in package.operations:
        if op.name in OPERATIONS and OPERATIONS.package_of(op.name) != package.namespace:
            yield (
                f"operation {op.name!r} is already in the contract: a package cannot redefine or shadow it; "
                f"name yours {package.namespace}.<verb>"
            )
        elif not op.name.startswith(f"{package.namespace}.") or op.name.count(".") != 1:
            yield f"operation {op.name!r} must be named {package.namespace}.<verb> (one dot, in its own namespace)"
        if op.version != package.version:
            yield f"operation {op.name!r} is at version {op.version}: give it version={package.version!r}"


def _purpose_issues(package: ContractPackage) -> Iterator[str]:
    for code, purpose in package.purposes.items():
        if not _PURPOSE_CODE.match(code):
            yield f"purpose code {code!r} must be 1-48 lower-case letters, digits or '-'"
        outside = [
            p
            for p in purpose.operations
            if p != f"{package.namespace}.*" and not any(p == op.name for op in package.operations)
        ]
        if outside:
            yield (
                f"purpose {code!r} covers {', '.join(outside)}: a package's purpose covers only its own operations "
                f"({package.namespace}.* or their names); a mall widens a purpose in [purposes.{code}]"
            )


def _issues(package: ContractPackage) -> Iterator[str]:
    if not _NAMESPACE.match(package.namespace):
        yield "its namespace must be 2-32 lower-case letters, digits or '_'"
    elif package.namespace in CORE_NAMESPACES:
        yield f"namespace {package.namespace!r} belongs to the core contract: choose a namespace of your own"
    elif (other := OPERATIONS.package(package.namespace)) is not None and other != package:
        yield f"namespace {package.namespace!r} is already taken by another package (version {other.version})"
    if not _VERSION.match(package.version):
        yield f"version {package.version!r} must be MAJOR.MINOR.PATCH, e.g. '1.0.0'"
    yield from _operation_issues(package)
    for category in package.categories:
        if (conflict := category_conflict(category)) is not None:
            yield conflict
    own = {c.code for c in package.categories}
    yield from _marker_issues(own, [m for op in package.operations for m in (op.input, op.output)])
    yield from _purpose_issues(package)


def register_package(package: ContractPackage) -> None:
    """Check ``package`` by the contract's rules and add its categories and operations; again is a no-op.

    :raises PackageError: naming every rule it breaks, each with its fix.
    """
    if OPERATIONS.package(package.namespace) == package:
        return
    issues = list(_issues(package))
    if issues:
        raise PackageError(f"contract package {package.namespace!r} is refused: " + "; ".join(issues))
    register_categories(package.categories)
    OPERATIONS.add_package(package)
