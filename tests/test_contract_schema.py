"""The contract's published JSON Schema says what its validators do: documented, exemplary, and never looser.

A value the schema accepts must be one the contract accepts (a portal following the schema meets no refusal it
could not foresee), every example must be valid, and every model and request field says what it is.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

import contracts
from contracts import (
    NIK,
    OPERATIONS,
    PROVINCES,
    ApplicationLookup,
    ApplicationRequest,
    BpjsCardNumber,
    CoverageQuery,
    IdentityCheck,
    KKNumber,
    MaskedNIK,
    PlateNumber,
    PositiveRupiah,
    RegionCode,
    Rupiah,
    TaxPayment,
    TrackingNumber,
    VillageCode,
    VirtualAccountNumber,
    parse_nik,
    tracking_number_of,
)
from contracts._patterns import TEXT
from contracts._personal import personal_marker

#: Every body a caller sends: each operation's input, and the applications' own.
REQUEST_MODELS: list[type[BaseModel]] = sorted(
    {op.input for op in OPERATIONS} | {ApplicationRequest, ApplicationLookup}, key=lambda m: m.__name__
)
_EXPORTED = [getattr(contracts, name) for name in contracts.__all__]
_DOCUMENTED_KINDS = (BaseModel, enum.Enum)


def _all_models() -> list[type[BaseModel]]:
    """Every contract model a caller can meet: the exported ones and every model inside them."""
    found: dict[str, type[BaseModel]] = {}
    stack = [m for m in _EXPORTED if inspect.isclass(m) and issubclass(m, BaseModel)]
    while stack:
        model = stack.pop()
        if model.__name__ in found or model.__pydantic_generic_metadata__["parameters"]:
            continue
        found[model.__name__] = model
        stack.extend(_models_in([f.annotation for f in model.model_fields.values()]))
    return sorted(found.values(), key=lambda m: m.__name__)


def _models_in(annotations: list[Any]) -> Iterator[type[BaseModel]]:
    for annotation in annotations:
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            yield annotation
        yield from _models_in(list(getattr(annotation, "__args__", ())))


MODELS = _all_models()


def field_adapter(field: FieldInfo) -> TypeAdapter[Any]:
    """The field's own type with its constraints and validators, to validate one value against."""
    annotated: Any = Annotated  # built at run time from the model, which a type checker cannot follow
    return TypeAdapter(annotated[field.annotation, field])


def _validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


@pytest.mark.parametrize(
    "kind",
    [k for k in _EXPORTED if inspect.isclass(k) and (issubclass(k, _DOCUMENTED_KINDS) or dataclasses.is_dataclass(k))],
    ids=lambda k: k.__name__,
)
def test_every_exported_model_has_a_docstring(kind: type) -> None:
    """OpenAPI and the exported schema describe each model by its own docstring, never by a base class's."""
    assert (kind.__dict__.get("__doc__") or "").strip(), f"{kind.__name__} has no docstring"


@pytest.mark.parametrize("model", REQUEST_MODELS, ids=lambda m: m.__name__)
def test_every_request_field_is_described_and_personal_data_says_so(model: type[BaseModel]) -> None:
    """A portal developer reads each field's description in /docs; a personal-data field says that it is."""
    properties = model.model_json_schema()["properties"]
    for name, field in model.model_fields.items():
        description = properties[name].get("description", "")
        assert description, f"{model.__name__}.{name} has no description"
        if personal_marker(field) is not None:
            assert "personal data" in description, f"{model.__name__}.{name}: {description!r}"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_personal_data_fields_say_so_wherever_they_are_described(model: type[BaseModel]) -> None:
    properties = model.model_json_schema()["properties"]
    for name, field in model.model_fields.items():
        description = properties[name].get("description")
        if description and personal_marker(field) is not None:
            assert "personal data" in description, f"{model.__name__}.{name}: {description!r}"


