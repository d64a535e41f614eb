"""Schemathesis over the live edge: a request its published OpenAPI accepts is never refused as invalid.

A whole `mpp-hub up` runs in-process (embedded NATS, the four sandboxes and the application process, the
checkpointer behind the access log). Schemathesis reads its live ``/openapi.json`` and generates only requests
the schema accepts; each is sent with the CLI consumer's key and a purpose that covers the route, and each
answer must match the schema too (the output model with its patterns, or a ``ContractError``).

What "the hub refused what the schema accepts" means here: an ``invalid_input`` answer that names no agency
(the hub's own checks, before anything is sent to an agency: the contract's models at the edge or in a worker,
the process engine's), a FastAPI 422, an ``unauthorized`` (the key is valid) or an ``internal``. Everything else is
an honest answer to a well-formed request: ``not_found`` for a valid but unknown NIK or plate, ``forbidden``,
``conflict``, ``rate_limited``, an agency's own failure (``agency_*``), and an ``invalid_input`` an agency gave
for its own business rule (it names the agency: Samsat takes whole rupiah only).
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field
from schemathesis import GenerationMode

from contracts import (
    OPERATIONS,
    TRACKING_NUMBER_ALPHABET,
    TRACKING_NUMBER_FORMAT,
    Application,
    ApplicationStatus,
    ContractError,
    ErrorCode,
    tracking_number_of,
)
from hub._routes_applications import SUBMISSION, submission_models, submission_schemas
from hub._settings import HubSettings
from hub._up import Started, run
from plugins.vehicle_tax_renewal.process import mpp_hub_process
from tests._plugin_venv import BUILT_IN_PLUGINS
from tests._until import until_sync
from tests.conftest import purpose_for
from tests.test_contract_schema import MODELS, field_adapter

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: Examples per route: enough to reach every kind of field, few enough to stay well under a minute.
MAX_EXAMPLES = 25
#: The purpose a citizen's own access-log read states (the data subject's right, UU 27/2022).
OWN_DATA = "hak-subjek-data"

#: Each route that takes a body or parameters, with the purpose a portal states for it.
ROUTES: dict[tuple[str, str], str] = {
    **{("POST", f"/v1/{op.name}"): purpose_for(op.name) for op in OPERATIONS if OPERATIONS.package_of(op.name) is None},
    ("POST", "/v1/applications"): purpose_for("application.submit"),
    ("POST", "/v1/applications/lookup"): purpose_for("application.lookup"),
    ("POST", "/v1/applications/{tracking_no}/actions/{action}"): purpose_for("application.read"),
    ("POST", "/v1/applications/document"): purpose_for("application.lookup"),
    ("GET", "/v1/applications"): purpose_for("application.read"),
    ("GET", "/v1/applications/{tracking_no}"): purpose_for("application.read"),
    ("GET", "/v1/citizens/{nik}/applications"): purpose_for("application.read"),
    ("GET", "/v1/citizens/{nik}/profile"): purpose_for("citizen.profile"),
    ("GET", "/v1/citizens/{nik}/access-log"): OWN_DATA,
    # The queue holds no personal data: any purpose is beside the point, the key's rights decide.
    **{
        route: OWN_DATA
        for route in (
            ("POST", "/v1/queue/tickets"),
            ("GET", "/v1/queue/tickets/{ticket_id}"),
            ("POST", "/v1/queue/desks/{desk}/call"),
            ("POST", "/v1/queue/desks/{desk}/tickets/{ticket_id}/link"),
            ("POST", "/v1/queue/desks/{desk}/tickets/{ticket_id}/{move}"),
            ("GET", "/v1/queue/slots"),
            ("POST", "/v1/queue/bookings"),
            ("GET", "/v1/queue/bookings/{booking_id}"),
            ("POST", "/v1/queue/bookings/{booking_id}/check-in"),
            ("POST", "/v1/queue/bookings/{booking_id}/cancel"),
            ("POST", "/v1/front/notice"),
            ("POST", "/v1/survey"),
            ("GET", "/v1/survey/ikm"),
            ("GET", "/v1/sites/schedule"),  # public, and no personal data: the key and the purpose are ignored
        )
    },
}
#: The headers each request carries as the test sets them: the CLI consumer's key, and a purpose that covers the
#: route (whether a purpose covers a route, and needs a consent reference, is the purpose registry's rule for that
#: route, which a header's schema cannot say). Every other documented header is generated from its schema.
FIXED_HEADERS = ("Authorization", "X-Purpose")
_HONEST = {
    ErrorCode.NOT_FOUND,
    ErrorCode.FORBIDDEN,
    ErrorCode.CONFLICT,
    ErrorCode.RATE_LIMITED,
    ErrorCode.AGENCY_UNAVAILABLE,
    ErrorCode.AGENCY_TIMEOUT,
    ErrorCode.AGENCY_ERROR,
}

# Values of the tracking-number format: a regular expression cannot spell its check character, so the schema
# names the format and this is what a generator that knows it draws.
schemathesis.openapi.format(
    TRACKING_NUMBER_FORMAT, st.text(alphabet=TRACKING_NUMBER_ALPHABET, min_size=8, max_size=8).map(tracking_number_of)
)


@dataclass
class Mall:
    started: Started
    key: str

    @property
    def url(self) -> str:
        assert self.started.http_url is not None
        return self.started.http_url

    def headers(self, purpose: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Purpose": purpose}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mall(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mall]:
    data_dir = tmp_path_factory.mktemp("schemathesis")
    hub_settings = HubSettings(
        data_dir=data_dir,
        nats_port=-1,
        port=0,
        log_level="warning",
        audit_checkpoint_interval=0.5,
        load_plugins=list(BUILT_IN_PLUGINS),  # what the routes below are written for, whatever else is installed
    )
    stop, up = asyncio.Event(), asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run(hub_settings, stop=stop, on_started=up.set_result))
    try:
        await asyncio.wait({up, task}, timeout=90, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # it failed to start: say why
        started: Started = up.result()
        yield Mall(started, _cli_key(data_dir))
    finally:
        stop.set()
        await task


def _cli_key(data_dir: Path) -> str:
    return (data_dir / "secrets" / "cli.key").read_text().strip()


def _settled(mall: Mall, tracking_no: str) -> None:
    """Wait until the process has taken the application as far as it goes without the citizen.

    The hub runs in this process: a step still running would draw on the global ``random`` (the audit log's
    retry jitter) while Hypothesis draws the next example, which Hypothesis refuses as a strategy using it.
    """
    settled = {ApplicationStatus.AWAITING_PAYMENT} | {s for s in ApplicationStatus if s.final}
    headers = mall.headers(purpose_for("application.read"))

    def status() -> ApplicationStatus | None:
        answer = httpx.get(f"{mall.url}/v1/applications/{tracking_no}", headers=headers, timeout=30)
        found = Application.model_validate_json(answer.content).status
        return found if found in settled else None

    until_sync(status, f"application {tracking_no} to settle", timeout=60)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def spec(mall: Mall) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=mall.url, timeout=30) as http:
        answer = await http.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _judge(method: str, path: str, status: int, content: bytes) -> str:
    """The kind of answer, or an assertion error when the hub refused a request its schema accepts."""
    if status < 400:
        return str(status)
    assert status != 422, f"{method} {path}: FastAPI's own validation answered: {content[:500]!r}"
    error = ContractError.model_validate_json(content)
    what = f"{method} {path} answered {status} {error.code.value} (agency {error.agency}): {error.message}"
    if error.code is ErrorCode.INVALID_INPUT:
        # Which providers (banks) there are is configuration, which no schema can list: one the hub has not is
        # refused as the provider field's issue.
        configured = [issue.field for issue in error.issues] == ["provider"]
        assert error.agency is not None or configured, f"the hub refused a request its schema accepts: {what}"
    else:
        assert error.code in _HONEST, what
    assert status < 500 or error.agency is not None, what
    return f"{status} {error.code.value}" + (f" ({error.agency})" if error.agency else "")


@dataclass
class Run:
    """What one route's run saw: the kinds of answer, and how often each generated header was sent."""

    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    headers_sent: collections.Counter[str] = field(default_factory=collections.Counter)


