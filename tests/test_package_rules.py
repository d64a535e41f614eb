"""The rules a contract package is held to before any of it is served (contracts/_packages.py).

Every package here is refused, so none of them reaches this process's contract: what a registered package
does through a real hub is tested in a child process (tests/test_package_served.py).
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import pytest

from contracts import (
    NIK,
    OPERATIONS,
    AgencyKind,
    Contract,
    ContractPackage,
    LookupByNik,
    Operation,
    PackageError,
    Personal,
    PersonalCategory,
    PersonalData,
    PurposeDeclaration,
    Resident,
    register_package,
)
from contracts._packages import _issues, _marker_issues
from hub import Agency, Served, hookimpl, load_plugins
from hub._plugins import PluginError
from tests.plugins.acme_registry import AcmeRegister, AcmeSettings, _connect

CUSTOMER = PersonalCategory("tst_customer", "A test utility's customer number", identifies_subject=True)


class BillQuery(Contract):
    customer_number: Annotated[str, Personal(CUSTOMER)]


class Bill(Contract):
    customer_number: Annotated[str, Personal(CUSTOMER)]
    customer_name: Annotated[str, Personal(PersonalData.NAME)]
    amount: Decimal


def _operation(name: str = "tst.bill", version: str = "1.0.0", **models: type[Contract]) -> Operation:
    return Operation(
        name=name, summary="A bill.", input=models.get("input", BillQuery), output=models.get("output", Bill),
        idempotent=True, personal_data=True, version=version,
    )  # fmt: skip


def _package(*operations: Operation, **changes: object) -> ContractPackage:
    package = ContractPackage(
        namespace="tst", version="1.0.0", summary="A test utility.", operations=operations or (_operation(),),
        categories=(CUSTOMER,),
        purposes={"tst-billing": PurposeDeclaration("Tagihan", "A test regulation", ("tst.*",))},
    )  # fmt: skip
    return dataclasses.replace(package, **changes)  # type: ignore[arg-type]


def _refusal(package: ContractPackage) -> str:
    with pytest.raises(PackageError) as refused:
        register_package(package)
    assert "tst.bill" not in OPERATIONS, "a refused package must leave the contract as it was"
    return str(refused.value)


def test_an_unmarked_personal_field_is_refused_naming_the_field_and_the_marker() -> None:
    class Unmarked(Contract):
        customer_number: Annotated[str, Personal(CUSTOMER)]
        customer_name: str
        alamat: str
        nik: str

    message = _refusal(_package(_operation(output=Unmarked)))
    assert "Unmarked.customer_name looks like a name but carries no Personal marker" in message
    assert "Personal(PersonalData.NAME)" in message
    assert "Unmarked.alamat looks like an address" in message and "Unmarked.nik looks like a NIK" in message


def test_a_nested_model_is_checked_field_by_field() -> None:
    class Owner(Contract):
        owner_name: str

    class WithOwner(Contract):
        owner: Owner

    assert "Owner.owner_name looks like a name" in _refusal(_package(_operation(output=WithOwner)))


def test_names_that_are_not_about_a_person_pass() -> None:
    class Business(Contract):
        business_name: str
        name: str  # a facility's, a region's: only a person's name is personal
        owner_nik: NIK

    assert list(_marker_issues(set(), [Business])) == []


def test_shadowing_a_core_operation_is_refused() -> None:
    shadow = _operation(name="identity.lookup", input=LookupByNik, output=Resident)
    message = _refusal(_package(shadow))
    assert "'identity.lookup' is already in the contract: a package cannot redefine or shadow it" in message
    assert "name yours tst.<verb>" in message


def test_a_core_namespace_is_refused() -> None:
    message = _refusal(_package(_operation(name="identity.bill"), namespace="identity"))
    assert "namespace 'identity' belongs to the core contract: choose a namespace of your own" in message


def test_an_operation_outside_its_namespace_or_version_is_refused() -> None:
    message = _refusal(_package(_operation(name="other.bill"), _operation(version="2.0.0")))
    assert "'other.bill' must be named tst.<verb>" in message
    assert "'tst.bill' is at version 2.0.0: give it version='1.0.0'" in message


def test_an_undeclared_category_is_refused() -> None:
    message = _refusal(_package(categories=()))
    assert "BillQuery.customer_number is marked 'tst_customer'" in message and "add it to categories" in message


def test_a_category_cannot_take_a_core_code() -> None:
    nik_again = PersonalCategory("nik", "Not the NIK")

    class Query(Contract):
        number: Annotated[str, Personal(nik_again)]

    message = _refusal(_package(_operation(input=Query), categories=(nik_again,)))
    assert "category 'nik' is already defined" in message


def test_a_purpose_covers_only_the_package_own_operations() -> None:
    greedy = {"tst-billing": PurposeDeclaration("Tagihan", "A regulation", ("tst.*", "identity.*"))}
    message = _refusal(_package(purposes=greedy))
    assert "purpose 'tst-billing' covers identity.*" in message and "[purposes.tst-billing]" in message


def test_a_bad_version_and_namespace_are_refused() -> None:
    assert "version '1.0' must be MAJOR.MINOR.PATCH" in _refusal(_package(version="1.0"))
    assert "namespace must be 2-32 lower-case" in _refusal(_package(namespace="Tst"))


def test_the_core_contract_passes_its_own_rules() -> None:
    assert list(_marker_issues(set(), [m for op in OPERATIONS for m in (op.input, op.output)])) == []


class _Shadow:
    """A plugin whose package shadows identity.lookup: the hub refuses it at load, naming the plugin."""

    @hookimpl
    def mpp_hub_contract(self) -> ContractPackage:
        return _package(_operation(name="identity.lookup", input=LookupByNik, output=Resident))


def test_the_hub_refuses_a_plugin_whose_package_breaks_the_rules() -> None:
    with pytest.raises(PluginError, match=r"plugin 'shadow': contract package 'tst' is refused: .*shadow it"):
        load_plugins(only=set(), extra=[("shadow", _Shadow())])


class _Versionless:
    @hookimpl
    def mpp_hub_agency(self) -> Agency[AcmeSettings, AcmeRegister]:
        lookup = Served(AcmeRegister.lookup, schema_hash=OPERATIONS.get("identity.lookup").schema_hash)
        return Agency(
            code="versionless", name="No version", kind=AgencyKind.REGIONAL, version="0", settings=AcmeSettings,
            connect=_connect, operations={"identity.lookup": lookup},
        )  # fmt: skip


def test_an_agency_version_nats_would_refuse_is_a_plugin_error() -> None:
    """NATS micro takes only MAJOR.MINOR.PATCH: the hub says so at load, not with nats.micro's error at start."""
    with pytest.raises(PluginError, match=r"plugin 'versionless': version '0' must be MAJOR.MINOR.PATCH"):
        load_plugins(only=set(), extra=[("versionless", _Versionless())])


def test_the_example_on_the_contract_packages_page_passes_every_rule() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "contract-packages.md").read_text()
    source = re.search(r"```python\n(.*?)```", page, re.S)
    assert source is not None
    namespace: dict[str, object] = {}
    exec(compile(source.group(1), "contract-packages.md", "exec", dont_inherit=True), namespace)
    package = namespace["CONTRACT"]
    assert isinstance(package, ContractPackage) and package.namespace not in {p.namespace for p in OPERATIONS.packages}
    assert list(_issues(package)) == []


def test_a_minor_release_keeps_the_hash_and_a_major_one_moves_hash_and_subject() -> None:
    """Only the major version is hashed: an additive 1.1.0 leaves every pin valid; 2.0.0 is a new operation."""
    first, minor, major = (_operation(version=v) for v in ("1.0.0", "1.1.0", "2.0.0"))
    assert first.schema_hash == minor.schema_hash != major.schema_hash
    assert (first.subject, major.subject) == ("mpp.v1.tst.bill", "mpp.v2.tst.bill")
    assert _operation(output=BillQuery).schema_hash != first.schema_hash, "the shape is hashed"
