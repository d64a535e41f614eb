"""Fault injection: each fault a real HTTP client can see, the rates, runtime control, and the hub's answers.

The sandbox is Dukcapil's real sandbox wrapped in the middleware and served by uvicorn on a real socket;
the end-to-end tests call through a real hub (NATS, plugin, HTTP edge), as a portal does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import ContractError, ErrorCode
from hub import load_plugins
from hub._bus_access import BusAccess
from hub._faults import ADMIN_PATH, FaultConfig, FaultConfigError, FaultInjector, initial_faults, with_faults
from hub._secrets import sandbox_token
from hub._settings import HubSettings
from hub._up import Started, run
from plugins._synthetic import residents
from plugins.dukcapil import sandbox
from tests._servers import ThreadedServer, serving
from tests._stack import Grant, Sandboxes, Stack
from tests.conftest import ANY_PURPOSE, TEST_AUDIT_KEY

NIK = residents.samples()[0]
_CONFIG = sandbox.SandboxConfig()
_CALL_NIK = f"/dukcapil/get_json/{_CONFIG.partner_segment}/CALL_NIK"
_LOOKUP = {"nik": NIK, "user_id": _CONFIG.user_id, "password": _CONFIG.password, "ip_user": _CONFIG.ip_user}
#: How an unreachable agency looks to httpx: refused, hung up on, or (a race in the kernel) reset.
_UNREACHABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)


@pytest.fixture(scope="module")
def faulty() -> Iterator[ThreadedServer]:
    """Dukcapil's sandbox behind the fault middleware, on a real socket."""
    with serving(with_faults(sandbox.create_app())) as server:
        yield server


@pytest.fixture
def http(faulty: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=faulty.url, timeout=10) as client:
        yield client
        client.delete(ADMIN_PATH)


def _set(http: httpx.Client, **config: Any) -> dict[str, Any]:
    answer = http.put(ADMIN_PATH, json=config)
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    return state


def _lookup(http: httpx.Client) -> httpx.Response:
    return http.post(_CALL_NIK, json=_LOOKUP)


def _stats(http: httpx.Client) -> int:
    return int(http.get("/_sandbox/stats").json()["requests"])


def _outcome(http: httpx.Client) -> str:
    """What a client saw: ok, error, garbage, or transport (no complete answer)."""
    try:
        answer = _lookup(http)
    except httpx.TransportError:
        return "transport"
    if answer.status_code == 503:
        return "error"
    try:
        answer.json()
    except ValueError:
        return "garbage"
    return "ok"


def test_no_faults_by_default(http: httpx.Client) -> None:
    """Wrapped but not told to fail, the sandbox answers as itself."""
    answer = _lookup(http)
    assert answer.status_code == 200 and answer.json()["content"][0]["NIK"] == int(NIK)
    state = http.get(ADMIN_PATH).json()
    assert state["config"] == FaultConfig().model_dump(mode="json")
    assert state["requests"] == 1 and set(state["injected"].values()) == {0}


def test_latency_is_added_before_the_answer(http: httpx.Client) -> None:
    """latency_ms (plus up to jitter_ms) passes before the sandbox answers, and the answer is whole."""
    _set(http, latency_ms=300, jitter_ms=100, seed=1)
    started = time.perf_counter()
    answer = _lookup(http)
    assert time.perf_counter() - started >= 0.3
    assert answer.status_code == 200 and answer.json()["content"][0]["NIK"] == int(NIK)
    assert http.get(ADMIN_PATH).json()["injected"]["latency"] == 1


def test_error_is_a_503_with_a_small_json_body(http: httpx.Client) -> None:
    before = _stats(http)
    _set(http, error_rate=1)
    answer = _lookup(http)
    assert answer.status_code == 503 and answer.json()["error"] == "service_unavailable"
    assert _stats(http) == before  # refused at the door: the agency never saw it


def test_garbage_is_a_200_whose_body_is_not_json(http: httpx.Client) -> None:
    """Every garbage body (a WAF page, a cut JSON, binary, nothing) claims JSON and fails to parse."""
    _set(http, garbage_rate=1, seed=3)
    bodies = set()
    for _ in range(16):
        answer = _lookup(http)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        with pytest.raises(ValueError):
            json.loads(answer.content)
        bodies.add(answer.content)
    assert len(bodies) > 1


def test_truncate_declares_a_length_and_sends_less(http: httpx.Client) -> None:
    """The status and a Content-Length come, then half the body, then the connection closes."""
    _set(http, truncate_rate=1)
    with http.stream("POST", _CALL_NIK, json=_LOOKUP) as answer:
        assert answer.status_code == 200 and int(answer.headers["content-length"]) > 0
        with pytest.raises(httpx.RemoteProtocolError):
            answer.read()
    with pytest.raises(httpx.RemoteProtocolError):
        _lookup(http)


