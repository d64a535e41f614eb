"""The MPP Hub common service contract (v1).

Portal, CLI, plugins, audit and dashboard all speak these models. Nothing agency-specific
belongs here: agencies translate *into* the contract inside their plugins.
"""

from contracts._base import Contract
from contracts._catalogue import AgencyHealth, AgencyInfo, AgencyKind, Catalogue, HealthStatus, OperationInfo
from contracts._errors import ContractError, ErrorCode, FieldIssue, HubError
from contracts._export import export_json_schema
from contracts._health import Coverage, CoverageQuery, PrimaryCareFacility
from contracts._identity import (
    Address,
    BloodType,
    FieldMatch,
    IdentityCheck,
    IdentityCheckResult,
    LookupByNik,
    MaritalStatus,
    Region,
    Religion,
    Resident,
    Sex,
)
from contracts._operations import CONTRACT_VERSION, OPERATIONS, Operation, OperationRegistry
from contracts._payment import Bill, BillQuery, BillRequest, BillStatus, PaymentPaid
from contracts._personal import Mask, Personal, PersonalData, mask_model, mask_payload, mask_text, personal_fields
from contracts._profile import CitizenProfile, PartStatus, ProfilePart
from contracts._values import (
    NIK,
    PROVINCES,
    BpjsCardNumber,
    KKNumber,
    NikParts,
    PlateNumber,
    RegionCode,
    Rupiah,
    VirtualAccountNumber,
    normalise_plate,
    parse_nik,
)
from contracts._vehicle import (
    PlateQuery,
    TaxPayment,
    TaxPaymentReceipt,
    TaxStatus,
    Vehicle,
    VehicleCategory,
    VehicleList,
    VehiclesByOwner,
    VehicleTax,
)

__all__ = [
    "CONTRACT_VERSION",
    "NIK",
    "OPERATIONS",
    "PROVINCES",
    "Address",
    "AgencyHealth",
    "AgencyInfo",
    "AgencyKind",
    "Bill",
    "BillQuery",
    "BillRequest",
    "BillStatus",
    "BloodType",
    "BpjsCardNumber",
    "Catalogue",
    "CitizenProfile",
    "Contract",
    "ContractError",
    "Coverage",
    "CoverageQuery",
    "ErrorCode",
    "FieldIssue",
    "FieldMatch",
    "HealthStatus",
    "HubError",
    "IdentityCheck",
    "IdentityCheckResult",
    "KKNumber",
    "LookupByNik",
    "MaritalStatus",
    "Mask",
    "NikParts",
    "Operation",
    "OperationInfo",
    "OperationRegistry",
    "PartStatus",
    "PaymentPaid",
    "Personal",
    "PersonalData",
    "PlateNumber",
    "PlateQuery",
    "PrimaryCareFacility",
    "ProfilePart",
    "Region",
    "RegionCode",
    "Religion",
    "Resident",
    "Rupiah",
    "Sex",
    "TaxPayment",
    "TaxPaymentReceipt",
    "TaxStatus",
    "Vehicle",
    "VehicleCategory",
    "VehicleList",
    "VehicleTax",
    "VehiclesByOwner",
    "VirtualAccountNumber",
    "export_json_schema",
    "mask_model",
    "mask_payload",
    "mask_text",
    "normalise_plate",
    "parse_nik",
    "personal_fields",
]
