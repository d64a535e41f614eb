"""A signer's passphrase reaches BSrE and nothing else: no stream, bucket, log line, reply or error of the hub.

A real hub on a real nats-server (hub.testing's fixtures) signs, is refused a wrong passphrase, meets an
outage and an invalid request; then every message of every JetStream stream on the server (traffic, audit,
dead letters, the assertion ledger and every other KV bucket) and every log line is searched for each
passphrase used. The places the hub keeps requests are found by reading everything, not by a list of them.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterator

import pytest
from contracts import OPERATIONS, ErrorCode, HubError
from hub._bus_access import BusAccess
from hub._resilience import Guard, ResiliencePolicy
from hub._roles import Role
from hub.testing import Harness
from nats.js.errors import NotFoundError
from pydantic import SecretStr

from mpp_plugin_bsre import _data, sandbox
from mpp_plugin_bsre.contract import SignDocument

SIGNER = "3376011204780003"
#: The sandbox's right passphrase for SIGNER (visibly fake), and wrong ones unique to this run.
RIGHT = _data.SIGNERS[SIGNER].passphrase
_RUN = secrets.token_hex(6)
WRONG = f"sandbox-wrong-{_RUN}"
DURING_OUTAGE = f"sandbox-outage-{_RUN}"
INVALID = f"sandbox-invalid-{_RUN}"
TOO_LONG = f"sandbox-too-long-{_RUN}-" + "x" * 140
#: The signing calls answered, as the traffic stream must record them.
_SIGN_CALLS = 5


def _sign(passphrase: str, document: str | None = None) -> dict[str, str]:
    return {"nik": SIGNER, "passphrase": passphrase, "document": document or sandbox.sample_document()}


async def _everything_kept(bus: BusAccess) -> dict[str, bytes]:
    """Every message of every stream on the server (KV buckets are streams too), headers and data, by stream."""
    nc = await bus.connect(Role.ADMIN)
    try:
        js = nc.jetstream()
        kept: dict[str, bytes] = {}
        for info in await js.streams_info():
            name, state = info.config.name or "", info.state
            chunks = []
            for seq in range(max(state.first_seq, 1), state.last_seq + 1 if state.messages else 1):
                try:
                    msg = await js.get_msg(name, seq)
                except NotFoundError:  # deleted (a replayed dead letter, an older revision)
                    continue
                chunks.append(repr(msg.headers).encode() + (msg.data or b""))
            kept[name] = b"\n".join(chunks)
        return kept
    finally:
        await nc.close()


async def _traffic_of_signing(bus: BusAccess, calls: int) -> int:
    """Wait until the traffic stream holds ``calls`` signing records (read from its start), and count them."""
    nc = await bus.connect(Role.ADMIN)
    try:
        sub = await nc.jetstream().subscribe("mpp.traffic.bsre.document.sign", ordered_consumer=True)
        seen = 0
        while seen < calls:
            await sub.next_msg(timeout=30)
            seen += 1
        await sub.unsubscribe()
        return seen
    finally:
        await nc.close()


def _refused(hub: Harness, payload: dict[str, str], code: ErrorCode) -> bytes:
    reply = hub.request("document.sign", payload)
    assert reply.error is not None and reply.error.code is code, reply.error
    return reply.data


@pytest.fixture(scope="class")
def exchanges(mpp_hub: Harness) -> Iterator[list[bytes]]:
    """The calls, once per class: each reply's bytes (replies and errors are searched too)."""
    replies = []
    signed = mpp_hub.request("document.sign", _sign(RIGHT))
    assert signed.error is None, signed.error
    replies.append(signed.data)
    replies.append(_refused(mpp_hub, _sign(WRONG), ErrorCode.FORBIDDEN))
    mpp_hub.faults(outage=True)
    try:
        replies.append(_refused(mpp_hub, _sign(DURING_OUTAGE), ErrorCode.AGENCY_UNAVAILABLE))
    finally:
        mpp_hub.clear_faults()
    replies.append(_refused(mpp_hub, _sign(INVALID, "bm90IGEgUERG"), ErrorCode.INVALID_INPUT))
    replies.append(_refused(mpp_hub, _sign(TOO_LONG), ErrorCode.INVALID_INPUT))
    yield replies


