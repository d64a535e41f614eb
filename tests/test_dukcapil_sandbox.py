"""The Dukcapil sandbox over real HTTP, and the rules its synthetic population must obey."""

from __future__ import annotations

import datetime as dt
import difflib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugins._synthetic import residents as _population
from plugins._synthetic.residents import DEFAULT_SEED, FEMALE, MALE, Resident, by_nik, residents, samples
from plugins.dukcapil.sandbox import SandboxConfig, create_app
from tests._servers import serving

CONFIG = SandboxConfig()
CALL_NIK = f"/dukcapil/get_json/{CONFIG.partner_segment}/CALL_NIK"
VERIFY = f"/dukcapil/get_json/{CONFIG.partner_segment}/CALL_VERIFY_BY_ELEMEN"
CREDENTIALS = {"user_id": CONFIG.user_id, "password": CONFIG.password, "ip_user": CONFIG.ip_user}
RECORD_KEYS = [
    "NIK", "NAMA_LGKP", "JENIS_KLMIN", "TMPT_LHR", "TGL_LHR", "NO_AKTA_LHR", "GOL_DARAH", "AGAMA",
    "STATUS_KAWIN", "TGL_KWN", "NO_AKTA_KWN", "TGL_CRAI", "NO_AKTA_CRAI", "PDDK_AKH", "JENIS_PKRJN",
    "STAT_HBKEL", "NO_KK", "ALAMAT", "DUSUN", "NO_RT", "NO_RW", "NO_KEL", "NO_KEC", "NO_KAB", "NO_PROP",
    "KEL_NAME", "KEC_NAME", "KAB_NAME", "PROP_NAME", "NIK_AYAH", "NAMA_LGKP_AYAH", "NIK_IBU", "NAMA_LGKP_IBU",
]  # fmt: skip


