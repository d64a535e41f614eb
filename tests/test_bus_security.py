"""Attacks on a running hub on its embedded defaults, the way an attacker on the same machine would try them.

One `mpp-hub up` (run in-process, exactly as the command runs it) serves the whole module. Every attack must be
refused by nats-server's own checks (TLS, users, permissions) or by the workers' checks of caller assertions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import signal
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import nkeys
import pytest
import pytest_asyncio
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError
from nats.micro.request import ERROR_CODE_HEADER

from contracts import ContractError
from hub._assertions import ASSERTION_HEADER, CLOCK_LEEWAY
from hub._audit import AUDIT_STREAM
from hub._bus import CORRELATION_HEADER, DEADLINE_HEADER
from hub._bus_access import BusAccess
from hub._client import HubClient
from hub._consumers import CONSUMERS_BUCKET
from hub._pki import CertificateAuthority
from hub._roles import Role
from hub._secrets import audit_key
from hub._settings import HubSettings
from hub._up import Started, run
from hub.testing._bus import issuer_for
from tests._until import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

NIK = "3328080709870001"  # a synthetic Tegal resident in the Dukcapil sandbox
OTHER_NIK = "3376045105740001"
RUNNING_ROLES = (Role.EDGE, Role.WORKER, Role.OPS, Role.CLI)


@dataclass
class Running:
    started: Started
    bus: BusAccess
    data_dir: Path
    cli_key: str

    @property
    def http(self) -> str:
        assert self.started.http_url is not None
        return self.started.http_url


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    data_dir = tmp_path_factory.mktemp("attacked")
    settings = HubSettings(data_dir=data_dir, nats_port=-1, port=0, log_level="warning")
    stop, up = asyncio.Event(), asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run(settings, stop=stop, on_started=up.set_result))
    started: Started = await asyncio.wait_for(asyncio.shield(up), 60)
    secrets_dir = data_dir / "secrets"
    bus = BusAccess(started.nats_url, secrets_dir / "bus" / "credentials", secrets_dir / "bus" / "ca.pem")
    yield Running(started, bus, data_dir, (secrets_dir / "cli.key").read_text().strip())
    stop.set()
    await task


class Violations:
    """The permission errors nats-server sends one connection."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = asyncio.Event()

    async def on_error(self, exc: Exception) -> None:
        self.seen.append(str(exc))
        self._changed.set()

    async def wait_for(self, fragment: str, timeout: float = 10.0) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for seen in self.seen:
                    if "permissions violation" in seen and fragment.lower() in seen:
                        return seen
                self._changed.clear()
                await self._changed.wait()


async def _as(hub: Running, role: Role) -> tuple[NATS, Violations]:
    violations = Violations()
    return await hub.bus.connect(role, error_cb=violations.on_error, max_reconnect_attempts=1), violations


def _trusting_tls(hub: Running) -> ssl.SSLContext:
    assert hub.bus.ca_file is not None
    return ssl.create_default_context(cafile=str(hub.bus.ca_file))


async def _portal(hub: Running, nik: str = NIK, *, key: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.http, timeout=15) as http:
        return await http.post(
            "/v1/identity.lookup",
            json={"nik": nik},
            headers={"Authorization": f"Bearer {key or hub.cli_key}", "X-Purpose": "layanan-kependudukan"},
        )


# --- who may connect ---------------------------------------------------------------------------------------


