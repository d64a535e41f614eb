"""Purposes with a legal basis, field rights (a PKS), channel, officer and consent in the audit record, data
subjects other than a NIK, and the usage report: end to end through the portal API (a real HTTP edge in
process, real NATS, real sandboxes)."""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import functools
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from nacl.signing import SigningKey
from pydantic import ValidationError

from contracts import Channel, HubError, new_tracking_number
from hub import cli, load_plugins
from hub._access import DataSubject, parse_subject
from hub._assertions import Issuer, Statement, Verifier
from hub._audit import AuditLog, AuditRecord
from hub._bus_access import BusAccess
from hub._purposes import DEFAULT_PURPOSES, PurposeRegistry
from hub._rights import reply_fields
from hub._runtime import Hub
from hub._settings import load_settings
from hub._usage_report import Period, usage_report
from hub.testing._bus import add_consumer
from plugins._synthetic import residents
from tests._stack import Grant, Sandboxes, Stack
from tests.conftest import TEST_AUDIT_KEY, connect_client

AGENCIES = ("dukcapil", "bpjs", "samsat", "bank")
NIK = residents.samples()[0]
#: What the bank's data-access agreement with Dukcapil grants: a name and a birth date, nothing else.
BANK_FIELDS = ("full_name", "birth_date")
KYC = "verifikasi-identitas"


@dataclass
class Mall:
    """The stack, with this module's consumers, and what the tests read of its audit log."""

    stack: Stack

    @property
    def hub(self) -> Hub:
        return self.stack.hub

    @property
    def bus(self) -> BusAccess:
        return self.stack.bus

    @property
    def http(self) -> httpx.AsyncClient:
        return self.stack.http

    @property
    def keys(self) -> dict[str, str]:
        return self.stack.keys

    def name(self, consumer: str) -> str:
        return self.stack.name(consumer)

    def headers(self, consumer: str, purpose: str | None, **extra: str) -> dict[str, str]:
        return self.stack.headers(consumer, purpose, **{"X-Correlation-Id": _cid(), **extra})

    async def records(self, correlation_id: str) -> list[AuditRecord]:
        return [r async for r in self._log().records() if r.correlation_id == correlation_id]

    async def mine(self) -> AsyncIterator[AuditRecord]:
        """Every record of this run's consumers (the bus, and its audit log, are shared by the whole session)."""
        async for record in self._log().records():
            if record.consumer and record.consumer.endswith(f"-{self.stack.tag}"):
                yield record

    def _log(self) -> AuditLog:
        return AuditLog(self.hub.nc.jetstream(), TEST_AUDIT_KEY)


#: This run's consumers.
CONSUMERS = {
    "bank": Grant([f"identity.lookup[{','.join(BANK_FIELDS)}]", "citizen.profile"]),
    "desk": Grant(["*"], channel=Channel.DESK, names_officers=True),
    "kiosk": Grant(["identity.*", "health.*", "application.*"], channel=Channel.KIOSK),
    "portal": Grant(["*"]),
}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    with Sandboxes(AGENCIES) as started:
        yield started


@pytest.fixture
async def mall(bus: BusAccess, sandboxes: Sandboxes) -> AsyncIterator[Mall]:
    renewal = ("vehicle_tax_renewal",)  # gives the edge its application routes, whose audit records are tested here
    async with Stack(bus, agencies=AGENCIES, processes=renewal, sandboxes=sandboxes, consumers=CONSUMERS) as stack:
        yield Mall(stack)


def _cid() -> str:
    return f"test-{uuid.uuid4().hex}"


def _card() -> str:
    return load_plugins(only={"bpjs"}).sandboxes["bpjs"].samples()["card_number"][0]


def _around_today() -> Period:
    today = dt.datetime.now(dt.UTC).date()
    return Period(today - dt.timedelta(days=1), today + dt.timedelta(days=1))