class TestThePassphraseIsKeptNowhere:
    plugin = "bsre"

    def test_no_stream_or_bucket_on_the_bus_holds_a_passphrase(
        self, mpp_hub: Harness, mpp_nats_url: BusAccess, exchanges: list[bytes]
    ) -> None:
        # The traffic records are published after each answer: wait for all of them before reading.
        assert mpp_hub.run(_traffic_of_signing(mpp_nats_url, _SIGN_CALLS)) == _SIGN_CALLS
        kept = mpp_hub.run(_everything_kept(mpp_nats_url))
        assert {"MPP_TRAFFIC", "MPP_AUDIT", "MPP_DLQ"} <= kept.keys(), sorted(kept)
        # The search reads what these calls left: their traffic records and the audit records keyed by the signer.
        assert b"document.sign" in kept["MPP_TRAFFIC"] and b"3376**********03" in kept["MPP_AUDIT"]
        for passphrase in (RIGHT, WRONG, DURING_OUTAGE, INVALID, TOO_LONG):
            holding = [name for name, data in kept.items() if passphrase.encode() in data]
            assert holding == [], f"the passphrase {passphrase!r} is kept in {holding}"

    def test_no_reply_or_error_echoes_a_passphrase(self, exchanges: list[bytes]) -> None:
        assert b'"document"' in exchanges[0]  # the signed PDF came back
        for reply in exchanges:
            for passphrase in (RIGHT, WRONG, DURING_OUTAGE, INVALID, TOO_LONG):
                assert passphrase.encode() not in reply

    def test_no_log_line_carries_a_passphrase(self, mpp_hub: Harness, exchanges: list[bytes]) -> None:
        text = "\n".join(mpp_hub.logs.lines())
        assert "document.sign" in text  # the calls were logged
        for passphrase in (RIGHT, WRONG, DURING_OUTAGE, INVALID, TOO_LONG):
            assert passphrase not in text


def test_the_passphrase_shows_in_no_repr_str_or_mask_and_travels_only_as_the_request_json() -> None:
    request = SignDocument.model_validate(_sign(WRONG))
    assert isinstance(request.passphrase, SecretStr)
    assert WRONG not in repr(request) and WRONG not in str(request)
    from contracts import mask_model

    assert mask_model(request)["passphrase"] == "***"
    assert WRONG in request.model_dump_json()  # what the hub client sends to the worker, over the bus only


def test_the_hub_retries_verify_but_never_sign_when_bsre_is_unreachable() -> None:
    """document.sign is not idempotent, so a timed-out signing is never sent again (it may have signed)."""
    policy = ResiliencePolicy(retries=2, backoff_initial=0.001, backoff_max=0.001)

    async def attempts(operation: str) -> int:
        count = 0

        async def call() -> None:
            nonlocal count
            count += 1
            raise HubError.of(ErrorCode.AGENCY_UNAVAILABLE, "unreachable", agency="bsre")

        with pytest.raises(HubError):
            await Guard("bsre", policy).run(call, idempotent=OPERATIONS.get(operation).idempotent, remaining=lambda: 5)
        return count

    assert asyncio.run(attempts("document.sign")) == 1
    assert asyncio.run(attempts("document.verify")) == 3


def test_a_document_too_large_for_the_bus_is_refused_with_the_limit() -> None:
    big = base64.b64encode(b"%PDF-1.7\n" + b"0" * (512 * 1024)).decode()
    with pytest.raises(ValueError, match="512 KiB"):
        SignDocument.model_validate(_sign(WRONG, big))
