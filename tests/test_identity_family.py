"""identity.family end to end: a family card by KK number, from Dukcapil's sandbox through a real hub.

HubClient or the HTTP edge -> real NATS -> hub worker -> the Dukcapil plugin -> real HTTP -> its sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from contracts import (
    OPERATIONS,
    Citizenship,
    ErrorCode,
    FamilyCard,
    FamilyRelationship,
    HubError,
    PersonalData,
    Resident,
    personal_fields,
)
from hub import HubClient
from hub._bus_access import BusAccess
from hub._purposes import DEFAULT_PURPOSES
from hub._runtime import Hub
from plugins._synthetic import residents as _population
from plugins.dukcapil import _wire
from plugins.dukcapil.sandbox import SandboxConfig
from tests._servers import ThreadedServer
from tests._stack import Grant, Stack
from tests.conftest import connect_client, sandbox_requests

#: A well-formed KK number (Kabupaten Tegal, issued 1 January 2001) that no synthetic family holds.
UNKNOWN_KK = "3328100101019999"
#: The family of the README's sample NIK: ROKHMAN SETIAWAN and his wife.
KK = _population.kk_samples()[0]


def _family_with_children() -> str:
    """A married couple with children at home."""
    return next(
        kk for kk, members in _population.by_kk().items() if len(members) >= 4 and members[1].family_relation == "ISTRI"
    )


async def _family(client: HubClient, kk_number: str) -> FamilyCard:
    card = await client.call("identity.family", {"kk_number": kk_number})
    assert isinstance(card, FamilyCard)
    return card


async def test_the_card_lists_every_member_head_first(client: HubClient) -> None:
    """Each sample card holds its household in the registry's order, the head of the family first and named."""
    for kk_number in _population.kk_samples():
        card = await _family(client, kk_number)
        known = _population.by_kk()[kk_number]
        assert card.kk_number == kk_number
        assert [m.nik for m in card.members] == [r.nik for r in known]
        assert card.members[0].relationship is FamilyRelationship.HEAD
        assert (card.head_nik, card.head_name) == (known[0].nik, known[0].full_name)
        assert card.address.street == known[0].street and card.address.rt == f"{known[0].rt:03d}"


async def test_members_are_the_residents_identity_lookup_returns(client: HubClient) -> None:
    """A member's NIK looks up the same person, on the same card, at the card's address."""
    card = await _family(client, _family_with_children())
    for member in card.members:
        resident = await client.call("identity.lookup", {"nik": member.nik})
        assert isinstance(resident, Resident)
        assert resident.kk_number == card.kk_number and resident.address == card.address
        assert (resident.full_name, resident.birth_date, resident.sex) == (
            member.full_name,
            member.birth_date,
            member.sex,
        )


async def test_relationships_parents_and_citizenship_come_from_the_wire(client: HubClient) -> None:
    """Wife and children are named by their place on the card; children carry their parents' names."""
    card = await _family(client, _family_with_children())
    head, wife, *children = card.members
    assert wife.relationship is FamilyRelationship.WIFE
    assert children and all(c.relationship is FamilyRelationship.CHILD for c in children)
    father, mother = (head, wife) if head.sex.value == "male" else (wife, head)
    assert all((c.father_name, c.mother_name) == (father.full_name, mother.full_name) for c in children)
    assert head.father_name is None and head.mother_name is None  # the registry has no parents on file for them
    assert {m.citizenship for m in card.members} == {Citizenship.INDONESIAN}
    assert all(m.education and m.occupation for m in card.members)


async def test_an_unknown_kk_number_is_not_found(client: HubClient) -> None:
    """A well-formed KK number no family holds: not_found, saying to check the card's number."""
    with pytest.raises(HubError) as caught:
        await client.call("identity.family", {"kk_number": UNKNOWN_KK})
    error = caught.value.error
    assert error.code is ErrorCode.NOT_FOUND and error.agency == "dukcapil" and not error.retryable
    assert "family card" in error.message and UNKNOWN_KK not in error.message


async def test_a_malformed_kk_number_never_reaches_the_agency(
    client: HubClient, dukcapil_sandbox: ThreadedServer
) -> None:
    """A KK number with serial 0000 or a NIK-like number sent as a JSON number is refused, naming kk_number."""
    before = sandbox_requests(dukcapil_sandbox)
    for bad in ("3328101203150000", int(KK)):
        with pytest.raises(HubError) as caught:
            await client.call("identity.family", {"kk_number": bad})
        assert caught.value.code is ErrorCode.INVALID_INPUT
        assert caught.value.error.issues[0].field == "kk_number"
    assert sandbox_requests(dukcapil_sandbox) == before


def test_every_personal_field_of_the_card_is_marked() -> None:
    """NIKs, names, birth data, the KK number and the address are masked wherever the hub shows the card."""
    op = OPERATIONS.get("identity.family")
    marked = {key: rule.category for key, rule in personal_fields([op.input, op.output]).items()}
    assert marked["kk_number"] is PersonalData.KK_NUMBER
    assert marked["nik"] is marked["head_nik"] is PersonalData.NIK
    for name in ("full_name", "head_name", "father_name", "mother_name"):
        assert marked[name] is PersonalData.NAME
    assert marked["birth_date"] is PersonalData.BIRTH_DATE and marked["street"] is PersonalData.ADDRESS
    assert op.idempotent and op.personal_data