@contextmanager
def _serve(app: Starlette) -> Iterator[httpx.Client]:
    with serving(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def sandbox() -> Iterator[httpx.Client]:
    """The default sandbox on a real socket, shared by this module."""
    with _serve(create_app()) as http:
        yield http


def _content(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200
    page = response.json()
    assert page["numberOfElements"] == page["totalElements"] == page["size"] == len(page["content"])
    assert page["firstPage"] is page["lastPage"] is True
    content: list[dict[str, Any]] = page["content"]
    return content


def _lookup(client: httpx.Client, nik: str, **overrides: str) -> list[dict[str, Any]]:
    return _content(client.post(CALL_NIK, json={**CREDENTIALS, "nik": nik, **overrides}))


def _verify(client: httpx.Client, resident: Resident, **elements: object) -> dict[str, Any]:
    body = {"USER_ID": CONFIG.user_id, "PASSWORD": CONFIG.password, "IP_USER": CONFIG.ip_user}
    content = _content(client.post(VERIFY, json={**body, "NIK": resident.nik, **elements}))
    assert len(content) == 1
    return content[0]


# --- CALL_NIK ------------------------------------------------------------------------------------


def test_lookup_returns_the_33_keys_with_numeric_codes(sandbox: httpx.Client) -> None:
    """A known NIK returns one record with exactly the 33 keys, NIK and region codes as JSON numbers."""
    nik = samples()[0]
    resident = by_nik()[nik]
    [record] = _lookup(sandbox, nik)
    assert list(record) == RECORD_KEYS
    assert record["NIK"] == int(nik)
    assert record["NO_KK"] == int(resident.kk)
    assert record["NAMA_LGKP"] == resident.full_name
    assert record["TGL_LHR"] == resident.birth_date.isoformat()
    assert (record["NO_PROP"], record["NO_KAB"]) == (33, resident.regency_code)
    assert (record["NO_KEC"], record["NO_KEL"]) == (resident.district_code, resident.village_code)
    assert all(isinstance(record[key], int) for key in ("NO_RT", "NO_RW", "NO_KEL", "NO_KEC"))


def test_child_record_carries_parents_niks_as_numbers(sandbox: httpx.Client) -> None:
    """A child's record names both parents, with their NIKs as JSON numbers."""
    child = next(r for r in residents() if r.father_nik and r.mother_nik)
    [record] = _lookup(sandbox, child.nik)
    assert record["STAT_HBKEL"] == "ANAK"
    assert record["NIK_AYAH"] == int(child.father_nik or "0")
    assert record["NIK_IBU"] == int(child.mother_nik or "0")
    assert record["NAMA_LGKP_IBU"] == child.mother_name


def test_lookup_by_lower_case_service_and_user_scope(sandbox: httpx.Client) -> None:
    """``call_nik`` works too, and so does the route with a second (user scope) segment."""
    nik = samples()[1]
    path = f"/dukcapil/get_json/{CONFIG.partner_segment}/mpp_3328/call_nik"
    [record] = _content(sandbox.post(path, json={**CREDENTIALS, "nik": nik}))
    assert record["NIK"] == int(nik)


def test_upper_case_keys_are_accepted(sandbox: httpx.Client) -> None:
    """Request keys are read case-insensitively (NIK, USER_ID, PASSWORD, IP_USER)."""
    nik = samples()[2]
    body = {"NIK": nik, "USER_ID": CONFIG.user_id, "PASSWORD": CONFIG.password, "IP_USER": CONFIG.ip_user}
    [record] = _content(sandbox.post(CALL_NIK, json=body))
    assert record["NIK"] == int(nik)


def test_unknown_nik_is_data_not_found_with_http_200(sandbox: httpx.Client) -> None:
    """An unknown or malformed NIK gets RESPON "Data Tidak Ditemukan" inside an HTTP 200 page."""
    assert _lookup(sandbox, "3328010101010000") == [{"RESPON": "Data Tidak Ditemukan"}]
    assert _lookup(sandbox, "not-a-nik") == [{"RESPON": "Data Tidak Ditemukan"}]


def test_wrong_password_is_login_failed(sandbox: httpx.Client) -> None:
    """Wrong credentials get RESPON "Login Gagal", before any other check."""
    content = _lookup(sandbox, samples()[0], password="wrong", ip_user="10.9.9.9")
    assert content == [{"RESPON": "Login Gagal"}]


def test_wrong_partner_segment_is_login_failed(sandbox: httpx.Client) -> None:
    """A partner segment other than the configured one is refused as a failed login."""
    response = sandbox.post("/dukcapil/get_json/OTHER/CALL_NIK", json={**CREDENTIALS, "nik": samples()[0]})
    assert _content(response) == [{"RESPON": "Login Gagal"}]


def test_unregistered_ip_is_refused(sandbox: httpx.Client) -> None:
    """Right credentials from an unregistered client IP get "IP Client Tidak Terdaftar"."""
    content = _lookup(sandbox, samples()[0], ip_user="10.9.9.9")
    assert content == [{"RESPON": "IP Client Tidak Terdaftar"}]


def test_unknown_service_is_404_and_bad_json_is_400(sandbox: httpx.Client) -> None:
    """An unknown service is HTTP 404; a body that is not a JSON object is HTTP 400."""
    unknown = sandbox.post(f"/dukcapil/get_json/{CONFIG.partner_segment}/CALL_SOMETHING", json=CREDENTIALS)
    assert unknown.status_code == 404
    assert "error" in unknown.json()
    garbled = sandbox.post(CALL_NIK, content=b"{not json", headers={"content-type": "application/json"})
    assert garbled.status_code == 400
    assert "error" in garbled.json()


def test_daily_quota_is_enforced_and_reset() -> None:
    """Past the daily quota every request gets "Kuota Akses Hari ini telah Habis"; reset restores it."""
    with _serve(create_app(SandboxConfig(daily_quota=2))) as client:
        nik = samples()[0]
        assert _lookup(client, nik)[0]["NIK"] == int(nik)
        assert _lookup(client, "3328010101010000") == [{"RESPON": "Data Tidak Ditemukan"}]
        assert _lookup(client, nik) == [{"RESPON": "Kuota Akses Hari ini telah Habis"}]
        assert client.post("/_sandbox/reset").status_code == 200
        assert _lookup(client, nik)[0]["NIK"] == int(nik)


def test_stats_count_every_agency_request(sandbox: httpx.Client) -> None:
    """The request counter counts agency calls of any service, refused ones included."""
    sandbox.post("/_sandbox/reset")
    _lookup(sandbox, samples()[0])
    _lookup(sandbox, samples()[0], password="wrong")
    _verify(sandbox, by_nik()[samples()[1]], NAMA_LGKP="X")
    assert sandbox.get("/_sandbox/stats").json() == {"requests": 3}
    sandbox.post("/_sandbox/reset")
    assert sandbox.get("/_sandbox/stats").json() == {"requests": 0}


# --- CALL_VERIFY_BY_ELEMEN -----------------------------------------------------------------------


def test_verify_right_name_is_sesuai_100(sandbox: httpx.Client) -> None:
    """The registered name (any case) scores 100 and is "Sesuai (100)"."""
    resident = by_nik()[samples()[0]]
    result = _verify(sandbox, resident, NAMA_LGKP=resident.full_name.lower(), TRESHOLD=90)
    assert result == {"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (100)"}


def test_verify_wrong_name_is_tidak_sesuai_with_score(sandbox: httpx.Client) -> None:
    """A different name is "Tidak Sesuai (score)", the score being difflib's ratio in percent."""
    resident = by_nik()[samples()[0]]
    claimed = "BAMBANG PAMUNGKAS"
    score = round(100 * difflib.SequenceMatcher(None, claimed, resident.full_name).ratio())
    assert score < 90
    assert _verify(sandbox, resident, NAMA_LGKP=claimed)["NAMA_LGKP"] == f"Tidak Sesuai ({score})"


def test_verify_treshold_decides_fuzzy_fields(sandbox: httpx.Client) -> None:
    """A near-miss name passes at a low TRESHOLD and fails at 100."""
    resident = by_nik()[samples()[0]]
    claimed = resident.full_name[:-1]
    score = round(100 * difflib.SequenceMatcher(None, claimed, resident.full_name).ratio())
    assert _verify(sandbox, resident, NAMA_LGKP=claimed, TRESHOLD="50")["NAMA_LGKP"] == f"Sesuai ({score})"
    assert _verify(sandbox, resident, NAMA_LGKP=claimed, TRESHOLD=100)["NAMA_LGKP"] == f"Tidak Sesuai ({score})"


def test_verify_exact_elements_answer_only_what_was_submitted(sandbox: httpx.Client) -> None:
    """Exact elements compare normalised values ("005" == 5, DD-MM-YYYY dates); only submitted keys return."""
    resident = by_nik()[samples()[1]]
    sex = "Perempuan" if resident.sex == FEMALE else "Laki-laki"
    result = _verify(
        sandbox,
        resident,
        TGL_LHR=resident.birth_date.strftime("%d-%m-%Y"),
        JENIS_KLMIN=sex,
        NO_RT=f"{resident.rt:03d}",
        NO_KEC=f"{resident.district_code:03d}",
        NO_KK=resident.kk,
        KAB_NAME=resident.regency_name.lower(),
        NO_RW=str(resident.rw + 1),
        TMPT_LHR=" ",
    )
    assert result == {
        "NIK": "Sesuai",
        "NO_KK": "Sesuai",
        "TGL_LHR": "Sesuai",
        "JENIS_KLMIN": "Sesuai",
        "NO_RT": "Sesuai",
        "NO_RW": "Tidak Sesuai",
        "NO_KEC": "Sesuai",
        "KAB_NAME": "Sesuai",
    }


def test_verify_unknown_nik_and_bad_treshold_carry_response_codes(sandbox: httpx.Client) -> None:
    """An unknown NIK is RESPONSE_CODE 13 and an out-of-range TRESHOLD is 15, both echoing the NIK."""
    body = {**CREDENTIALS, "NAMA_LGKP": "X"}
    unknown = _content(sandbox.post(VERIFY, json={**body, "NIK": "3328010101010000"}))
    assert unknown == [{"RESPONSE_CODE": "13", "RESPONSE": "NIK tidak ditemukan", "NIK": "3328010101010000"}]
    nik = samples()[0]
    bad = _content(sandbox.post(VERIFY, json={**body, "NIK": nik, "TRESHOLD": 101}))
    assert bad == [{"RESPONSE_CODE": "15", "RESPONSE": "Treshold tidak valid", "NIK": nik}]


def test_verify_refuses_like_call_nik(sandbox: httpx.Client) -> None:
    """Verification applies the same login check as CALL_NIK."""
    body = {**CREDENTIALS, "password": "wrong", "NIK": samples()[0], "NAMA_LGKP": "X"}
    assert _content(sandbox.post(VERIFY, json=body)) == [{"RESPON": "Login Gagal"}]


# --- the population ------------------------------------------------------------------------------


def _nik_birth_date(digits: str) -> tuple[dt.date, bool]:
    day, month, yy = int(digits[:2]), int(digits[2:4]), int(digits[4:])
    female = day > 40
    return dt.date((1900 if yy >= 40 else 2000) + yy, month, day - 40 if female else day), female


def test_population_is_large_and_niks_unique() -> None:
    """There are at least 1,000 residents and no NIK repeats."""
    people = residents()
    assert len(people) >= 1000
    assert len({r.nik for r in people}) == len(people) == len(by_nik())


def test_every_nik_follows_the_structure() -> None:
    """NIK = 16 digits: 33, regency 28 or 76, a real district, DDMMYY (+40 for women), serial from 0001."""
    districts = {d.region_code for d in _population.DISTRICTS}
    for resident in residents():
        nik = resident.nik
        assert len(nik) == 16 and nik.isdigit(), nik
        assert nik[:2] == "33" and nik[2:4] in ("28", "76") and nik[:6] in districts, nik
        born, female = _nik_birth_date(nik[6:12])
        assert born == resident.birth_date, nik
        assert female == (resident.sex == FEMALE), nik
        assert dt.date(1940, 1, 1) <= born <= dt.date(2008, 12, 31), nik
        assert nik[12:] != "0000", nik


def test_nik_serials_count_from_0001_per_prefix() -> None:
    """Serials under each 12-digit prefix are exactly 0001, 0002, ... with no gap."""
    serials: dict[str, list[int]] = {}
    for resident in residents():
        serials.setdefault(resident.nik[:12], []).append(int(resident.nik[12:]))
    assert all(sorted(found) == list(range(1, len(found) + 1)) for found in serials.values())


def test_every_kk_follows_the_structure_and_is_one_family() -> None:
    """KK = 16 digits: the family's district, a real issue date (no +40), a serial; one head per KK."""
    families: dict[str, list[Resident]] = {}
    for resident in residents():
        families.setdefault(resident.kk, []).append(resident)
    for kk, members in families.items():
        assert len(kk) == 16 and kk.isdigit() and kk[12:] != "0000", kk
        head = members[0]
        assert kk[:6] == f"33{head.regency_code:02d}{head.district_code:02d}", kk
        issued = dt.datetime.strptime(kk[6:12], "%d%m%y").date()
        assert max(m.birth_date for m in members) <= issued <= _population.REFERENCE_DATE, kk
        assert [m.family_relation for m in members].count("KEPALA KELUARGA") == 1, kk
        assert len({(m.street, m.rt, m.rw, m.village_code) for m in members}) == 1, kk


def test_children_point_at_their_parents() -> None:
    """A child's parent NIKs belong to members of the same family card of the right sex."""
    people = by_nik()
    for child in (r for r in residents() if r.family_relation == "ANAK"):
        assert child.marital_status == "BELUM KAWIN"
        for nik, sex in ((child.father_nik, MALE), (child.mother_nik, FEMALE)):
            if nik is not None:
                assert people[nik].kk == child.kk and people[nik].sex == sex


def test_generation_is_deterministic() -> None:
    """The same seed gives the same residents; another seed gives others."""
    again = _population._generate(DEFAULT_SEED)
    assert again == residents()
    assert _population._generate(DEFAULT_SEED + 1) != again
    assert residents() is residents()


def test_samples_cover_both_regencies_and_sexes() -> None:
    """samples() is stable and spreads over Kab. Tegal, Kota Tegal, men and women."""
    picked = samples(4)
    assert picked == samples(4)
    people = [by_nik()[nik] for nik in picked]
    assert Counter((p.regency_code, p.sex) for p in people) == Counter(
        {(28, MALE): 1, (76, FEMALE): 1, (28, FEMALE): 1, (76, MALE): 1}
    )
