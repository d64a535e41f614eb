"""Contract evolution: `mpp-hub contract diff` says which changes break which operations."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts import export_json_schema
from contracts._diff import diff_contracts
from tests._processes import run_cli

REPO = Path(__file__).resolve().parent.parent
KEPT_V1 = REPO / "contracts" / "schema" / "v1"

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contract") / "now"
    export_json_schema(folder)
    return folder


def _edited(source: Path, target: Path, model: str, edit: Edit) -> Path:
    shutil.copytree(source, target)
    path = target / "models" / f"{model}.json"
    schema = json.loads(path.read_text())
    edit(schema)
    path.write_text(json.dumps(schema))
    return target


def test_the_current_contract_breaks_nothing_in_the_kept_v1(exported: Path) -> None:
    """The contract as exported today is compatible with contracts/schema/v1 (only additions allowed)."""
    diff = diff_contracts(KEPT_V1, exported)
    assert not diff.breaking, diff.render()
    assert set(json.loads((KEPT_V1 / "operations.json").read_text())["operations"][0]) >= {"version", "schema_hash"}


def _add_optional(schema: dict[str, Any]) -> None:
    schema["properties"]["nickname"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}


def _add_required_input(schema: dict[str, Any]) -> None:
    schema["properties"]["reason"] = {"type": "string"}
    schema["required"].append("reason")


def _remove(field: str) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        del schema["properties"][field]
        schema["required"] = [r for r in schema.get("required", []) if r != field]

    return edit


def _retype(schema: dict[str, Any]) -> None:
    schema["properties"]["full_name"] = {"type": "integer"}


def _new_sex(schema: dict[str, Any]) -> None:
    schema["$defs"]["Sex"]["enum"].append("other")


def _tighter_name(schema: dict[str, Any]) -> None:
    schema["properties"]["full_name"]["maxLength"] = 10


@pytest.mark.parametrize(
    ("model", "edit", "path", "change", "breaking"),
    [
        ("Resident", _add_optional, "output.nickname", "added (optional)", False),
        ("LookupByNik", _add_optional, "input.nickname", "added (optional)", False),
        ("LookupByNik", _add_required_input, "input.reason", "added (required)", True),
        ("Resident", _remove("occupation"), "output.occupation", "removed", True),
        ("IdentityCheck", _remove("full_name"), "input.full_name", "removed", True),
        ("Resident", _retype, "output.full_name", "retyped from string to integer", True),
        ("Resident", _new_sex, "output.sex", "enum values added: \"other\"", True),
        ("IdentityCheck", _new_sex, "input.sex", "enum values added: \"other\"", False),
        ("Resident", _tighter_name, "output.full_name", "maxLength 200 -> 10 (tighter)", False),
    ],
    ids=[
        "optional-reply-field", "optional-request-field", "required-request-field", "removed-reply-field",
        "removed-request-field", "retyped", "new-enum-value-in-reply", "new-enum-value-in-request",
        "tighter-reply-constraint",
    ],
)  # fmt: skip
def test_each_change_is_classified(
    exported: Path, tmp_path: Path, model: str, edit: Edit, path: str, change: str, breaking: bool
) -> None:
    """Adding an optional field is allowed; removing or retyping one breaks; enums and bounds by direction."""
    diff = diff_contracts(exported, _edited(exported, tmp_path / "next", model, edit))
    found = [c for c in diff.changes if c.path == path]
    assert found, diff.render()
    assert found[0].change == change, found
    assert found[0].breaking is breaking and diff.breaking is breaking, diff.render()
    users = {"Resident": "identity.lookup", "LookupByNik": "identity.lookup", "IdentityCheck": "identity.verify"}
    assert {c.operation for c in found} == {users[model]}


def test_a_rule_across_fields_is_compared_whole_and_its_fields_still_one_by_one(exported: Path, tmp_path: Path) -> None:
    """identity.verify's at-least-one-claim rule (the object's own anyOf) is a rule, not a union of variants."""

    def drop_rule_and_a_field(schema: dict[str, Any]) -> None:
        del schema["anyOf"]
        _remove("occupation")(schema)

    diff = diff_contracts(exported, _edited(exported, tmp_path / "next", "IdentityCheck", drop_rule_and_a_field))
    found = {(c.path, c.change, c.breaking) for c in diff.changes if c.operation == "identity.verify"}
    assert found == {("input", "anyOf rule changed", True), ("input.occupation", "removed", True)}, diff.render()


def test_a_removed_operation_breaks_and_an_added_one_does_not(exported: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(exported, old)
    index = json.loads((old / "operations.json").read_text())
    index["operations"] = [op for op in index["operations"] if op["name"] != "health.coverage"]
    index["operations"].append({**index["operations"][0], "name": "land.parcel", "subject": "mpp.v1.land.parcel"})
    (old / "operations.json").write_text(json.dumps(index))
    diff = diff_contracts(old, exported)
    changes = {(c.operation, c.change, c.breaking) for c in diff.changes if c.path == "operation"}
    assert changes == {("health.coverage", "added", False), ("land.parcel", "removed", True)}
    assert diff.broken_operations() == ["land.parcel"]


def test_cli_prints_for_people_and_machines_and_exits_1_on_breaking(exported: Path, tmp_path: Path) -> None:
    edited = _edited(exported, tmp_path / "next", "Resident", _remove("occupation"))
    people = run_cli("contract", "diff", str(exported), str(edited), cwd=tmp_path)
    assert people.returncode == 1
    assert "breaks 1 operation(s): identity.lookup" in people.stdout
    assert "breaking    output.occupation: removed" in people.stdout and "health.coverage: unchanged" in people.stdout
    machines = run_cli("contract", "diff", str(exported), str(edited), "--json", cwd=tmp_path)
    report = json.loads(machines.stdout)
    assert machines.returncode == 1 and report["breaking"] and report["broken_operations"] == ["identity.lookup"]
    same = run_cli("contract", "diff", str(KEPT_V1), str(exported), cwd=tmp_path)
    assert same.returncode == 0 and "no breaking change" in same.stdout


def test_cli_refuses_a_folder_that_is_not_an_export(tmp_path: Path) -> None:
    done = run_cli("contract", "diff", str(tmp_path), str(KEPT_V1), cwd=tmp_path)
    assert done.returncode == 2 and "operations.json" in done.stderr and "contract export" in done.stderr