def _exercise(api: Any, mall: Mall, method: str, path: str) -> Run:
    """Positive-data generation on one route, run in a thread while the mall serves on the test's loop."""
    run = Run()
    headers = mall.headers(ROUTES[(method, path)])

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # the same requests on every run
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        phases=[Phase.explicit, Phase.generate],  # a failure is reported as found: shrinking costs a minute
    )
    @given(case=api[path][method].as_strategy(generation_mode=GenerationMode.POSITIVE))
    def exchange(case: Any) -> None:
        # The documented headers as generated (X-Channel, X-Officer, X-Correlation-Id, X-Consent-Ref), the key and
        # the purpose as set.
        generated = {name: value for name, value in (case.headers or {}).items() if name not in FIXED_HEADERS}
        run.headers_sent.update(generated.keys())
        case.headers = {**generated, **headers}
        response = case.call(base_url=mall.url, timeout=30)
        run.answers[_judge(method, path, response.status_code, response.content)] += 1
        if (method, path) == ("POST", "/v1/applications") and response.status_code == 201:
            _settled(mall, response.json()["tracking_no"])
        # And the answer is what the schema promises: the output model (its patterns too) or a ContractError.
        case.validate_response(response, checks=[schemathesis.checks.response_schema_conformance])

    exchange()
    return run


