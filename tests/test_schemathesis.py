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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from contracts import (
    OPERATIONS,
    TRACKING_NUMBER_ALPHABET,
    TRACKING_NUMBER_FORMAT,
    ContractError,
    ErrorCode,
    tracking_number_of,
)
from hub._settings import HubSettings
from hub._up import Started, run
from tests.conftest import purpose_for
from tests.test_contract_schema import MODELS, field_adapter

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: Examples per route: enough to reach every kind of field, few enough to stay well under a minute.
MAX_EXAMPLES = 25
#: The purpose a citizen's own access-log read states (the data subject's right, UU 27/2022).
OWN_DATA = "hak-subjek-data"

#: Each route that takes a body or parameters, with the purpose a portal states for it.
ROUTES: dict[tuple[str, str], str] = {
    **{("POST", f"/v1/{op.name}"): purpose_for(op.name) for op in OPERATIONS},
    ("POST", "/v1/applications"): purpose_for("application.submit"),
    ("POST", "/v1/applications/lookup"): purpose_for("application.lookup"),
    ("GET", "/v1/applications"): purpose_for("application.read"),
    ("GET", "/v1/applications/{tracking_no}"): purpose_for("application.read"),
    ("GET", "/v1/citizens/{nik}/applications"): purpose_for("application.read"),
    ("GET", "/v1/citizens/{nik}/profile"): purpose_for("citizen.profile"),
    ("GET", "/v1/citizens/{nik}/access-log"): OWN_DATA,
}
#: Routes where the edge still publishes a looser schema than the hub checks (edge work, not the contract's).
EDGE_GAPS = {
    ("POST", "/v1/applications"): "the edge publishes `service` as any code and `params` as any object; the "
    "process engine refuses services this hub does not run and params its process model refuses (invalid_input)",
}
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
    outcomes: dict[tuple[str, str], collections.Counter[str]] = field(default_factory=dict)

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
        data_dir=data_dir, nats_port=-1, port=0, log_level="warning", audit_checkpoint_interval=0.5
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
        assert error.agency is not None, f"the hub refused a request its schema accepts: {what}"
    else:
        assert error.code in _HONEST, what
    assert status < 500 or error.agency is not None, what
    return f"{status} {error.code.value}" + (f" ({error.agency})" if error.agency else "")


def _exercise(api: Any, mall: Mall, method: str, path: str) -> collections.Counter[str]:
    """Positive-data generation on one route, run in a thread while the mall serves on the test's loop."""
    seen: collections.Counter[str] = collections.Counter()
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
        # Only the caller's key and purpose: the edge documents X-Channel, X-Officer and the rest as any string
        # while it checks each one (hub/_headers.py), which is the edge's to publish (see the report).
        case.headers = dict(headers)
        response = case.call(base_url=mall.url, timeout=30)
        seen[_judge(method, path, response.status_code, response.content)] += 1
        # And the answer is what the schema promises: the output model (its patterns too) or a ContractError.
        case.validate_response(response, checks=[schemathesis.checks.response_schema_conformance])

    exchange()
    return seen


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
    ("method", "path"),
    [
        pytest.param(*route, marks=pytest.mark.xfail(strict=True, reason=EDGE_GAPS[route]))
        if route in EDGE_GAPS
        else route
        for route in sorted(ROUTES)
    ],
    ids=[f"{method} {path}" for method, path in sorted(ROUTES)],
)
async def test_what_the_schema_accepts_the_hub_accepts(
    mall: Mall, spec: dict[str, Any], method: str, path: str
) -> None:
    """Schema-valid requests only: never a 5xx of the hub's own, never an invalid_input the schema did not warn of."""
    api = schemathesis.openapi.from_dict(spec)
    seen = await asyncio.to_thread(_exercise, api, mall, method, path)
    assert sum(seen.values()) >= MAX_EXAMPLES // 2, seen  # the generator reached the hub, not only its own filters


# --- the examples the OpenAPI document shows -------------------------------------------------------------------

_MODELS_BY_NAME = {model.__name__: model for model in MODELS}


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


def _field_example_is_valid(where: tuple[str, ...], example: Any) -> None:
    # components/schemas/<Model>/properties/<field>[/anyOf/<i>]/examples
    model = _MODELS_BY_NAME[where[2]]
    field = model.model_fields[where[4]]
    field_adapter(field).validate_python(example)


async def test_every_example_in_the_live_openapi_is_accepted(mall: Mall, spec: dict[str, Any]) -> None:
    """Each example a portal developer copies from /docs: a model's field takes it, and a route answers it."""
    checked: list[str] = []
    async with httpx.AsyncClient(base_url=mall.url, timeout=30) as http:
        for where, example in _examples(spec):
            if where[:2] == ("components", "schemas") and where[3] == "properties":
                _field_example_is_valid(where, example)
            elif where[0] == "paths" and "parameters" in where:
                path, method = where[1], where[2]
                parameter = spec["paths"][path][method]["parameters"][int(where[where.index("parameters") + 1])]
                assert parameter["in"] == "path", where
                url = path.replace("{" + parameter["name"] + "}", str(example))
                answer = await http.request(method, url, headers=mall.headers(ROUTES[(method.upper(), path)]))
                _judge(method.upper(), url, answer.status_code, answer.content)
            else:
                raise AssertionError(f"an example this test cannot check: {'/'.join(where)} = {json.dumps(example)}")
            checked.append("/".join(where))
    assert len(checked) >= 20, checked  # NIK, plate, amounts, codes, tracking numbers ...