def _examples(model: type[BaseModel]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(field, the schema that carries the examples, example) for every example on a field of ``model``."""
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    for name, prop in schema["properties"].items():
        for node in (prop, *prop.get("anyOf", ())):
            for example in node.get("examples", []):
                yield name, {**node, "$defs": schema.get("$defs", {})}, example


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_example_is_valid_by_the_schema_and_by_the_model(model: type[BaseModel]) -> None:
    """An example a portal copies from the docs is accepted: by its published schema and by the field's type."""
    for name, schema, example in _examples(model):
        assert _validator(schema).is_valid(example), f"{model.__name__}.{name}: {example!r} breaks its schema"
        field = model.model_fields[name]
        field_adapter(field).validate_python(example)


def test_the_documented_tracking_number_adds_up() -> None:
    """The example used to fail its own check character."""
    (example,) = TypeAdapter(TrackingNumber).json_schema()["examples"]
    assert TypeAdapter(TrackingNumber).validate_python(example) == example
    assert tracking_number_of(example.replace("-", "")[:8]) == example


# --- the patterns accept only what the validators accept -------------------------------------------------------

#: Each value type with the pattern it publishes.
PATTERNED: dict[str, Any] = {
    "NIK": NIK,
    "KKNumber": KKNumber,
    "RegionCode": RegionCode,
    "VillageCode": VillageCode,
    "BpjsCardNumber": BpjsCardNumber,
    "PlateNumber": PlateNumber,
    "VirtualAccountNumber": VirtualAccountNumber,
    "Rupiah": Rupiah,
    "PositiveRupiah": PositiveRupiah,
    "MaskedNIK": MaskedNIK,
    "TrackingNumber": TrackingNumber,
}
_PROPERTY = settings(max_examples=100, deadline=None, database=None, derandomize=True)


@functools.cache
def _schema_valid(schema_json: str) -> st.SearchStrategy[str]:
    """Strings the schema accepts: drawn from its pattern by Python's reading, kept only if the schema agrees."""
    schema = json.loads(schema_json)
    return st.from_regex(schema["pattern"], fullmatch=True).filter(_validator(schema).is_valid)


def _valid_for(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    return _schema_valid(json.dumps(schema, sort_keys=True))


@pytest.mark.parametrize("name", [n for n in PATTERNED if n != "TrackingNumber"])
@_PROPERTY
@given(data=st.data())
def test_every_value_the_pattern_allows_is_accepted(name: str, data: st.DataObject) -> None:
    adapter = TypeAdapter(PATTERNED[name])
    adapter.validate_python(data.draw(_valid_for(adapter.json_schema())))


@_PROPERTY
@given(body=st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=8, max_size=8))
def test_tracking_numbers_of_the_format_are_accepted_and_match_the_pattern(body: str) -> None:
    """A regex cannot check the check character: values of the named format are the valid ones, and match."""
    adapter = TypeAdapter(TrackingNumber)
    number = tracking_number_of(body)
    assert _validator(adapter.json_schema()).is_valid(number)
    assert adapter.validate_python(number) == number


def _is_a_nik(text: str) -> bool:
    try:
        parse_nik(text)
    except PydanticCustomError:
        return False
    return True


def test_the_nik_pattern_is_exactly_the_birth_date_rule() -> None:
    """Every DDMMYY the NIK check takes for a birth date (day + 40 for women), and no other, matches."""
    nik = re.compile(TypeAdapter(NIK).json_schema()["pattern"])
    for dd in range(80):
        for mm in range(20):
            for yy in range(100):
                candidate = f"332810{dd:02d}{mm:02d}{yy:02d}0001"
                assert bool(nik.fullmatch(candidate)) is _is_a_nik(candidate), candidate


@pytest.mark.parametrize("province", sorted(PROVINCES))
def test_the_nik_pattern_takes_every_province_and_refuses_serial_0000(province: str) -> None:
    nik = re.compile(TypeAdapter(NIK).json_schema()["pattern"])
    assert nik.fullmatch(f"{province}28104505900001") and parse_nik(f"{province}28104505900001")
    assert not nik.fullmatch(f"{province}28104505900000")
    assert not nik.fullmatch("0028104505900001") and not nik.fullmatch("9928104505900001")


def _text_schema(model: type[BaseModel], field: str) -> dict[str, Any]:
    prop = model.model_json_schema()["properties"][field]
    return next(node for node in (prop, *prop.get("anyOf", ())) if node.get("type") == "string")


@_PROPERTY
@given(data=st.data())
def test_text_the_schema_allows_is_accepted(data: st.DataObject) -> None:
    """No control characters, nothing that strips to blank: the schema says what a model does to text."""
    name_schema, occupation_schema = _text_schema(IdentityCheck, "full_name"), _text_schema(IdentityCheck, "occupation")
    assert name_schema["pattern"] == occupation_schema["pattern"] == TEXT
    name = data.draw(_valid_for(name_schema))
    occupation = data.draw(_valid_for(occupation_schema))
    check = IdentityCheck(nik="3328104505900001", full_name=name, occupation=occupation)
    assert (check.full_name, check.occupation) == (name, occupation)  # nothing stripped: the schema allowed none


@_PROPERTY
@given(data=st.data())
def test_dates_the_schema_allows_are_plausible(data: st.DataObject) -> None:
    """A service date and a payment time the schema allows pass the models' checks (this century, a time zone)."""
    service_date = data.draw(_valid_for(_text_schema(CoverageQuery, "service_date")))
    CoverageQuery.model_validate({"card_number": "0001234567890", "service_date": service_date})
    paid_at = data.draw(_valid_for(TaxPayment.model_json_schema()["properties"]["paid_at"]))
    payment = TaxPayment.model_validate(
        {"plate": "G 1234 AB", "bill_code": "B-1", "amount": "1.00", "payment_reference": "R-1", "paid_at": paid_at}
    )
    assert payment.paid_at.tzinfo is not None


@pytest.mark.parametrize("text", ["", " ", "\u3000", " SRI", "SRI ", "A\x00B", "\x1b[31m", "\tSRI"])
def test_the_text_pattern_refuses_what_a_model_refuses_or_changes(text: str) -> None:
    assert not _validator(_text_schema(IdentityCheck, "full_name")).is_valid(text)


@pytest.mark.parametrize(
    ("model", "body", "valid"),
    [
        (IdentityCheck, {"nik": "3328104505900001"}, False),
        (IdentityCheck, {"nik": "3328104505900001", "full_name": None}, False),
        (IdentityCheck, {"nik": "3328104505900001", "rt": "005"}, True),
        (IdentityCheck, {"nik": "3328104505900001", "village_code": "33.28.10"}, False),
        (IdentityCheck, {"nik": "3328104505900001", "village_code": "3328102001"}, True),
        (CoverageQuery, {}, False),
        (CoverageQuery, {"nik": "3328104505900001", "card_number": "0001234567890"}, False),
        (CoverageQuery, {"nik": "3328104505900001", "card_number": None}, True),
        (CoverageQuery, {"card_number": "0001234567890", "service_date": "1999-12-31"}, False),
        (CoverageQuery, {"card_number": "0001234567890", "service_date": "2099-12-31"}, True),
    ],
)
def test_rules_across_fields_are_in_the_schema(model: type[BaseModel], body: dict[str, Any], valid: bool) -> None:
    """At least one claim to verify, exactly one key for coverage, a village for village_code, this century."""
    assert _validator(model.model_json_schema()).is_valid(body) is valid
    try:
        model.model_validate(body)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted is valid
