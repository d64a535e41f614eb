"""A signer's passphrase reaches BSrE and nothing else: no stream, bucket, log line, reply or error of the hub.

A real hub on a real nats-server (hub.testing's fixtures) signs, is refused a wrong passphrase, meets an
outage and an invalid request; then every message of every JetStream stream on the server (traffic, audit,
dead letters, the assertion ledger and every other KV bucket) and every log line is searched for each
passphrase used. The places the hub keeps requests are found by reading everything, not by a list of them.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest
from contracts import OPERATIONS, ErrorCode, HubError
from hub._bus_access import BusAccess
from hub._http import MAX_BODY_BYTES
from hub._resilience import Guard, ResiliencePolicy
from hub._roles import Role
from hub.testing import Harness
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import SecretStr

from mpp_plugin_bsre import sandbox
from mpp_plugin_bsre.contract import (
    MAX_SIGN_BYTES,
    MAX_VERIFY_BYTES,
    DocumentToVerify,
    SignDocument,
    SignedDocument,
    SignerStatus,
    VerificationResult,
)

SIGNER = "3376011204780003"
#: The sandbox's right passphrase for SIGNER (visibly fake), and wrong ones unique to this run.
RIGHT = next(s.passphrase for s in sandbox.sample_signers() if s.nik == SIGNER)
_RUN = secrets.token_hex(6)
WRONG = f"sandbox-wrong-{_RUN}"
DURING_OUTAGE = f"sandbox-outage-{_RUN}"
INVALID = f"sandbox-invalid-{_RUN}"
TOO_LONG = f"sandbox-too-long-{_RUN}-" + "x" * 140


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


class _SigningTraffic:
    """The traffic records of signings from now on: the hub publishes each after its answer, so a search of
    the streams waits for them first."""

    def __init__(self, hub: Harness, bus: BusAccess) -> None:
        self._hub, self._bus = hub, bus

    def __enter__(self) -> _SigningTraffic:
        self._nc = self._hub.run(self._bus.connect(Role.ADMIN))
        self._sub = self._hub.run(
            self._nc.jetstream().subscribe(
                "mpp.traffic.bsre.document.sign", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
            )
        )
        return self

    def wait_for(self, records: int) -> None:
        for _ in range(records):
            self._hub.run(self._sub.next_msg(timeout=30))

    def __exit__(self, *_: object) -> None:
        self._hub.run(self._nc.close())


def _refused(hub: Harness, payload: dict[str, str], code: ErrorCode) -> bytes:
    reply = hub.request("document.sign", payload)
    assert reply.error is not None and reply.error.code is code, reply.error
    return reply.data


@pytest.fixture(scope="class")
def exchanges(mpp_hub: Harness, mpp_nats_url: BusAccess) -> list[bytes]:
    """The calls, once per class, with their traffic recorded: each reply's bytes (they are searched too)."""
    with _SigningTraffic(mpp_hub, mpp_nats_url) as traffic:
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
        traffic.wait_for(len(replies))
    return replies


class TestThePassphraseIsKeptNowhere:
    plugin = "bsre"

    def test_no_stream_or_bucket_on_the_bus_holds_a_passphrase(
        self, mpp_hub: Harness, mpp_nats_url: BusAccess, exchanges: list[bytes]
    ) -> None:
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


class TestSigningThroughTheHub:
    plugin = "bsre"

    def test_the_largest_pdf_signs_on_the_bus_and_its_signature_verifies(self, mpp_hub: Harness) -> None:
        signed = mpp_hub.call("document.sign", _sign(RIGHT, sandbox.sample_document(MAX_SIGN_BYTES)), timeout=30)
        assert isinstance(signed, SignedDocument) and MAX_SIGN_BYTES < signed.size_bytes <= MAX_VERIFY_BYTES
        checked = mpp_hub.call("document.verify", {"document": signed.document}, timeout=30)
        assert isinstance(checked, VerificationResult)
        assert (checked.signed, checked.intact, checked.trusted) == (True, True, True)
        assert checked.signatures[0].signed_at == signed.signed_at

    def test_signer_status_through_the_hub(self, mpp_hub: Harness) -> None:
        status = mpp_hub.call("document.signer_status", {"nik": SIGNER})
        assert isinstance(status, SignerStatus) and status.can_sign


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


def test_documents_over_the_limits_are_refused_with_the_limit_and_ones_at_them_fit_the_portal() -> None:
    with pytest.raises(ValueError, match="160 KiB"):
        SignDocument.model_validate(_sign(WRONG, sandbox.sample_document(MAX_SIGN_BYTES + 1)))
    with pytest.raises(ValueError, match="190 KiB"):
        DocumentToVerify.model_validate({"document": sandbox.sample_document(MAX_VERIFY_BYTES + 1)})
    largest = SignDocument.model_validate(_sign(TOO_LONG[:128], sandbox.sample_document(MAX_SIGN_BYTES)))
    assert len(largest.model_dump_json(by_alias=True).encode()) <= MAX_BODY_BYTES  # what the portal API takes
    to_verify = DocumentToVerify.model_validate({"document": sandbox.sample_document(MAX_VERIFY_BYTES)})
    assert len(to_verify.model_dump_json(by_alias=True).encode()) <= MAX_BODY_BYTES