async def test_every_route_with_input_is_exercised(spec: dict[str, Any]) -> None:
    """A new route that takes a body or parameters is not silently left out of the run below."""
    published = {
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        for method, route in methods.items()
        if path.startswith("/v1/")
        and ("requestBody" in route or any(p["in"] in ("path", "query") for p in route.get("parameters", [])))
    }
    assert published == set(ROUTES)


@pytest.mark.parametrize(
    ("method", "path"), sorted(ROUTES), ids=[f"{method} {path}" for method, path in sorted(ROUTES)]
)
async def test_what_the_schema_accepts_the_hub_accepts(
    mall: Mall, spec: dict[str, Any], method: str, path: str
) -> None:
    """Schema-valid requests only: never a 5xx of the hub's own, never an invalid_input the schema did not warn of."""
    api = schemathesis.openapi.from_dict(spec)
    run = await asyncio.to_thread(_exercise, api, mall, method, path)
    assert sum(run.answers.values()) >= MAX_EXAMPLES // 2, run  # the generator reached the hub, not only its filters
    route = spec["paths"][path][method.lower()]
    documented = {p["name"] for p in route.get("parameters", []) if p["in"] == "header"} - set(FIXED_HEADERS)
    assert documented <= set(run.headers_sent), run  # every documented header was generated and sent


async def test_an_application_is_published_as_each_service_this_hub_runs(mall: Mall, spec: dict[str, Any]) -> None:
    """`POST /v1/applications` takes one of the installed processes' services, each with its own params."""
    body = spec["paths"]["/v1/applications"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    submission = _resolve(spec, body)
    variants = {
        _resolve(spec, variant)["properties"]["service"]["const"]: _resolve(spec, variant)
        for variant in submission["oneOf"]
    }
    assert set(variants) == set(mall.started.plugins.processes) == {"vehicle-tax-renewal"}
    assert submission["discriminator"]["propertyName"] == "service"
    params = _resolve(spec, variants["vehicle-tax-renewal"]["properties"]["params"])
    assert params["required"] == ["plate"] and params["additionalProperties"] is False


class _CertificateParams(BaseModel):
    """A made-up service's params, none of them required."""

    model_config = ConfigDict(extra="forbid")

    copies: int = Field(default=1, ge=1, le=5)


async def test_each_installed_process_is_a_variant_of_the_published_body() -> None:
    """Two processes: a body names one service and takes that one's params only; params nothing requires may be
    left out, as the engine takes none as {}; a service no process runs is refused."""
    renewal = mpp_hub_process()
    certificate = replace(renewal, service="birth-certificate", params=_CertificateParams)
    schemas = submission_schemas({p.service: p for p in (renewal, certificate)})
    body = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{SUBMISSION}", "components": {"schemas": schemas}}
    )
    applicant = {"applicant_nik": "3328104505900001", "channel": "desk"}
    assert body.is_valid({**applicant, "service": "vehicle-tax-renewal", "params": {"plate": "G 1150 YD"}})
    assert body.is_valid({**applicant, "service": "birth-certificate", "params": {"copies": 2}})
    assert body.is_valid({**applicant, "service": "birth-certificate"})
    assert not body.is_valid({**applicant, "service": "vehicle-tax-renewal"})
    assert not body.is_valid({**applicant, "service": "birth-certificate", "params": {"plate": "G 1150 YD"}})
    assert not body.is_valid({**applicant, "service": "passport", "params": {}})
    assert submission_schemas({}) == {}  # a hub without processes publishes the plain ApplicationRequest