async def test_the_server_announces_tls_and_authentication(hub: Running) -> None:
    """The first thing a stranger reads (INFO) already says: TLS, credentials required."""
    host, port = hub.bus.url.removeprefix("tls://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    info = json.loads((await reader.readline()).decode().removeprefix("INFO "))
    writer.close()
    assert info["auth_required"] is True
    assert info["tls_required"] is True


async def test_a_plain_text_connection_is_refused(hub: Running) -> None:
    """A client that skips TLS and just sends CONNECT is told TLS is required and hung up on."""
    host, port = hub.bus.url.removeprefix("tls://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    await reader.readline()  # INFO
    writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    assert b"PONG" not in answer
    assert answer == b"" or b"-ERR" in answer


async def test_an_anonymous_tls_connection_is_refused(hub: Running) -> None:
    """Even with the bus CA trusted, a client without a role's key is not let in."""
    with pytest.raises(Exception) as refused:
        await nats.connect(
            hub.bus.url, tls=_trusting_tls(hub), max_reconnect_attempts=0, allow_reconnect=False, connect_timeout=5
        )
    assert "authorization" in str(refused.value).lower() or "auth" in type(refused.value).__name__.lower()


async def test_a_stranger_key_is_refused(hub: Running) -> None:
    """A well-formed nkey that is no role's is refused like no key at all."""
    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
    with pytest.raises(Exception) as refused:
        await nats.connect(
            hub.bus.url, tls=_trusting_tls(hub), nkeys_seed_str=seed, max_reconnect_attempts=0,
            allow_reconnect=False, connect_timeout=5,
        )  # fmt: skip
    assert "authorization" in str(refused.value).lower() or "auth" in type(refused.value).__name__.lower()


async def test_a_server_with_another_certificate_is_not_trusted(hub: Running, tmp_path: Path) -> None:
    """Processes check the server's certificate against the bus CA: a server with any other CA is refused."""
    foreign_ca = CertificateAuthority(tmp_path).ensure().cert_file
    other = BusAccess(hub.bus.url, hub.bus.credentials, foreign_ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        await other.connect(Role.CLI, max_reconnect_attempts=0, allow_reconnect=False, connect_timeout=5)


# --- what each role may do -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
async def test_no_role_may_subscribe_to_everything(hub: Running, role: Role) -> None:
    nc, violations = await _as(hub, role)
    try:
        await nc.subscribe(">")
        await violations.wait_for('subscription to ">"')
    finally:
        await nc.close()


@pytest.mark.parametrize("role", [Role.EDGE, Role.OPS, Role.CLI, Role.ADMIN])
async def test_only_workers_may_answer_for_an_agency(hub: Running, role: Role) -> None:
    """Subscribing to a service subject, in the hub's queue group or not, is refused for every other role."""
    nc, violations = await _as(hub, role)
    try:
        await nc.subscribe("mpp.v1.payment.bill_status", queue="mpp-hub")
        await violations.wait_for("mpp.v1.payment.bill_status")
        await nc.subscribe("$SRV.INFO")
        await violations.wait_for("$srv.info")
    finally:
        await nc.close()
    # And the hub still answers the real way: nothing took the calls.
    assert (await _portal(hub)).status_code == 200


@pytest.mark.parametrize("role", list(Role))
async def test_no_role_reads_another_roles_replies(hub: Running, role: Role) -> None:
    nc, violations = await _as(hub, role)
    other = Role.EDGE if role is not Role.EDGE else Role.CLI
    try:
        await nc.subscribe(f"_INBOX_{other.value}.>")
        await violations.wait_for(f"_inbox_{other.value}")
        await nc.subscribe("_INBOX.>")
        await violations.wait_for('"_inbox.>"')
    finally:
        await nc.close()


async def test_ops_is_read_only(hub: Running) -> None:
    """The ops role sees the masked traffic and nothing else: no calls, no publishing, no audit."""
    nc, violations = await _as(hub, Role.OPS)
    try:
        await nc.publish("mpp.v1.identity.lookup", b"{}")
        await violations.wait_for("mpp.v1.identity.lookup")
        await nc.publish("mpp.traffic.dukcapil.identity.lookup", b"{}")
        await violations.wait_for("mpp.traffic.dukcapil")
        await nc.subscribe("mpp.audit.>")
        await violations.wait_for("mpp.audit")
    finally:
        await nc.close()


@pytest.mark.parametrize("role", RUNNING_ROLES)
async def test_no_running_role_writes_consumers(hub: Running, role: Role) -> None:
    """Minting or un-revoking a consumer by writing the bucket is refused for every role a process runs as."""
    nc, violations = await _as(hub, role)
    try:
        await nc.publish(f"$KV.{CONSUMERS_BUCKET}.intruder", b'{"name": "intruder", "allow": ["*"]}')
        await violations.wait_for(f"$kv.{CONSUMERS_BUCKET}.intruder")
    finally:
        await nc.close()
    admin = await hub.bus.connect(Role.ADMIN)
    try:
        kv = await admin.jetstream().key_value(CONSUMERS_BUCKET)
        with pytest.raises(KeyNotFoundError):
            await kv.get("intruder")
    finally:
        await admin.close()


_AUDIT_ATTACKS: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "update": lambda js: js.update_stream(name=AUDIT_STREAM, subjects=["mpp.audit.records"], max_msgs=10),
    "purge": lambda js: js.purge_stream(AUDIT_STREAM),
    "delete": lambda js: js.delete_stream(AUDIT_STREAM),
    "recreate": lambda js: js.add_stream(name="MPP_AUDIT_FORGED", subjects=["mpp.audit.forged"]),
    "delete a record": lambda js: js.delete_msg(AUDIT_STREAM, 1),
}


@pytest.mark.parametrize("attack", list(_AUDIT_ATTACKS))
@pytest.mark.parametrize("role", RUNNING_ROLES)
async def test_no_running_role_changes_the_audit_stream(hub: Running, role: Role, attack: str) -> None:
    assert (await _portal(hub)).status_code == 200  # at least one record to lose
    admin = await hub.bus.connect(Role.ADMIN)
    before = (await admin.jetstream().stream_info(AUDIT_STREAM)).state.messages
    nc, violations = await _as(hub, role)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the server drops the request: nats-py times out
            await _AUDIT_ATTACKS[attack](nc.jetstream(timeout=0.5))
        await violations.wait_for("$js.api.stream")
    finally:
        await nc.close()
    info = await admin.jetstream().stream_info(AUDIT_STREAM)
    await admin.close()
    assert info.state.messages >= before
    assert info.config.max_msgs in (None, -1)


# --- caller assertions -----------------------------------------------------------------------------------


class Capture:
    """Everything on the bus, as a capture-only user added to the server's configuration sees it."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.messages: list[Msg] = []
        self._changed = asyncio.Event()

    async def on_message(self, msg: Msg) -> None:
        self.messages.append(msg)
        self._changed.set()

    async def request_to(self, subject: str, *, after: int = 0, timeout: float = 10.0) -> Msg:
        """The first request with an assertion on ``subject`` among the messages captured after ``after``."""
        async with asyncio.timeout(timeout):
            while True:
                for msg in self.messages[after:]:
                    if msg.subject == subject and msg.headers and ASSERTION_HEADER in msg.headers:
                        return msg
                self._changed.clear()
                await self._changed.wait()


def _add_capture_user(hub: Running) -> str:
    """Add a user that may subscribe to everything and publish nothing, and have nats-server reload."""
    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(seed).public_key.decode()
    config_file = hub.data_dir / "nats" / "nats-server.conf"
    config = json.loads(config_file.read_text())
    config["authorization"]["users"].append(
        {"nkey": public, "permissions": {"publish": {"deny": [">"]}, "subscribe": {"allow": [">"]}}}
    )
    config_file.write_text(json.dumps(config))
    (ports,) = (hub.data_dir / "nats" / "ports").glob("nats-server_*.ports")
    os.kill(int(ports.stem.rsplit("_", 1)[1]), signal.SIGHUP)  # nats-server reloads its configuration
    return str(seed.decode())  # nkeys is untyped


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def capture(hub: Running) -> AsyncIterator[Capture]:
    seed = _add_capture_user(hub)

    async def connected() -> NATS:  # refused until the reload has taken the new user
        return await nats.connect(
            hub.bus.url, tls=_trusting_tls(hub), nkeys_seed_str=seed, max_reconnect_attempts=0,
            allow_reconnect=False, connect_timeout=2,
        )  # fmt: skip

    nc = await until(connected, "nats-server to reload with the capture user", 20, ignoring=(Exception,))
    captured = Capture(nc)
    await nc.subscribe(">", cb=captured.on_message)
    await nc.flush()
    yield captured
    await nc.close()


async def test_no_api_key_or_secret_crosses_the_bus(hub: Running, capture: Capture) -> None:
    """While portal traffic runs, nothing on the bus holds an API key, or anything shaped like one."""
    start = len(capture.messages)
    answers = await asyncio.gather(*(_portal(hub, nik) for nik in (NIK, OTHER_NIK, NIK)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    await capture.request_to("mpp.v1.identity.lookup", after=start)
    key_shape = re.compile(rb"mpp_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")
    seen = capture.messages[start:]
    assert any(msg.subject == "mpp.v1.identity.lookup" for msg in seen)
    for msg in seen:
        wire = msg.subject.encode() + json.dumps(msg.headers or {}).encode() + msg.data
        assert hub.cli_key.encode() not in wire
        assert key_shape.search(wire) is None, msg.subject
        assert "Mpp-Api-Key" not in (msg.headers or {})
    for secret_file in (hub.data_dir / "secrets").rglob("*"):
        if secret_file.is_file() and secret_file.suffix != ".pem" and secret_file.name != "issuers.json":
            value = secret_file.read_text().strip().encode()
            assert all(value not in msg.data and value not in json.dumps(msg.headers or {}).encode() for msg in seen)


def _assertion(msg: Msg) -> str:
    assert msg.headers is not None
    return msg.headers[ASSERTION_HEADER]


def _claims(msg: Msg) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(_assertion(msg).split(".")[0] + "=="))
    return claims


async def _captured_lookup(hub: Running, capture: Capture) -> Msg:
    """The request a portal call put on the bus, as a sniffer sees it."""
    start = len(capture.messages)
    assert (await _portal(hub)).status_code == 200
    return await capture.request_to("mpp.v1.identity.lookup", after=start)


async def _replay(hub: Running, subject: str, data: bytes, headers: dict[str, str]) -> ContractError:
    """Send as a stolen CLI credential would: straight onto the bus."""
    nc = await hub.bus.connect(Role.CLI)
    try:
        reply = await nc.request(subject, data, headers=headers, timeout=10)
    finally:
        await nc.close()
    assert reply.headers is not None and ERROR_CODE_HEADER in reply.headers, reply.data[:200]
    return ContractError.model_validate_json(reply.data)


async def test_a_captured_assertion_cannot_be_used_again(hub: Running, capture: Capture) -> None:
    msg = await _captured_lookup(hub, capture)
    error = await _replay(hub, msg.subject, msg.data, dict(msg.headers or {}))
    assert error.code.value == "unauthorized"
    assert "already used" in error.message


async def test_a_captured_assertion_is_useless_for_another_operation(hub: Running, capture: Capture) -> None:
    msg = await _captured_lookup(hub, capture)
    error = await _replay(hub, "mpp.v1.identity.verify", msg.data, dict(msg.headers or {}))
    assert error.code.value == "unauthorized"
    assert "is for identity.lookup" in error.message


async def test_a_captured_assertion_is_useless_for_another_citizen(hub: Running, capture: Capture) -> None:
    msg = await _captured_lookup(hub, capture)
    error = await _replay(hub, msg.subject, json.dumps({"nik": OTHER_NIK}).encode(), dict(msg.headers or {}))
    assert error.code.value == "unauthorized"
    assert "another request body" in error.message


async def test_a_captured_assertion_is_useless_after_its_deadline(hub: Running, capture: Capture) -> None:
    """Taken from a call with a short deadline, it is refused once that deadline (plus clock leeway) is past."""
    key = audit_key(HubSettings(data_dir=hub.data_dir))
    client = await HubClient.connect(
        hub.bus, Role.CLI, issuer=issuer_for(hub.bus, Role.CLI, key), consumer=hub.started.cli_consumer,
        purpose="layanan-kependudukan",
    )  # fmt: skip
    start = len(capture.messages)
    async with client:
        await client.call("identity.lookup", {"nik": NIK}, timeout=1.0)
    msg = await capture.request_to("mpp.v1.identity.lookup", after=start)
    expires = _claims(msg)["exp"]
    await asyncio.sleep(max(0.0, expires + CLOCK_LEEWAY - time.time()) + 0.1)  # the clock is the state awaited
    headers = dict(msg.headers or {}) | {DEADLINE_HEADER: "5000"}
    error = await _replay(hub, msg.subject, msg.data, headers)
    assert error.code.value == "unauthorized"
    assert "expired" in error.message


async def test_a_request_without_an_assertion_is_refused(hub: Running) -> None:
    """A role that may publish on service subjects still gets nothing without an assertion."""
    error = await _replay(hub, "mpp.v1.identity.lookup", json.dumps({"nik": NIK}).encode(), {CORRELATION_HEADER: "x"})
    assert error.code.value == "unauthorized"
    assert "missing" in error.message


async def test_a_forged_assertion_is_refused(hub: Running, capture: Capture) -> None:
    """Claims edited by hand (another consumer) no longer match their signature."""
    msg = await _captured_lookup(hub, capture)
    signature = _assertion(msg).split(".")[1]
    claims = _claims(msg)
    claims["con"], claims["jti"] = "someone-else", secrets.token_hex(16)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode() + "." + signature
    error = await _replay(hub, msg.subject, msg.data, dict(msg.headers or {}) | {ASSERTION_HEADER: forged})
    assert error.code.value == "unauthorized"
    assert "invalid signature" in error.message


# --- the edges of the edge -------------------------------------------------------------------------------


async def test_nats_and_sandboxes_listen_on_loopback_only(hub: Running) -> None:
    assert hub.bus.url.startswith("tls://127.0.0.1:")
    assert all(url.startswith("http://127.0.0.1:") for url in hub.started.sandboxes.values())


async def _get(hub: Running, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.http, timeout=15) as http:
        return await http.get(path, headers=headers)


async def test_healthz_says_up_or_degraded_and_nothing_internal(hub: Running) -> None:
    answer = await _get(hub, "/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] in ("ok", "degraded")
    assert set(body["agencies"].values()) <= {"up", "degraded", "down"}
    assert "127.0.0.1" not in answer.text and "tls://" not in answer.text and "http://" not in answer.text
    assert "127.0.0.1" not in (await _get(hub, "/readyz")).text


async def test_metrics_need_a_key_with_the_metrics_right(hub: Running) -> None:
    assert (await _get(hub, "/metrics")).status_code == 401
    answer = await _get(hub, "/metrics", Authorization=f"Bearer {hub.cli_key}")  # the CLI's consumer has "*"
    assert answer.status_code == 200
    assert "mpp_requests_total" in answer.text


async def test_sandbox_admin_routes_need_the_hubs_sandbox_token(hub: Running) -> None:
    bank = hub.started.sandboxes["bank"]
    token = (hub.data_dir / "secrets" / "sandbox.token").read_text().strip()
    async with httpx.AsyncClient(base_url=bank, timeout=15) as http:
        assert (await http.get("/_sandbox/faults")).status_code == 401
        assert (await http.get("/_sandbox/faults", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await http.get("/_sandbox/faults", headers={"Authorization": f"Bearer {token}"})).status_code == 200


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Correlation-Id", "abc\x1b[31m"), ("X-Correlation-Id", "x" * 65), ("X-Purpose", "Layanan Kependudukan!")],
)
async def test_malformed_correlation_ids_and_purposes_are_refused_not_stored(
    hub: Running, header: str, value: str
) -> None:
    async with httpx.AsyncClient(base_url=hub.http, timeout=15) as http:
        answer = await http.post(
            "/v1/identity.lookup",
            json={"nik": NIK},
            headers={"Authorization": f"Bearer {hub.cli_key}", "X-Purpose": "layanan-kependudukan", header: value},
        )
    assert answer.status_code == 400
    error = ContractError.model_validate_json(answer.content)
    assert error.code.value == "invalid_input"
    assert value not in answer.text and "\x1b" not in answer.text
    assert header in error.message


async def test_failed_authentication_is_rate_limited_per_key_id(hub: Running) -> None:
    """Guessing the secret of one key id is cut off after a handful of tries, with Retry-After."""
    guess = "mpp_" + "k" * 12 + "_" + "A" * 43
    statuses = [(await _portal(hub, key=guess)).status_code for _ in range(12)]
    assert statuses[0] == 401
    assert statuses[-1] == 429
    answer = await _portal(hub, key=guess)
    assert int(answer.headers["Retry-After"]) >= 1


async def test_anonymous_refusals_are_counted_not_audited(hub: Running) -> None:
    admin = await hub.bus.connect(Role.ADMIN)
    try:
        js = admin.jetstream()
        before = (await js.stream_info(AUDIT_STREAM)).state.messages
        answer = await _portal(hub, key="not-a-key")
        assert answer.status_code == 401
        metrics = (await _get(hub, "/metrics", Authorization=f"Bearer {hub.cli_key}")).text
        assert re.search(r'mpp_anonymous_refusals_total\{[^}]*where="edge"[^}]*\} [1-9]', metrics)
        assert (await js.stream_info(AUDIT_STREAM)).state.messages == before
    finally:
        await admin.close()


async def test_a_proven_key_keeps_working_from_an_address_that_guesses(hub: Running) -> None:
    """Kiosks behind one address: one of them guessing keys does not lock out the others' proven keys."""
    assert (await _portal(hub)).status_code == 200  # the CLI's key, proven on this edge
    for n in range(25):  # over the per-address limit, each guess a new key id
        await _portal(hub, key=f"mpp_{n:012d}_" + "A" * 43)
    assert (await _portal(hub, key=f"mpp_{99:012d}_" + "A" * 43)).status_code == 429
    assert (await _portal(hub)).status_code == 200


async def test_ops_log_ins_are_rate_limited_too(hub: Running) -> None:
    guess = "mpp_" + "o" * 12 + "_" + "B" * 43
    async with httpx.AsyncClient(base_url=hub.http, timeout=15) as http:
        statuses = [(await http.post("/ops/session", data={"api_key": guess})).status_code for _ in range(12)]
    assert statuses[-1] == 429
