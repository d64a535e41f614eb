"""Operations as data: what the hub can be asked, with which input and output models.

The operation name fixes the NATS subject (``mpp.v1.identity.lookup``) and the HTTP path
(``/v1/identity.lookup``). Its schema hash pins the shape of the input and output schemas (types and
constraints, not their descriptions, titles or examples), so a plugin built against another shape of the
contract is refused instead of failing on the wire, and better documentation does not make plugins repin.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from contracts._errors import ErrorCode, HubError
from contracts._health import Coverage, CoverageQuery
from contracts._identity import FamilyCard, IdentityCheck, IdentityCheckResult, LookupByKK, LookupByNik, Resident
from contracts._payment import Bill, BillQuery, BillRequest

if TYPE_CHECKING:
    from contracts._packages import ContractPackage

from contracts._vehicle import (
    PlateQuery,
    TaxPayment,
    TaxPaymentReceipt,
    VehicleList,
    VehiclesByOwner,
    VehicleTax,
)

__all__ = ["CONTRACT_VERSION", "OPERATIONS", "Operation", "OperationRegistry"]

#: The contract's version: its major part names the NATS subjects and HTTP paths (``mpp.v1.*``, ``/v1/*``).
CONTRACT_VERSION = "1.0.0"

# Keywords that document a schema without changing what it accepts.
_DOCUMENTATION = frozenset({"title", "description", "examples"})
# Keywords whose value maps names (of properties, of definitions) to schemas: the names are shape, not words.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs"})


def _shape(schema: Any) -> Any:
    """``schema`` without its documentation keywords, at every depth."""
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: {name: _shape(value) for name, value in sub.items()} if key in _NAMED_SCHEMAS else _shape(sub)
        for key, sub in schema.items()
        if key not in _DOCUMENTATION
    }


@dataclass(frozen=True)
class Operation:
    """One thing the hub can be asked: its input and output models, and what a caller may assume of it."""

    name: str
    summary: str
    input: type[BaseModel]
    output: type[BaseModel]
    idempotent: bool  # safe to repeat: a retry cannot change the outcome
    personal_data: bool
    version: str = CONTRACT_VERSION

    @property
    def major(self) -> str:
        return self.version.split(".")[0]

    @property
    def subject(self) -> str:
        return f"mpp.v{self.major}.{self.name}"

    @functools.cached_property
    def schema_hash(self) -> str:
        """First 16 hex digits of SHA-256 over the canonical JSON of name, major version and both schemas' shapes.

        Only the major version counts: an additive release (``1.0`` to ``1.1``) changes the hash of just the
        operations whose shape it changed, so the plugins of every other operation keep loading.
        """
        document = {
            "name": self.name,
            "major": self.major,
            "input": _shape(self.input.model_json_schema(mode="validation")),
            "output": _shape(self.output.model_json_schema(mode="serialization")),
        }
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class OperationRegistry:
    """The contract's operations by name, the core's and those of the packages registered; in name order."""

    _by_name: dict[str, Operation] = field(default_factory=dict)
    _packages: dict[str, ContractPackage] = field(default_factory=dict)
    #: Grows with every change, so a view computed from the registry knows when to compute again.
    generation: int = 0

    def add(self, operation: Operation) -> Operation:
        """Add ``operation``; a name can be in the contract once."""
        if operation.name in self._by_name:
            raise ValueError(f"operation {operation.name!r} is already in the contract")
        self._by_name[operation.name] = operation
        self.generation += 1
        return operation

    def add_package(self, package: ContractPackage) -> None:
        """Add a package's operations (checked first by :func:`contracts.register_package`, the public way in)."""
        for operation in package.operations:
            self.add(operation)
        self._packages[package.namespace] = package

    def package(self, namespace: str) -> ContractPackage | None:
        """The registered package of ``namespace``, or None (also for the core's)."""
        return self._packages.get(namespace)

    def package_of(self, name: str) -> str | None:
        """The namespace of the package ``name`` came in, or None for a core operation."""
        namespace = name.partition(".")[0]
        return namespace if namespace in self._packages else None

    @property
    def packages(self) -> list[ContractPackage]:
        return [self._packages[namespace] for namespace in sorted(self._packages)]

    def get(self, name: str) -> Operation:
        """The operation, or ``invalid_input`` listing the ones that exist."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise HubError.of(
                ErrorCode.INVALID_INPUT, f"Unknown operation {name!r}; the contract has: {known}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Operation]:
        return iter(sorted(self._by_name.values(), key=lambda op: op.name))

    def __len__(self) -> int:
        return len(self._by_name)


#: Every operation of the contract, by name.
OPERATIONS = OperationRegistry()

OPERATIONS.add(
    Operation(
        name="identity.lookup",
        summary="Look up a resident in the civil registry by NIK.",
        input=LookupByNik,
        output=Resident,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="identity.verify",
        summary="Check claimed identity fields against the civil registry, field by field.",
        input=IdentityCheck,
        output=IdentityCheckResult,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="identity.family",
        summary="The family card (Kartu Keluarga) by its number: the head of the family, the address and every member.",
        input=LookupByKK,
        output=FamilyCard,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="health.coverage",
        summary="Health-insurance coverage of a participant by NIK or card number, for a service date.",
        input=CoverageQuery,
        output=Coverage,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="vehicle.list_by_owner",
        summary="Vehicles registered to an owner's NIK, with each one's tax due date and status.",
        input=VehiclesByOwner,
        output=VehicleList,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="vehicle.tax_due",
        summary="The vehicle tax owed now for a plate: each component, the total and the bill code.",
        input=PlateQuery,
        output=VehicleTax,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="vehicle.record_payment",
        summary="Post a vehicle-tax payment to Samsat; posting the same payment reference again changes nothing.",
        input=TaxPayment,
        output=TaxPaymentReceipt,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="payment.create_bill",
        summary="Issue a virtual-account bill at the bank; the same reference returns the same bill.",
        input=BillRequest,
        output=Bill,
        idempotent=True,
        personal_data=True,
    )
)
OPERATIONS.add(
    Operation(
        name="payment.bill_status",
        summary="Status of a virtual-account bill: unpaid, paid (with amount and time) or expired.",
        input=BillQuery,
        output=Bill,
        idempotent=True,
        personal_data=True,
    )
)