@pytest.mark.parametrize(
    ("header", "sent", "refused"),
    [
        ("X-Channel", "kiosk", "van"),
        ("X-Officer", "ani.s@desk-3.mpp-tegal", "ani s"),
        ("X-Consent-Ref", "PDP/2026/000123", "/PDP"),
        ("X-Correlation-Id", "3f2b8c4e-9d1a-4b6f-8e2a-7c5d9b1e0f3a", "id/1"),
    ],
)
async def test_each_header_is_published_with_the_rule_its_check_applies(
    mall: Mall, spec: dict[str, Any], header: str, sent: str, refused: str
) -> None:
    """The published schema of a header takes what the edge takes, and leaves out what the edge refuses."""
    documented = next(
        p["schema"] for p in spec["paths"]["/v1/identity.lookup"]["post"]["parameters"] if p["name"] == header
    )
    validator = jsonschema_rs.Draft202012Validator(documented)
    assert validator.is_valid(sent) and not validator.is_valid(refused)
    async with httpx.AsyncClient(base_url=mall.url, timeout=30) as http:
        for value, accepted in ((sent, True), (refused, False)):
            answer = await http.post(
                "/v1/identity.lookup",
                json={"nik": "3328104505900001"},
                headers={**mall.headers(purpose_for("identity.lookup")), header: value},
            )
            error = ContractError.model_validate_json(answer.content) if answer.status_code >= 400 else None
            refused_here = error is not None and error.code is ErrorCode.INVALID_INPUT and header in error.message
            assert refused_here is not accepted, (header, value, answer.text)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a ``$ref`` into the document's components names, or the schema itself."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = spec["components"]["schemas"][ref.removeprefix("#/components/schemas/")]
    return found


# --- the examples the OpenAPI document shows -------------------------------------------------------------------

_MODELS_BY_NAME = {model.__name__: model for model in MODELS}


def _models_of(mall: Mall) -> dict[str, type[BaseModel]]:
    """The contract's models, and those the edge publishes for this hub's processes (their params too)."""
    published = submission_models(mall.started.plugins.processes)
    params = [process.params for process in mall.started.plugins.processes.values()]
    return {**_MODELS_BY_NAME, **{model.__name__: model for model in (*published, *params)}}


def _examples(node: Any, where: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path in the document, example) for every ``examples`` item and ``example`` anywhere in it."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _examples(item, (*where, str(index)))
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        named = where[-1:] == ("properties",)  # then the key is a field's name, not a keyword
        if key == "examples" and isinstance(value, list) and not named:
            yield from (((*where, key), example) for example in value)
        elif key == "example" and not named:
            yield (*where, key), value
        else:
            yield from _examples(value, (*where, key))


def _field_example_is_valid(models: dict[str, type[BaseModel]], where: tuple[str, ...], example: Any) -> None:
    # components/schemas/<Model>/properties/<field>[/anyOf/<i>]/examples
    model = models[where[2]]
    field = model.model_fields[where[4]]
    field_adapter(field).validate_python(example)


def _filled(path: str, parameters: list[dict[str, Any]]) -> str:
    """``path`` with each path parameter it still names replaced by that parameter's own example."""
    for parameter in parameters:
        examples = parameter.get("examples") or parameter.get("schema", {}).get("examples") or []
        if parameter["in"] == "path" and examples:
            path = path.replace("{" + parameter["name"] + "}", str(examples[0]))
    return path


async def test_every_example_in_the_live_openapi_is_accepted(mall: Mall, spec: dict[str, Any]) -> None:
    """Each example a portal developer copies from /docs: a model's field takes it, and a route answers it."""
    checked: list[str] = []
    models = _models_of(mall)
    async with httpx.AsyncClient(base_url=mall.url, timeout=30) as http:
        for where, example in _examples(spec):
            if where[:2] == ("components", "schemas") and where[3] == "properties":
                _field_example_is_valid(models, where, example)
            elif where[0] == "paths" and "parameters" in where:
                path, method = where[1], where[2]
                route = spec["paths"][path][method]
                parameter = route["parameters"][int(where[where.index("parameters") + 1])]
                assert parameter["in"] == "path", where
                url = _filled(path.replace("{" + parameter["name"] + "}", str(example)), route["parameters"])
                body: dict[str, Any] | None = {} if route.get("requestBody", {}).get("required") else None
                headers = mall.headers(ROUTES[(method.upper(), path)])
                answer = await http.request(method, url, headers=headers, json=body)
                _judge(method.upper(), url, answer.status_code, answer.content)
            else:
                raise AssertionError(f"an example this test cannot check: {'/'.join(where)} = {json.dumps(example)}")
            checked.append("/".join(where))
    assert len(checked) >= 20, checked  # NIK, plate, amounts, codes, tracking numbers ...
