"""The OSS-RBA sandbox over real HTTP: its envelopes, and its refusals in the order the real system makes them."""

from __future__ import annotations

import httpx
import pytest

from mpp_plugin_oss import sandbox

INQUERY = f"{sandbox.PREFIX}/inqueryNIB"
CHECK = f"{sandbox.PREFIX}/checkNIB"
GOOD_KEY = {"user_key": sandbox.SANDBOX_USER_KEY}
GOOD_AUTH = (sandbox.SANDBOX_USERNAME, sandbox.SANDBOX_PASSWORD)
SOLE_PROPRIETOR = "9990000000013"


Auth = tuple[str, str] | None


async def _post(url: str, path: str, body: object, headers: dict[str, str], auth: Auth) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        if auth is None:
            return await http.post(path, json=body, headers=headers)
        return await http.post(path, json=body, headers=headers, auth=httpx.BasicAuth(*auth))


async def test_inquery_nib_answers_the_record_in_its_envelope(oss_sandbox_url: str) -> None:
    response = await _post(oss_sandbox_url, INQUERY, {"INQUERYNIB": {"nib": SOLE_PROPRIETOR}}, GOOD_KEY, GOOD_AUTH)
    assert response.status_code == 200
    answer = response.json()["responinqueryNIB"]
    assert answer["kode"] == 200 and answer["keterangan"] == "Sukses"
    assert answer["dataNIB"]["nib"] == SOLE_PROPRIETOR and answer["dataNIB"]["jenis_pelaku_usaha"] == "02"


async def test_inquery_nib_by_npwp_finds_a_sole_proprietor_by_their_nik(oss_sandbox_url: str) -> None:
    nik = sandbox.sample_owner_niks()[0]
    response = await _post(oss_sandbox_url, INQUERY, {"INQUERYNIB": {"npwp": nik}}, GOOD_KEY, GOOD_AUTH)
    assert response.json()["responinqueryNIB"]["dataNIB"]["npwp_perseroan"] == nik


async def test_check_nib_answers_name_and_status_only(oss_sandbox_url: str) -> None:
    response = await _post(oss_sandbox_url, CHECK, {"CHECKNIB": {"nib": SOLE_PROPRIETOR}}, GOOD_KEY, GOOD_AUTH)
    assert response.json() == {
        "responcheckNIB": {
            "kode": 200,
            "keterangan": "Sukses",
            "dataNIB": {"nib": SOLE_PROPRIETOR, "nama_perusahaan": "SRI CONTOH SANDBOX", "status": "01"},
        }
    }


@pytest.mark.parametrize(("path", "key"), [(INQUERY, "INQUERYNIB"), (CHECK, "CHECKNIB")])
async def test_an_unknown_nib_is_code_400_data_nib_tidak_ditemukan(oss_sandbox_url: str, path: str, key: str) -> None:
    response = await _post(oss_sandbox_url, path, {key: {"nib": "9990000000999"}}, GOOD_KEY, GOOD_AUTH)
    assert response.status_code == 400
    (answer,) = response.json().values()
    assert (answer["kode"], answer["keterangan"]) == (400, "Data NIB tidak ditemukan")


@pytest.mark.parametrize("body", [{}, {"INQUERYNIB": {}}, {"INQUERYNIB": {"nib": "123"}}, {"nib": SOLE_PROPRIETOR}])
async def test_a_malformed_request_is_data_parameter_salah(oss_sandbox_url: str, body: object) -> None:
    response = await _post(oss_sandbox_url, INQUERY, body, GOOD_KEY, GOOD_AUTH)
    assert response.status_code == 400
    assert response.json()["responinqueryNIB"]["keterangan"] == "Data Parameter Salah"


async def test_the_gateway_refuses_a_missing_user_key_with_401_in_plain_text(oss_sandbox_url: str) -> None:
    response = await _post(oss_sandbox_url, INQUERY, {"INQUERYNIB": {"nib": SOLE_PROPRIETOR}}, {}, GOOD_AUTH)
    assert (response.status_code, response.text) == (401, "Authentication parameters missing")
    assert response.headers["content-type"].startswith("text/plain")


async def test_the_gateway_refuses_a_wrong_user_key_with_403_before_reading_credentials(oss_sandbox_url: str) -> None:
    body = {"INQUERYNIB": {"nib": SOLE_PROPRIETOR}}
    response = await _post(oss_sandbox_url, INQUERY, body, {"user_key": "wrong"}, ("wrong", "wrong"))
    assert (response.status_code, response.text) == (403, "Authentication failed")


@pytest.mark.parametrize("auth", [None, (sandbox.SANDBOX_USERNAME, "wrong"), ("wrong", sandbox.SANDBOX_PASSWORD)])
async def test_wrong_basic_credentials_are_code_401_user_akses_tidak_valid(
    oss_sandbox_url: str, auth: tuple[str, str] | None
) -> None:
    response = await _post(oss_sandbox_url, INQUERY, {"INQUERYNIB": {"nib": SOLE_PROPRIETOR}}, GOOD_KEY, auth)
    assert response.status_code == 401
    answer = response.json()["responinqueryNIB"]
    assert (answer["kode"], answer["keterangan"]) == (401, "User Akses Tidak Valid")
    assert answer["dataNIB"] == []