def _raw_exchange(url: str, path: str = _CALL_NIK) -> bytes:
    """Send one request on a bare socket and read until the server closes: what came back, byte for byte."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(_LOOKUP).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_drop_hangs_up_without_a_byte(http: httpx.Client, faulty: ThreadedServer) -> None:
    """The request is read, then the connection closes: no status line, so httpx reports a transport error."""
    _set(http, drop_rate=1)
    with pytest.raises(httpx.RemoteProtocolError):
        _lookup(http)
    assert _raw_exchange(faulty.url) == b""
    assert http.get(ADMIN_PATH).json()["injected"]["drop"] == 2


def test_outage_makes_the_agency_unreachable(http: httpx.Client, faulty: ThreadedServer) -> None:
    """Every request fails at the transport, fresh connections included, while the admin endpoints answer."""
    before = _stats(http)
    _set(http, outage=True, error_rate=1)
    for _ in range(5):
        with pytest.raises(_UNREACHABLE):
            _lookup(http)
    with httpx.Client(base_url=faulty.url) as fresh, pytest.raises(_UNREACHABLE):
        fresh.get("/anything")
    assert _raw_exchange(faulty.url) == b""
    assert _stats(http) == before
    assert http.get(ADMIN_PATH).json()["injected"]["outage"] == 7


def test_error_rate_is_honoured_and_repeatable_with_a_seed(http: httpx.Client) -> None:
    """error_rate 0.5 over 200 requests gives 100 +- 25 errors; the same seed gives the same sequence."""
    runs = []
    for _ in range(2):
        _set(http, error_rate=0.5, seed=42)
        runs.append([_lookup(http).status_code for _ in range(200)])
        state = http.get(ADMIN_PATH).json()
        assert state["requests"] == 200 and state["injected"]["error"] == runs[-1].count(503)
    assert 75 <= runs[0].count(503) <= 125 and set(runs[0]) == {200, 503}
    assert runs[0] == runs[1]


def test_mixed_rates_are_honoured(http: httpx.Client) -> None:
    """Several faults at once each get their share, and the rest are answered normally."""
    _set(http, error_rate=0.2, garbage_rate=0.2, truncate_rate=0.1, drop_rate=0.1, seed=7)
    outcomes = [_outcome(http) for _ in range(200)]
    injected = http.get(ADMIN_PATH).json()["injected"]
    assert 25 <= outcomes.count("error") == injected["error"] <= 55
    assert 25 <= outcomes.count("garbage") == injected["garbage"] <= 55
    assert outcomes.count("transport") == injected["truncate"] + injected["drop"]
    assert 5 <= injected["truncate"] <= 35 and 5 <= injected["drop"] <= 35
    assert 60 <= outcomes.count("ok") <= 100


def test_put_takes_effect_on_the_next_request_and_delete_clears(http: httpx.Client) -> None:
    assert _lookup(http).status_code == 200
    state = _set(http, error_rate=1, latency_ms=5)
    assert state["config"]["error_rate"] == 1 and state["requests"] == 0
    assert _lookup(http).status_code == 503
    state = _set(http, garbage_rate=1)  # replaces: the error rate is gone
    assert state["config"]["error_rate"] == 0 and state["config"]["latency_ms"] == 0
    assert _outcome(http) == "garbage"
    cleared = http.delete(ADMIN_PATH)
    assert cleared.status_code == 200 and cleared.json()["config"] == FaultConfig().model_dump(mode="json")
    assert _lookup(http).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"garbage_rate": -0.1}, "garbage_rate"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": 10**9}, "latency_ms"),
        ({"jitter_ms": "soon"}, "jitter_ms"),
        ({"outage": "maybe"}, "outage"),
        ({"seed": 1.5}, "seed"),
        ({"eror_rate": 0.5}, "eror_rate"),
        ({"error_rate": 0.6, "drop_rate": 0.6}, "error_rate + garbage_rate + truncate_rate + drop_rate"),
        ([], "(body)"),
    ],
)
def test_bad_config_is_a_400_naming_the_field(http: httpx.Client, body: Any, field: str) -> None:
    """A bad PUT changes nothing and says which field is wrong."""
    _set(http, error_rate=0.25)
    answer = http.put(ADMIN_PATH, json=body)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_fault_config"
    assert field in answer.json()["message"]
    assert http.get(ADMIN_PATH).json()["config"]["error_rate"] == 0.25


@pytest.mark.parametrize("content", [b"", b"{", b'{"latency_ms": NaN}', b'{"latency_ms": Infinity}', b"\xff\xfe"])
def test_unparseable_config_is_a_400(http: httpx.Client, content: bytes) -> None:
    answer = http.put(ADMIN_PATH, content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["message"]
    assert http.get(ADMIN_PATH).json()["config"] == FaultConfig().model_dump(mode="json")


def test_admin_endpoints_are_never_faulted(http: httpx.Client) -> None:
    """With every fault on, /_sandbox/faults and the sandbox's own /_sandbox/* still answer at once."""
    _set(http, outage=True, latency_ms=5000)
    started = time.perf_counter()
    assert http.get(ADMIN_PATH).status_code == 200 and http.get(f"{ADMIN_PATH}/").status_code == 200
    assert http.get("/_sandbox/stats").status_code == 200
    _set(http, error_rate=0.5, garbage_rate=0.5, latency_ms=5000)
    assert http.get("/_sandbox/stats").status_code == 200
    assert http.delete(ADMIN_PATH).status_code == 200
    assert time.perf_counter() - started < 4  # none of them waited out the five seconds
    assert http.post(ADMIN_PATH).status_code == 405
    assert http.get(ADMIN_PATH).json()["requests"] == 0


