"""The sandbox over real HTTP: a wrong token refused, a reference filed once however often it is sent, an outage
through the fault injector, a lost answer, and complaints moved on by the admin route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mpp_plugin_lapor import sandbox


def _filing(reference: str = "K7Q3-9XH2-9", **laporan: Any) -> dict[str, Any]:
    return {
        "token": sandbox.SANDBOX_TOKEN, "referensi": reference,
        "pelapor": {"nik": "3328010107960001", "namadepan": "WARGA", "namabelakang": "SANDBOX", "email": ""},
        "laporan": {"judul": "Antrean KTP-el", "isi": "Antrean perekaman KTP-el tidak dipanggil selama tiga jam.",
                    "kategori": "21", "instansi": "", "terkait": "", "rahasia": 0, "anonim": 0, **laporan},
    }  # fmt: skip


@pytest.fixture
async def wire(lapor_sandbox: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=lapor_sandbox, timeout=5) as client:
        yield client


async def _stats(wire: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    answer = await wire.get("/_sandbox/stats", headers=admin)
    assert answer.status_code == 200, answer.text
    stats: dict[str, Any] = answer.json()
    return stats


@pytest.mark.parametrize("token", ["", "wrong-token", "Bearer " + sandbox.SANDBOX_TOKEN, None])
async def test_a_wrong_or_missing_token_is_refused_everywhere(
    wire: httpx.AsyncClient, admin: dict[str, str], token: str | None
) -> None:
    filing = _filing() | {"token": token}
    refused = await wire.post("/api/stream/addstream", json=filing)
    assert (refused.status_code, refused.json()["success"]) == (401, False)
    status = await wire.post("/api/stream/getstream", json={"token": token, "trackingid": "90000001"})
    topics = await wire.post("/api/services/f01/gettopics", json={"KEYTOKEN": token})
    assert status.status_code == topics.status_code == 401
    assert (await _stats(wire, admin))["complaints"] == 0  # nothing was kept


async def test_a_reference_is_filed_once_however_often_it_is_sent(
    wire: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first = (await wire.post("/api/stream/addstream", json=_filing())).json()
    assert first["success"] and first["status"] == "Belum Terverifikasi" and not first["duplikat"]
    assert first["trackingid"].isdigit() and first["transaksiid"]
    again = (await wire.post("/api/stream/addstream", json=_filing(judul="Diubah"))).json()
    assert (again["trackingid"], again["duplikat"]) == (first["trackingid"], True)
    other = (await wire.post("/api/stream/addstream", json=_filing("K7Q3-9XH2-8"))).json()
    assert other["trackingid"] != first["trackingid"]
    stats = await _stats(wire, admin)
    assert (stats["complaints"], stats["filings"]) == (2, 3)
    assert stats["by_reference"]["K7Q3-9XH2-9"] == [first["trackingid"]]


async def test_a_lost_answer_keeps_the_complaint_and_the_retry_gets_it(
    wire: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert (await wire.post("/_sandbox/lose-answers", json={"count": 1}, headers=admin)).status_code == 200
    lost = await wire.post("/api/stream/addstream", json=_filing())
    assert lost.status_code == 503
    [kept] = (await _stats(wire, admin))["by_reference"]["K7Q3-9XH2-9"]
    retried = (await wire.post("/api/stream/addstream", json=_filing())).json()
    assert (retried["trackingid"], retried["duplikat"]) == (kept, True)
    assert (await _stats(wire, admin))["complaints"] == 1


async def test_an_outage_hangs_up_until_it_is_cleared(wire: httpx.AsyncClient, admin: dict[str, str]) -> None:
    unguarded = await wire.put("/_sandbox/faults", json={"outage": True})
    assert unguarded.status_code == 401  # the switch is behind the sandbox admin token
    assert (await wire.put("/_sandbox/faults", json={"outage": True}, headers=admin)).status_code == 200
    with pytest.raises(httpx.TransportError):
        await wire.post("/api/stream/addstream", json=_filing())
    assert (await _stats(wire, admin))["complaints"] == 0
    assert (await wire.delete("/_sandbox/faults", headers=admin)).status_code in (200, 204)
    assert (await wire.post("/api/stream/addstream", json=_filing())).status_code == 200


async def test_the_admin_route_moves_a_complaint_through_verification_and_follow_up(
    wire: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    tracking_id = (await wire.post("/api/stream/addstream", json=_filing())).json()["trackingid"]

    async def status() -> dict[str, Any]:
        answer = await wire.post(
            "/api/stream/getstream", json={"token": sandbox.SANDBOX_TOKEN, "trackingid": tracking_id}
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    assert ((await status())["status"], (await status())["tanggal_verifikasi"]) == ("Belum Terverifikasi", "")
    move = {"trackingid": tracking_id, "to": "verified", "at": "2026-12-04 09:15:00", "instansi": "Disdukcapil"}
    assert (await wire.post("/_sandbox/advance", json=move, headers=admin)).status_code == 200
    verified = await status()
    assert (verified["status"], verified["tanggal_verifikasi"], verified["instansi"]) == (
        "Terverifikasi", "2026-12-04 09:15:00", "Disdukcapil",
    )  # fmt: skip
    move = {"trackingid": tracking_id, "to": "closed", "at": "2026-12-10 14:00:00"}
    await wire.post("/_sandbox/advance", json=move, headers=admin)
    closed = await status()
    assert (closed["status"], closed["tanggal_tindak_lanjut"], closed["tanggal_selesai"]) == (
        "Selesai", "2026-12-10 14:00:00", "2026-12-10 14:00:00",
    )  # fmt: skip
    assert "isi" not in closed and "pelapor" not in closed  # the status never carries the complaint or its reporter


async def test_an_unknown_tracking_id_is_404_and_a_bad_complaint_400(wire: httpx.AsyncClient) -> None:
    unknown = await wire.post("/api/stream/getstream", json={"token": sandbox.SANDBOX_TOKEN, "trackingid": "12345"})
    assert unknown.status_code == 404 and unknown.json()["success"] is False
    for laporan, field in (({"kategori": "999"}, "kategori"), ({"isi": "pendek"}, "isi")):
        refused = await wire.post("/api/stream/addstream", json=_filing(**laporan))
        assert (refused.status_code, refused.json()["field"]) == (400, field)
    anonymous = _filing(anonim=1) | {"pelapor": None}
    assert (await wire.post("/api/stream/addstream", json=anonymous)).status_code == 200
    assert (
        await wire.post("/api/stream/addstream", json=_filing("K7Q3-9XH2-7") | {"pelapor": None})
    ).status_code == 400
