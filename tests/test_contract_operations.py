from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts import OPERATIONS, ErrorCode, HubError, LookupByNik, Operation, Resident, export_json_schema


def test_operations_are_data() -> None:
    """Each operation names its models, subject, idempotency and personal-data use."""
    lookup = OPERATIONS.get("identity.lookup")
    assert lookup.input is LookupByNik and lookup.output is Resident
    assert lookup.subject == "mpp.v1.identity.lookup"
    assert lookup.idempotent and lookup.personal_data
    assert [op.name for op in OPERATIONS] == sorted(op.name for op in OPERATIONS)


def test_unknown_operation_is_a_contract_error_listing_known_ones() -> None:
    """Asking for an operation that does not exist says which ones do."""
    with pytest.raises(HubError) as caught:
        OPERATIONS.get("identity.lookupp")
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert "identity.lookup" in caught.value.error.message


def test_schema_hash_changes_with_the_schema_only() -> None:
    """The hash is stable for the same schemas and differs when a model changes."""
    lookup = OPERATIONS.get("identity.lookup")
    same = Operation("identity.lookup", "other words", LookupByNik, Resident, idempotent=True, personal_data=True)
    assert same.schema_hash == lookup.schema_hash
    other = Operation("identity.lookup", "x", LookupByNik, LookupByNik, idempotent=True, personal_data=True)
    assert other.schema_hash != lookup.schema_hash


def test_export_writes_a_schema_per_model_and_an_index(tmp_path: Path) -> None:
    """`contract export` output is enough for a portal in another language."""
    written = export_json_schema(tmp_path)
    index = json.loads((tmp_path / "operations.json").read_text())
    names = {op["name"] for op in index["operations"]}
    # The core contract's: the operations of packages that plugins loaded in this process are exported apart.
    assert names == {op.name for op in OPERATIONS if OPERATIONS.package_of(op.name) is None}
    assert "package" not in index
    for op in index["operations"]:
        assert (tmp_path / op["input"]).exists() and (tmp_path / op["output"]).exists()
        assert op["schema_hash"] == OPERATIONS.get(op["name"]).schema_hash
    resident = json.loads((tmp_path / "models" / "Resident.json").read_text())
    assert resident["properties"]["nik"]["x-personal-data"] == "nik"
    error = json.loads((tmp_path / "models" / "ContractError.json").read_text())
    assert set(error["$defs"]["ErrorCode"]["enum"]) == {c.value for c in ErrorCode}
    assert len(written) == len(list((tmp_path / "models").iterdir())) + 1