def test_initial_faults_apply_from_the_first_request() -> None:
    injector = with_faults(sandbox.create_app(), initial=FaultConfig(error_rate=1))
    assert isinstance(injector, FaultInjector) and injector.config.error_rate == 1
    with serving(injector) as server:
        assert httpx.post(f"{server.url}{_CALL_NIK}", json=_LOOKUP).status_code == 503


def test_sandbox_faults_setting_is_checked() -> None:
    """The setting names running sandboxes and valid configs; values from the environment are text."""
    sandboxes = {"dukcapil": object(), "bank": object()}
    faults = initial_faults({"dukcapil": {"error_rate": "0.25", "outage": "false"}}, sandboxes)
    assert faults == {"dukcapil": FaultConfig(error_rate=0.25)}
    with pytest.raises(FaultConfigError, match=r"'dukcapl'.*sandboxes: bank, dukcapil"):
        initial_faults({"dukcapl": {}}, sandboxes)
    with pytest.raises(FaultConfigError, match=r"sandbox_faults\.bank: error_rate: .*less than or equal to 1"):
        initial_faults({"bank": {"error_rate": 2}}, sandboxes)
    with pytest.raises(FaultConfigError, match="latency: Extra inputs"):
        initial_faults({"bank": {"latency": 2}}, sandboxes)


async def test_up_starts_each_sandbox_with_its_configured_faults(bus: BusAccess, tmp_path: Path) -> None:
    """`mpp-hub up` wraps every sandbox: the configured one starts faulty, the others clean."""
    settings = HubSettings(
        nats_url=bus.url,
        nats_credentials=bus.credentials,
        nats_tls_ca=bus.ca_file,
        sandbox=True,
        data_dir=tmp_path,
        audit_key=TEST_AUDIT_KEY.decode(),
        load_plugins=["dukcapil", "bpjs"],
        sandbox_faults={"dukcapil": {"error_rate": 1, "seed": 5}},
    )
    stop, up = asyncio.Event(), asyncio.Event()
    started: list[Started] = []

    def on_started(hub: Started) -> None:
        started.append(hub)
        up.set()

    task = asyncio.create_task(run(settings, http=False, stop=stop, on_started=on_started))
    try:
        await asyncio.wait_for(up.wait(), 30)
        # The fault routes want the token `mpp-hub up` keeps in secrets/sandbox.token.
        token = {"Authorization": f"Bearer {sandbox_token(settings)}"}
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{started[0].sandboxes['dukcapil']}{ADMIN_PATH}")).status_code == 401
            dukcapil = (await http.get(f"{started[0].sandboxes['dukcapil']}{ADMIN_PATH}", headers=token)).json()
            bpjs = (await http.get(f"{started[0].sandboxes['bpjs']}{ADMIN_PATH}", headers=token)).json()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert dukcapil["config"]["error_rate"] == 1 and dukcapil["config"]["seed"] == 5
    assert bpjs["config"] == FaultConfig().model_dump(mode="json")


# --- end to end: what a portal sees when an agency misbehaves -----------------------------------------------

AGENCIES = ("dukcapil", "bpjs", "samsat", "bank")
#: The caller's timeout at the edge, short so the timeout test is quick.
REQUEST_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def faulty_sandboxes() -> Iterator[Sandboxes]:
    with Sandboxes(AGENCIES, faults=True) as started:
        yield started