async def _lookup(mall: Mall, consumer: str, purpose: str, **extra: str) -> httpx.Response:
    return await mall.http.post(
        "/v1/identity.lookup", json={"nik": NIK}, headers=mall.headers(consumer, purpose, **extra)
    )


# --- field rights -----------------------------------------------------------------------------------------


async def test_a_bank_gets_only_the_fields_its_agreement_names(mall: Mall) -> None:
    """POST /v1/identity.lookup gives the bank its name and birth date only; the record lists them and the
    usage report counts them, field by field, beside a desk's full read."""
    whole = await _lookup(mall, "desk", "layanan-kependudukan")
    assert whole.status_code == 200, whole.text
    answers = [await _lookup(mall, "bank", KYC) for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json() == {name: whole.json()[name] for name in BANK_FIELDS}
    (record,) = await mall.records(answers[0].headers["X-Correlation-Id"])
    assert record.outcome == "ok" and record.consumer == mall.name("bank") and record.fields == BANK_FIELDS
    assert record.agency == "dukcapil" and record.subject_kind == "nik"
    assert record.purpose == KYC and record.legal_basis == DEFAULT_PURPOSES[KYC].legal_basis

    report = await usage_report(mall.mine(), "dukcapil", _around_today())
    bank = [(r.operation, r.field, r.records) for r in report.reads if r.consumer == mall.name("bank")]
    assert bank == [("identity.lookup", "full_name", 2), ("identity.lookup", "birth_date", 2)]
    desk = {r.field: r.records for r in report.reads if r.consumer == mall.name("desk")}
    assert desk == dict.fromkeys(reply_fields("identity.lookup"), 1)  # a full read counts for every field
    assert report.total_reads == 3 and all(r.legal_basis for r in report.reads)


async def test_a_field_right_is_kept_on_the_bus_and_in_the_profile(mall: Mall) -> None:
    """The bank calling over the bus (as `mpp-hub call` does) gets the same two fields; its profile holds no
    identity part, because a profile part is a whole reply."""
    async with await connect_client(mall.bus, purpose=KYC, consumer=mall.name("bank")) as client:
        partial = await client.call("identity.lookup", {"nik": NIK})
    assert set(partial.model_dump()) == set(BANK_FIELDS)
    profile = await mall.http.get(f"/v1/citizens/{NIK}/profile", headers=mall.headers("bank", "layanan-terpadu"))
    assert profile.status_code == 200, profile.text
    identity = profile.json()["identity"]
    assert identity["status"] == "failed" and identity["error"]["code"] == "forbidden" and identity["data"] is None
    assert "POST /v1/identity.lookup" in identity["error"]["message"]


async def test_unknown_reply_fields_are_refused_at_registration(mall: Mall) -> None:
    """A right naming a field the reply does not have, or naming fields on a pattern, is invalid_input."""
    for allow, why in (
        ("identity.lookup[full_name,shoe_size]", "shoe_size"),
        ("identity.*[full_name]", "only a right on one contract operation"),
    ):
        with pytest.raises(HubError) as refused:
            await add_consumer(mall.bus, mall.name(f"odd{len(why)}"), [allow])
        assert refused.value.code.value == "invalid_input" and why in refused.value.error.message
        assert refused.value.error.issues[0].field == "allow.0"


# --- purposes -----------------------------------------------------------------------------------------------


async def test_a_purpose_is_refused_for_an_operation_it_does_not_cover(mall: Mall) -> None:
    """Complaints handling (pengaduan) does not reach health coverage: 403 naming the purposes that do, audited;
    the worker refuses it the same way to a caller on the bus."""
    headers = mall.headers("kiosk", "pengaduan")
    refused = await mall.http.post("/v1/health.coverage", json={"card_number": _card()}, headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert all(code in refused.json()["message"] for code in ("verifikasi-bpjs", "layanan-kesehatan"))
    (record,) = await mall.records(headers["X-Correlation-Id"])
    assert record.outcome == "forbidden" and record.purpose == "pengaduan" and record.agency == "bpjs"
    assert record.legal_basis == DEFAULT_PURPOSES["pengaduan"].legal_basis
    unknown = await mall.http.post("/v1/health.coverage", json={"nik": NIK}, headers=mall.headers("kiosk", "curious"))
    assert unknown.status_code == 400 and "layanan-kesehatan" in unknown.json()["message"]
    async with await connect_client(mall.bus, purpose="pengaduan", consumer=mall.name("portal")) as client:
        with pytest.raises(HubError) as on_the_bus:
            await client.call("health.coverage", {"nik": NIK})
    assert on_the_bus.value.code.value == "forbidden"


# --- channel, officer, consent ---------------------------------------------------------------------------


async def test_channel_officer_and_consent_reach_the_audit_record(mall: Mall) -> None:
    """The desk app names its officer and the citizen's consent; its channel comes from its registration."""
    served = await _lookup(mall, "desk", "layanan-kependudukan", **{"X-Officer": "ani@desk-3",
                           "X-Consent-Ref": "PDP/2026/000123"})  # fmt: skip
    assert served.status_code == 200, served.text
    (record,) = await mall.records(served.headers["X-Correlation-Id"])
    assert (record.channel, record.officer, record.consent) == ("desk", "ani@desk-3", "PDP/2026/000123")
    mobile = await _lookup(mall, "portal", "layanan-kependudukan", **{"X-Channel": "mobile"})
    assert mobile.status_code == 200 and (await mall.records(mobile.headers["X-Correlation-Id"]))[0].channel == "mobile"


async def test_a_consumer_not_allowed_to_name_officers_is_refused(mall: Mall) -> None:
    """The kiosk may not name an officer, nor say it is a portal: 403, audited; malformed values are 400, unechoed."""
    named = await _lookup(mall, "kiosk", "layanan-kependudukan", **{"X-Officer": "ani@desk-3"})
    assert named.status_code == 403 and "may not name officers" in named.json()["message"]
    (record,) = await mall.records(named.headers["X-Correlation-Id"])
    assert record.outcome == "forbidden" and record.channel == "kiosk" and record.consumer == mall.name("kiosk")
    elsewhere = await _lookup(mall, "kiosk", "layanan-kependudukan", **{"X-Channel": "portal"})
    assert elsewhere.status_code == 403 and "kiosk channel" in elsewhere.json()["message"]
    for header, value in (("X-Channel", "counter"), ("X-Officer", "ani desk"), ("X-Consent-Ref", "c" * 65)):
        bad = await _lookup(mall, "desk", "layanan-kependudukan", **{header: value})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_input" and value not in bad.text
        assert header in bad.json()["message"]


async def test_the_edges_own_application_records_carry_the_context(mall: Mall) -> None:
    """application.read (at the edge) records the officer and channel; a kiosk filing a desk application is 403."""
    tracking_no = new_tracking_number()
    headers = mall.headers("desk", "layanan-kependudukan", **{"X-Officer": "budi@desk-1"})
    missing = await mall.http.get(f"/v1/applications/{tracking_no}", headers=headers)
    assert missing.status_code == 404
    (record,) = await mall.records(headers["X-Correlation-Id"])
    assert (record.operation, record.outcome, record.channel, record.officer) == (
        "application.read", "not_found", "desk", "budi@desk-1",
    )  # fmt: skip
    body = {"service": "vehicle-tax-renewal", "applicant_nik": NIK, "channel": "desk", "params": {"plate": "G 1 A"}}
    headers = mall.headers("kiosk", "pembayaran-pajak")
    filed = await mall.http.post("/v1/applications", json=body, headers=headers)
    assert filed.status_code == 403 and "kiosk channel" in filed.json()["message"]
    (record,) = await mall.records(headers["X-Correlation-Id"])
    assert (record.operation, record.outcome, record.channel) == ("application.submit", "forbidden", "kiosk")


# --- data subjects other than a NIK ------------------------------------------------------------------------


async def test_who_read_finds_a_read_by_bpjs_card_number(mall: Mall) -> None:
    """A coverage check by card number is keyed by the card: who-read with that number finds it."""
    card = _card()
    headers = mall.headers("kiosk", "layanan-kesehatan")
    answer = await mall.http.post("/v1/health.coverage", json={"card_number": card}, headers=headers)
    assert answer.status_code == 200, answer.text
    subject = parse_subject(card)
    assert subject.kind == "card_number"
    found = [r for r in await mall._log().who_read(subject.value) if r.correlation_id == headers["X-Correlation-Id"]]
    assert len(found) == 1 and found[0].subject_kind == "card_number" and found[0].agency == "bpjs"
    assert found[0].subject_masked == f"{card[:4]}{'*' * (len(card) - 6)}{card[-2:]}"


# --- the pieces, without a bus -------------------------------------------------------------------------------


def _record(index: int, at: str, consumer: str, **fields: object) -> AuditRecord:
    defaults: dict[str, object] = {
        "operation": "identity.lookup", "agency": "dukcapil", "purpose": KYC,
        "legal_basis": DEFAULT_PURPOSES[KYC].legal_basis, "outcome": "ok", "subject_hash": None,
        "subject_masked": None,
    }  # fmt: skip
    given = {"index": index, "time": at, "consumer": consumer, "correlation_id": f"c{index}", "worker": "w"}
    return AuditRecord.model_validate({**defaults, **fields, **given})


SEMESTER = [
    _record(0, "2026-01-01T00:30:00+07:00", "bank", fields=BANK_FIELDS),
    _record(1, "2026-06-30T23:59:00+07:00", "bank", fields=BANK_FIELDS),
    _record(2, "2026-03-01T10:00:00+07:00", "desk", purpose="layanan-kependudukan", legal_basis="UU 24/2013"),
    _record(3, "2026-03-02T10:00:00+07:00", "bank", outcome="forbidden", operation="identity.verify"),
    _record(4, "2026-07-01T00:30:00+07:00", "bank", fields=BANK_FIELDS),  # the next semester
    _record(5, "2026-03-03T10:00:00+07:00", "bank", agency="bpjs", operation="health.coverage"),
]


class _Log:
    async def records(self) -> AsyncIterator[AuditRecord]:
        for record in SEMESTER:
            yield record


def test_audit_report_counts_reads_by_field_and_refusals_apart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`mpp-hub audit report` over one semester in WIB: CSV for people, JSON for machines."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_audit_run", lambda settings, work, as_json=False: asyncio.run(work(_Log())))
    args = ["audit", "report", "--agency", "dukcapil", "--from", "2026-01-01", "--to", "2026-06-30"]
    written = CliRunner().invoke(cli.main, [*args, "--out", "report.csv"])
    assert written.exit_code == 0, written.output
    assert "3 reads and 1 refusals of dukcapil data" in written.output
    rows = list(csv.DictReader((tmp_path / "report.csv").read_text().splitlines()))
    reads = {(r["consumer"], r["field"]): int(r["records"]) for r in rows if r["section"] == "read"}
    assert reads[("bank", "full_name")] == 2 and reads[("bank", "birth_date")] == 2 and ("bank", "nik") not in reads
    assert reads[("desk", "nik")] == 1 and reads[("desk", "address")] == 1
    (refusal,) = [r for r in rows if r["section"] == "refusal"]
    assert (refusal["operation"], refusal["outcome"], refusal["records"]) == ("identity.verify", "forbidden", "1")
    assert all(r["from"] == "2026-01-01" and r["legal_basis"] for r in rows)
    as_json = json.loads(CliRunner().invoke(cli.main, [*args, "--format", "json"]).output)
    assert (as_json["total_reads"], as_json["total_refusals"], as_json["time_zone"]) == (3, 1, "UTC+07:00")
    backwards = CliRunner().invoke(cli.main, [*args[:-2], "--to", "2025-12-31"])
    assert backwards.exit_code == 2 and "ends" in backwards.output


def test_assertions_carry_channel_officer_consent_and_fields() -> None:
    """The new claims are signed like the others; absent ones leave no trace on the wire."""
    key, subjects = SigningKey.generate(), b"s" * 32
    issuer, verifier = Issuer("edge", key, subjects), Verifier({"edge": key.verify_key}, subjects)
    sign = functools.partial(
        issuer.sign, consumer="bank", operation="identity.lookup", body=b"{}", correlation_id="c", budget=5
    )
    token = sign(statement=Statement(channel="desk", officer="ani@desk-3", consent="PDP/2026/1", fields=BANK_FIELDS))
    claims = verifier.check(token, operation="identity.lookup", body=b"{}", correlation_id="c")
    assert (claims.ch, claims.ofc, claims.cns, claims.fld) == ("desk", "ani@desk-3", "PDP/2026/1", BANK_FIELDS)
    payload = json.loads(base64.urlsafe_b64decode(sign().split(".")[0] + "=="))
    assert not {"ch", "ofc", "cns", "fld", "pur", "dsub", "app"} & payload.keys()
    forged = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    forged["fld"] = [*BANK_FIELDS, "address"]
    edited = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode() + "." + token.split(".")[1]
    with pytest.raises(HubError, match="invalid signature"):
        verifier.check(edited, operation="identity.lookup", body=b"{}", correlation_id="c")


def test_purposes_are_configured_as_tables_with_a_legal_basis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """[purposes.<code>] in mpp-hub.toml; the old list of codes still reads; a typo in an operation is refused."""
    config = tmp_path / "mpp-hub.toml"
    config.write_text(
        '[purposes.kyc-bank]\ndescription = "KYC"\nlegal_basis = "POJK 8/2023"\noperations = ["identity.*"]\n'
    )
    monkeypatch.setenv("MPP_HUB_CONFIG", str(config))
    assert load_settings().purposes["kyc-bank"].covers("identity.verify")
    monkeypatch.setenv("MPP_HUB_PURPOSES", '["pengaduan"]')
    assert load_settings().purposes == {"pengaduan": DEFAULT_PURPOSES["pengaduan"]}
    monkeypatch.setenv("MPP_HUB_PURPOSES", '{"x": {"description": "d", "legal_basis": "l", "operations": ["helth.*"]}}')
    with pytest.raises(ValueError, match=r"purpose 'x': 'helth\.\*' names no operation on personal data"):
        PurposeRegistry(load_settings().purposes)  # what `up` checks once the plugins' contract packages are in
    monkeypatch.setenv("MPP_HUB_PURPOSES", '["curiosity"]')
    with pytest.raises(ValidationError, match="no legal basis"):
        load_settings()


def test_who_read_takes_any_identifier_and_checks_a_nik_as_one() -> None:
    assert parse_subject(NIK).kind == "nik" and parse_subject("8812 3332 8080 7098").value == "8812333280807098"
    with pytest.raises(HubError, match="Not a valid NIK"):
        parse_subject("3328083109870001")  # 31 September
    with pytest.raises(HubError, match="a BPJS card number"):
        parse_subject("12345")


def test_who_read_takes_an_identifier_of_a_named_kind() -> None:
    """A KK number is sixteen digits too, but no NIK: --kind says what it is, and it is checked as that."""
    assert parse_subject(" 3328081006100003 ", "kk_number") == DataSubject("3328081006100003", "kk_number")
    with pytest.raises(HubError, match="Not a valid kk number"):
        parse_subject("33280810", "kk_number")
    with pytest.raises(
        HubError, match=r"'no_such_id' is no kind of identifier the audit keys: one of nik, card_number"
    ):
        parse_subject("1234567890123", "no_such_id")