async def test_the_read_is_audited_under_the_kk_number(hub: Hub, client: HubClient) -> None:
    """The audit log keys the read by the card's number, the identifier the caller asked about."""
    cid = f"family-{uuid.uuid4().hex[:8]}"
    await client.call("identity.family", {"kk_number": KK}, correlation_id=cid)
    records = [r async for r in hub.audit.records() if r.correlation_id == cid]
    assert records and {(r.operation, r.subject_kind) for r in records} == {("identity.family", "kk_number")}
    assert {r.subject_hash for r in records} == {hub.audit.subject_hash(KK)}
    assert all(r.subject_masked == KK[:4] + "*" * 10 + KK[-2:] for r in records)


# --- purposes and rights -----------------------------------------------------------------------------------


def test_the_default_purposes_that_cover_identity_cover_the_family_card() -> None:
    """Every default purpose naming ``identity.*`` covers it, civil registration services among them; a purpose
    that names single identity operations does not."""
    covering = {code for code, purpose in DEFAULT_PURPOSES.items() if purpose.covers("identity.family")}
    assert "layanan-kependudukan" in covering
    assert covering == {code for code, p in DEFAULT_PURPOSES.items() if "identity.*" in p.operations}
    assert "layanan-kesehatan" not in covering


async def test_a_purpose_that_does_not_cover_it_is_forbidden(
    bus: BusAccess, hub: Hub, dukcapil_sandbox: ThreadedServer
) -> None:
    """Health services may look a patient up, not read the patient's family card: forbidden, nothing sent on."""
    before = sandbox_requests(dukcapil_sandbox)
    async with await connect_client(bus, purpose="layanan-kesehatan") as client:
        with pytest.raises(HubError) as caught:
            await client.call("identity.family", {"kk_number": KK})
    assert caught.value.code is ErrorCode.FORBIDDEN
    assert "layanan-kependudukan" in caught.value.error.message
    assert sandbox_requests(dukcapil_sandbox) == before


@pytest.fixture
async def portal(bus: BusAccess) -> AsyncIterator[Stack]:
    consumers = {
        "registry": Grant(["identity.*"]),
        "desk": Grant(["identity.family[kk_number,head_name]"]),
        "lookups": Grant(["identity.lookup"]),
    }
    async with Stack(bus, agencies=["dukcapil"], consumers=consumers) as stack:
        yield stack


async def test_rights_reach_the_card_by_pattern_name_and_fields(portal: Stack) -> None:
    """``identity.*`` reads the whole card, a right on its fields only those, a right on lookups nothing."""
    body = {"kk_number": KK}
    whole = await portal.http.post("/v1/identity.family", json=body, headers=portal.headers("registry"))
    assert whole.status_code == 200, whole.text
    assert FamilyCard.model_validate(whole.json()).head_name == _population.by_kk()[KK][0].full_name
    cut = await portal.http.post("/v1/identity.family", json=body, headers=portal.headers("desk"))
    assert cut.status_code == 200, cut.text
    assert cut.json() == {"kk_number": KK, "head_name": whole.json()["head_name"]}
    refused = await portal.http.post("/v1/identity.family", json=body, headers=portal.headers("lookups"))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


# --- the wire --------------------------------------------------------------------------------------------


def _wire_records(sandbox: ThreadedServer, kk_number: str) -> list[dict[str, Any]]:
    """The records the sandbox answers CALL_KK with, as the plugin reads them off the wire."""
    config = SandboxConfig()
    credentials = {"user_id": config.user_id, "password": config.password, "ip_user": config.ip_user}
    url = f"{sandbox.url}/dukcapil/get_json/{config.partner_segment}/CALL_KK"
    return _wire.records(httpx.post(url, json={**credentials, "no_kk": kk_number}).json(), _wire.NO_FAMILY)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda records: records[1].update(STAT_HBKEL="KEPALA KELUARGA"), "2 heads of family"),
        (lambda records: records[0].update(STAT_HBKEL="ANAK"), "0 heads of family"),
        (lambda records: records[1].update(STAT_HBKEL="SEPUPU"), "'SEPUPU' is not a relationship"),
        (lambda records: records[1].update(STAT_HBKEL=f"SEE {records[0]['NIK']}"), "STAT_HBKEL (not a word)"),
        (lambda records: records[1].update(NO_KK=int(UNKNOWN_KK)), "another family card"),
        (lambda records: records[1].pop("NAMA_LGKP"), "lacks NAMA_LGKP"),
        (lambda records: records[1].update(JENIS_KLMIN="?"), "contract in: sex"),
    ],
    ids=["two-heads", "no-head", "unknown-relationship", "not-a-word", "stray-member", "missing-key", "bad-value"],
)
def test_a_card_the_hub_cannot_trust_is_an_agency_error(
    dukcapil_sandbox: ThreadedServer, change: Callable[[list[dict[str, Any]]], object], said: str
) -> None:
    """What breaks the card (no single head, a stranger, an unknown relationship) is agency_error, never a
    card that misleads the desk."""
    records = _wire_records(dukcapil_sandbox, KK)
    assert _wire.to_family(KK, records).kk_number == KK  # the card as the sandbox sends it is good
    change(records)
    with pytest.raises(HubError) as caught:
        _wire.to_family(KK, records)
    message = caught.value.error.message
    assert caught.value.code is ErrorCode.AGENCY_ERROR and said in message
    assert not any(str(r.get("NIK")) in message for r in records)  # the agency's data is never quoted whole