@pytest.fixture
async def mall(bus: BusAccess, faulty_sandboxes: Sandboxes) -> AsyncIterator[Stack]:
    """A fresh hub per test, so one test's failures never leave a circuit open for the next."""
    async with Stack(
        bus, agencies=AGENCIES, sandboxes=faulty_sandboxes, edge_options={"request_timeout": REQUEST_TIMEOUT},
        http_timeout=REQUEST_TIMEOUT + 10, consumers={"faults": Grant(["*"])}, purpose=ANY_PURPOSE,
    ) as stack:  # fmt: skip
        try:
            yield stack
        finally:
            faulty_sandboxes.clear_faults()


def _calls() -> dict[str, tuple[str, dict[str, Any]]]:
    """One call per agency, on the sandboxes' synthetic data."""
    samples = {code: load_plugins(only={code}).sandboxes[code].samples() for code in AGENCIES}
    bill = {
        "reference": f"FAULT-{uuid.uuid4().hex[:8]}", "amount": "10500.25", "customer_name": "SRI WAHYUNI",
        "description": "fault test", "expires_at": "2099-01-01T00:00:00+07:00",
    }  # fmt: skip
    return {
        "dukcapil": ("identity.lookup", {"nik": NIK}),
        "bpjs": ("health.coverage", {"card_number": samples["bpjs"]["card_number"][0]}),
        "samsat": ("vehicle.tax_due", {"plate": samples["samsat"]["plate"][0]}),
        "bank": ("payment.create_bill", bill),
    }


def _contract_error(answer: httpx.Response) -> ContractError:
    """The answer as the contract error it must be: typed JSON, the code's own status, no traceback."""
    assert "traceback" not in answer.text.lower(), answer.text
    error = ContractError.model_validate_json(answer.content)
    assert answer.status_code == error.code.http_status != 500, answer.text
    return error


async def _call(mall: Stack, agency: str) -> tuple[httpx.Response, float]:
    operation, body = _calls()[agency]
    started = time.perf_counter()
    answer = await mall.http.post(f"/v1/{operation}", json=body, headers=mall.headers())
    return answer, time.perf_counter() - started


async def test_healthy_agencies_answer_through_the_middleware(mall: Stack) -> None:
    for agency in AGENCIES:
        answer, _ = await _call(mall, agency)
        assert answer.status_code == 200, (agency, answer.text)


@pytest.mark.parametrize("agency", AGENCIES)
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"outage": True}, ErrorCode.AGENCY_UNAVAILABLE),
        ({"error_rate": 1}, ErrorCode.AGENCY_UNAVAILABLE),
        ({"drop_rate": 1}, ErrorCode.AGENCY_UNAVAILABLE),
        ({"truncate_rate": 1}, ErrorCode.AGENCY_UNAVAILABLE),
        ({"garbage_rate": 1}, ErrorCode.AGENCY_ERROR),
    ],
    ids=["outage", "error", "drop", "truncate", "garbage"],
)
async def test_a_failing_agency_is_a_typed_contract_error(
    mall: Stack, agency: str, fault: dict[str, Any], code: ErrorCode
) -> None:
    """Unreachable, failing, hanging up, cut short or talking garbage: the caller gets the fitting contract error."""
    mall.sandboxes.faults(agency, **fault)
    answer, _ = await _call(mall, agency)
    error = _contract_error(answer)
    assert error.code is code and error.agency == agency, answer.text
    assert error.retryable is code.retryable and error.correlation_id
    if code.retryable:
        assert int(answer.headers["Retry-After"]) >= 1


async def test_a_slow_agency_is_a_timeout_within_the_deadline(mall: Stack) -> None:
    """An agency slower than the caller's timeout gives agency_timeout, when the timeout is up (not later)."""
    mall.sandboxes.faults("dukcapil", latency_ms=(REQUEST_TIMEOUT + 3) * 1000)
    answer, elapsed = await _call(mall, "dukcapil")
    error = _contract_error(answer)
    assert error.code is ErrorCode.AGENCY_TIMEOUT and error.retryable
    assert elapsed < REQUEST_TIMEOUT + 1.5  # the caller's timeout, plus the edge's own work on a busy machine


async def test_a_flaky_agency_never_gives_a_500(mall: Stack) -> None:
    """A mix of every fault: each answer is the agency's data or a typed contract error, never a 500."""
    mall.sandboxes.faults(
        "dukcapil", error_rate=0.15, garbage_rate=0.15, truncate_rate=0.1, drop_rate=0.1, jitter_ms=20, seed=11
    )
    codes = set()
    for _ in range(30):
        answer, _ = await _call(mall, "dukcapil")
        if answer.status_code == 200:
            codes.add("ok")
        else:
            codes.add(_contract_error(answer).code.value)
    assert "ok" in codes and codes <= {"ok", "agency_unavailable", "agency_error"}
