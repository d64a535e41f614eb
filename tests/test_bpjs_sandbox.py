"""The BPJS Kesehatan sandbox over real HTTP, VClaim's signature and encryption, and the synthetic participants."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import lzstring
import pytest
from starlette.applications import Starlette

from plugins._synthetic.residents import FEMALE, REFERENCE_DATE, by_nik, residents
from plugins.bpjs import _crypto, _data
from plugins.bpjs.sandbox import (
    BAD_CARD,
    BAD_DATE,
    BAD_SIGNATURE,
    BAD_TIMESTAMP,
    BAD_USER_KEY,
    CARD_NOT_FOUND,
    MISSING_HEADER,
    NIK_NOT_FOUND,
    UNKNOWN_CONSUMER,
    SandboxConfig,
    create_app,
)
from tests._servers import serving

CONFIG = SandboxConfig()
BASE = CONFIG.base_path
DAY = "2025-06-02"
AGE = re.compile(r"^\d+ tahun ,\d{1,2} bulan ,\d{1,2} hari$")
PESERTA_KEYS = {
    "cob", "hakKelas", "informasi", "jenisPeserta", "mr", "nama", "nik", "noKartu", "pisa", "provUmum", "sex",
    "statusPeserta", "tglCetakKartu", "tglLahir", "tglTAT", "tglTMT", "umur",
}  # fmt: skip


@contextmanager
def _serve(app: Starlette) -> Iterator[httpx.Client]:
    with serving(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def sandbox() -> Iterator[httpx.Client]:
    """The default sandbox on a real socket, shared by this module."""
    with _serve(create_app()) as http:
        yield http


def _headers(timestamp: str | None = None, *, secret: str = CONFIG.secret, **override: str) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    headers = {
        "X-cons-id": CONFIG.cons_id,
        "X-timestamp": timestamp,
        "X-signature": _crypto.signature(CONFIG.cons_id, secret, timestamp),
        "user_key": CONFIG.user_key,
    }
    return {**headers, **override}


def _get(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.get(BASE + path, headers=headers if headers is not None else _headers())


def _peserta(client: httpx.Client, kind: str, value: str, day: str = DAY) -> dict[str, Any]:
    headers = _headers()
    response = _get(client, f"/Peserta/{kind}/{value}/tglSEP/{day}", headers)
    assert response.status_code == 200
    body = response.json()
    assert body["metaData"] == {"code": "200", "message": "OK"}
    key = _crypto.response_key(CONFIG.cons_id, CONFIG.secret, headers["X-timestamp"])
    decoded: dict[str, Any] = json.loads(_crypto.decrypt_response(body["response"], key))
    assert list(decoded) == ["peserta"]
    peserta: dict[str, Any] = decoded["peserta"]
    return peserta


def _refused(response: httpx.Response) -> str:
    assert response.status_code == 403
    body = response.json()
    assert body["response"] is None and body["metaData"]["code"] == "403"
    message: str = body["metaData"]["message"]
    return message


def _failure(response: httpx.Response) -> str:
    assert response.status_code == 200
    body = response.json()
    assert body["response"] is None and body["metaData"]["code"] == "201"
    message: str = body["metaData"]["message"]
    return message


def _holder(active: bool = True) -> _data.Participant:
    return next(p for p in _data.participants() if (p.ended_because is None) == active)


# --- signature, LZ-string and AES ----------------------------------------------------------------


def test_signature_matches_the_official_vector() -> None:
    """HMAC-SHA256 of "aaa" keyed with "bbb", base64: the vector in BPJS's own catalogue."""
    assert _crypto.sign("aaa", "bbb") == "20BKS3PWnD3XU4JbSSZvVlGi2WWnDa8Sv9uHJ+wsELA="
    assert _crypto.signature("aaa", "bbb", "1") == _crypto.sign("aaa&1", "bbb")


def test_lz_string_matches_the_documented_vector() -> None:
    """lz-string's documented compressToBase64("Hello, world"); the URI-safe form drops only the padding."""
    assert lzstring.LZString().compressToBase64("Hello, world") == "BIUwNmD2A0AEDukBOYAmQ==="
    assert _crypto.lz_compress("Hello, world") == "BIUwNmD2A0AEDukBOYAmQ"
    assert _crypto.lz_decompress("BIUwNmD2A0AEDukBOYAmQ") == "Hello, world"


def test_lz_string_agrees_with_javascript_beyond_the_bmp() -> None:
    """Text with emoji compresses exactly as JavaScript lz-string 1.5.0 does (UTF-16 code units)."""
    text = '{"nama":"SITI NURHALIZA 😀","catatan":"漢字 é 𝄞"}'
    from_javascript = "N4IgdghgthIFwgMoEkAqyAEA5AqgJQAkBBAGWQC0iNBeDcAA9kAGhAGMIAXdiMeEQIntB1bQwBLjIBYNwHi7IAL5A"
    assert _crypto.lz_compress(text) == from_javascript
    assert _crypto.lz_decompress(from_javascript) == text


def test_lz_string_round_trips_a_long_unicode_json_text() -> None:
    """A long JSON text in many scripts comes back unchanged."""
    text = json.dumps(
        [{"nama": f"SÜRYÄ ÑÖÖR {i} 漢字 😀 𝄞", "alamat": "JL. MAWAR RT 005/RW 002 — TEGAL"} for i in range(300)],
        ensure_ascii=False,
    )
    compressed = _crypto.lz_compress(text)
    assert re.fullmatch(r"[A-Za-z0-9+\-$]+", compressed) and len(compressed) < len(text)
    assert _crypto.lz_decompress(compressed) == text


def test_lz_string_refuses_what_is_not_compressed_text() -> None:
    """Characters outside the URI-safe alphabet or truncated data raise DecryptionError, never garbage."""
    for junk in ("not/uri safe", "", "€€€", _crypto.lz_compress("x" * 500)[:5]):
        with pytest.raises(_crypto.DecryptionError):
            _crypto.lz_decompress(junk)


def test_aes_256_cbc_matches_nist_sp800_38a() -> None:
    """NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt): the four blocks come out as published, then one padding block."""
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    iv = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    plaintext = bytes.fromhex(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
    )
    expected = bytes.fromhex(
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
        "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
    )
    ciphertext = _crypto.aes_cbc_encrypt(key, iv, plaintext)
    assert ciphertext[:64] == expected and len(ciphertext) == 80
    assert _crypto.aes_cbc_decrypt(key, iv, ciphertext) == plaintext


def test_response_key_is_sha256_of_consid_secret_timestamp() -> None:
    """The AES key is the raw SHA-256 of cons_id + secret + timestamp; the IV is its first 16 bytes."""
    import hashlib

    key = _crypto.response_key("1234", "s3cr3t", "1700000000")
    assert key == hashlib.sha256(b"1234s3cr3t1700000000").digest() and len(key) == 32
    encrypted = _crypto.encrypt_response("{}", key)
    lz = _crypto.lz_compress("{}").encode()
    assert base64.b64decode(encrypted) == _crypto.aes_cbc_encrypt(key, key[:16], lz)


def test_a_response_decrypts_only_with_its_own_timestamp_and_secret() -> None:
    """The right key gives the text back; any other timestamp or secret fails cleanly, never with garbage."""
    text = json.dumps({"peserta": {"nama": "SITI AMINAH", "noKartu": "0001234567890"}})
    encrypted = _crypto.encrypt_response(text, _crypto.response_key("1234", "secret", "1700000000"))
    assert _crypto.decrypt_response(encrypted, _crypto.response_key("1234", "secret", "1700000000")) == text
    # Hundreds of wrong keys, so that some pass the PKCS#7 check by chance (about 1 in 256) and must fail later.
    wrong = [("1234", "secret", str(1700000000 + i)) for i in range(1, 600)] + [("1234", "Secret", "1700000000")]
    for cons_id, secret, timestamp in wrong:
        with pytest.raises(_crypto.DecryptionError):
            _crypto.decrypt_response(encrypted, _crypto.response_key(cons_id, secret, timestamp))


def test_decrypt_refuses_malformed_ciphertext() -> None:
    """Text that is not base64, or not whole AES blocks, is a DecryptionError."""
    key = _crypto.response_key("1", "2", "3")
    for junk in ("not base64!", base64.b64encode(b"short").decode(), ""):
        with pytest.raises(_crypto.DecryptionError):
            _crypto.decrypt_response(junk, key)


# --- lookups -------------------------------------------------------------------------------------


def test_lookup_by_card_returns_the_encrypted_participant(sandbox: httpx.Client) -> None:
    """A held card number gives metaData 200 and an encrypted {"peserta": {...}} with every documented field."""
    holder = _holder()
    peserta = _peserta(sandbox, "nokartu", holder.card_number)
    assert set(peserta) == PESERTA_KEYS
    assert (peserta["noKartu"], peserta["nik"], peserta["nama"]) == (holder.card_number, holder.nik, holder.name)
    assert peserta["sex"] in ("L", "P") and peserta["tglLahir"] == holder.birth_date.isoformat()
    assert peserta["statusPeserta"] == {"kode": "0", "keterangan": "AKTIF"}
    assert peserta["hakKelas"]["kode"] == str(holder.care_class)
    assert peserta["hakKelas"]["keterangan"] == ["KELAS I", "KELAS II", "KELAS III"][holder.care_class - 1]
    assert peserta["provUmum"] == {"kdProvider": holder.provider.code, "nmProvider": holder.provider.name}
    assert set(peserta["mr"]) == {"noMR", "noTelepon"}
    assert set(peserta["cob"]) == {"nmAsuransi", "noAsuransi", "tglTAT", "tglTMT"}
    assert AGE.match(peserta["umur"]["umurSaatPelayanan"]) and AGE.match(peserta["umur"]["umurSekarang"])


def test_lookup_by_nik_finds_the_same_participant(sandbox: httpx.Client) -> None:
    """By NIK and by card number the sandbox returns the same record."""
    holder = _holder()
    assert _peserta(sandbox, "nik", holder.nik) == _peserta(sandbox, "nokartu", holder.card_number)


def test_age_at_service_is_spelled_like_vclaim(sandbox: httpx.Client) -> None:
    """umurSaatPelayanan counts years, months and days to tglSEP, with the space before each comma."""
    holder = next(p for p in _data.participants() if p.ended_because is None and p.birth_date.day <= 28)
    day = _months_later(holder.birth_date, 12 * 40 + 1) + dt.timedelta(days=3)
    peserta = _peserta(sandbox, "nik", holder.nik, day.isoformat())
    assert peserta["umur"]["umurSaatPelayanan"] == "40 tahun ,1 bulan ,3 hari"


def _months_later(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + year, month + 1, day.day)


def test_status_is_judged_for_the_service_date(sandbox: httpx.Client) -> None:
    """An ended participant is AKTIF before tglTAT and not after; before tglTMT nobody is active yet."""
    ended = _holder(active=False)
    assert ended.ended_because is not None
    after = _peserta(sandbox, "nik", ended.nik, (ended.coverage_end + dt.timedelta(days=1)).isoformat())
    assert after["statusPeserta"] == {"kode": ended.ended_because.kode, "keterangan": ended.ended_because.keterangan}
    assert after["tglTAT"] == ended.coverage_end.isoformat()
    during = _peserta(sandbox, "nik", ended.nik, ended.coverage_end.isoformat())
    assert during["statusPeserta"]["kode"] == "0"
    before = _peserta(sandbox, "nik", ended.nik, (ended.coverage_start - dt.timedelta(days=1)).isoformat())
    assert before["statusPeserta"]["kode"] != "0"


def test_unknown_card_and_nik_are_code_201(sandbox: httpx.Client) -> None:
    """A card or NIK nobody holds gets HTTP 200, metaData 201 and a null response."""
    assert _failure(_get(sandbox, f"/Peserta/nokartu/{_data.NO_CARD_HOLDER}/tglSEP/{DAY}")) == CARD_NOT_FOUND
    assert _failure(_get(sandbox, f"/Peserta/nik/3328100101019999/tglSEP/{DAY}")) == NIK_NOT_FOUND


def test_malformed_card_or_date_is_code_201(sandbox: httpx.Client) -> None:
    """A card number that is not 13 digits, or a tglSEP not in yyyy-MM-dd, is refused with code 201."""
    assert _failure(_get(sandbox, f"/Peserta/nokartu/12345/tglSEP/{DAY}")) == BAD_CARD
    assert _failure(_get(sandbox, f"/Peserta/nokartu/{_holder().card_number}/tglSEP/02-06-2025")) == BAD_DATE


def test_unknown_resource_is_404(sandbox: httpx.Client) -> None:
    """A path under the base that VClaim does not serve is HTTP 404 with an envelope."""
    response = _get(sandbox, "/Rujukan/123")
    assert response.status_code == 404 and response.json()["metaData"]["code"] == "404"


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["X-cons-id", "X-timestamp", "X-signature", "user_key"])
def test_each_missing_header_is_refused(sandbox: httpx.Client, header: str) -> None:
    """Each of the four headers is required; the refusal names the missing one."""
    headers = _headers()
    del headers[header]
    assert _refused(_get(sandbox, f"/Peserta/nokartu/{_holder().card_number}/tglSEP/{DAY}", headers)) == (
        MISSING_HEADER.format(header)
    )


def test_unknown_consumer_is_refused(sandbox: httpx.Client) -> None:
    """A consumer id the gateway does not know is refused, whatever the signature."""
    headers = _headers(**{"X-cons-id": "9999"})
    assert _refused(_get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", headers)) == UNKNOWN_CONSUMER


def test_signature_made_with_another_secret_is_refused(sandbox: httpx.Client) -> None:
    """A signature computed with the wrong secret is refused."""
    headers = _headers(secret="another-secret")
    assert _refused(_get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", headers)) == BAD_SIGNATURE


def test_signature_of_another_timestamp_is_refused(sandbox: httpx.Client) -> None:
    """A signature is bound to its timestamp: replaying it with another timestamp is refused."""
    now = int(time.time())
    headers = {**_headers(str(now)), "X-timestamp": str(now - 1)}
    assert _refused(_get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", headers)) == BAD_SIGNATURE


def test_wrong_user_key_is_refused(sandbox: httpx.Client) -> None:
    """A correctly signed request with the wrong user_key is refused."""
    headers = _headers(user_key="another-key")
    assert _refused(_get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", headers)) == BAD_USER_KEY


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamp_too_far_from_the_clock_is_refused(sandbox: httpx.Client, offset: int) -> None:
    """A correctly signed timestamp more than 300 s in the past or future is refused."""
    headers = _headers(str(int(time.time()) + offset))
    assert _refused(_get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", headers)) == BAD_TIMESTAMP


def test_timestamp_must_be_digits(sandbox: httpx.Client) -> None:
    """An X-timestamp that is not Unix seconds in digits (an ISO date, milliseconds with a dot) is refused."""
    for stamp in ("2025-06-02T10:00:00Z", f"{time.time():.3f}"):
        headers = _headers(stamp)
        assert _refused(_get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", headers)) == BAD_TIMESTAMP


def test_tolerance_and_clock_are_configurable() -> None:
    """timestamp_tolerance narrows the window; clock_skew moves the sandbox's clock."""
    path = f"{BASE}/Peserta/nik/{_holder().nik}/tglSEP/{DAY}"
    with _serve(create_app(SandboxConfig(timestamp_tolerance=10))) as client:
        assert _refused(client.get(path, headers=_headers(str(int(time.time()) - 60)))) == BAD_TIMESTAMP
    with _serve(create_app(SandboxConfig(clock_skew=3600))) as client:
        assert _refused(client.get(path, headers=_headers())) == BAD_TIMESTAMP
        assert client.get(path, headers=_headers(str(int(time.time()) + 3600))).json()["metaData"]["code"] == "200"


def test_encryption_secret_makes_answers_undecryptable() -> None:
    """With encryption_secret set, a correctly signed request gets an answer the caller cannot decrypt."""
    with _serve(create_app(SandboxConfig(encryption_secret="rotated"))) as client:
        headers = _headers()
        body = client.get(f"{BASE}/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", headers=headers).json()
        assert body["metaData"]["code"] == "200"
        with pytest.raises(_crypto.DecryptionError):
            _crypto.decrypt_response(
                body["response"], _crypto.response_key(CONFIG.cons_id, CONFIG.secret, headers["X-timestamp"])
            )


def test_stats_count_every_agency_request(sandbox: httpx.Client) -> None:
    """The request counter counts lookups, refusals and unknown paths; reset zeroes it."""
    sandbox.post("/_sandbox/reset")
    _get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}")
    _get(sandbox, f"/Peserta/nik/{_holder().nik}/tglSEP/{DAY}", _headers(user_key="wrong"))
    _get(sandbox, "/Rujukan/1")
    assert sandbox.get("/_sandbox/stats").json() == {"requests": 3}
    sandbox.post("/_sandbox/reset")
    assert sandbox.get("/_sandbox/stats").json() == {"requests": 0}


# --- the participants ----------------------------------------------------------------------------


def test_about_nine_in_ten_residents_hold_a_card() -> None:
    """Between 85% and 95% of the synthetic residents are participants, each with their registry identity."""
    people = by_nik()
    share = len(_data.participants()) / len(residents())
    assert 0.85 <= share <= 0.95
    for p in _data.participants():
        resident = people[p.nik]
        assert (p.name, p.birth_date, p.female) == (resident.full_name, resident.birth_date, resident.sex == FEMALE)


def test_card_numbers_are_13_digits_and_unique() -> None:
    """Card numbers are 13-digit strings, unique, and the health probe's number is held by nobody."""
    cards = [p.card_number for p in _data.participants()]
    assert all(len(c) == 13 and c.isdigit() for c in cards)
    assert len(set(cards)) == len(cards) == len(_data.by_card())
    assert _data.NO_CARD_HOLDER not in _data.by_card()


def test_generation_is_deterministic() -> None:
    """The same seed gives the same participants on every call."""
    again = _data.participants.__wrapped__()
    assert again == _data.participants()


def test_statuses_classes_and_segments_are_realistic() -> None:
    """Most are active; the rest carry a reason; PBI is class III; classes 1-3; every segment appears."""
    everyone = _data.participants()
    ended = [p for p in everyone if p.ended_because is not None]
    assert 0.03 <= len(ended) / len(everyone) <= 0.2
    assert {p.ended_because.keterangan for p in ended if p.ended_because} >= {"TIDAK AKTIF KARENA PREMI", "MENINGGAL"}
    assert all(p.coverage_end <= REFERENCE_DATE and p.status_on(REFERENCE_DATE).kode != "0" for p in ended)
    segments = Counter(p.segment.keterangan for p in everyone)
    assert set(segments) == {
        "PBI (APBN)", "PBI (APBD)", "PEKERJA PENERIMA UPAH", "PEKERJA BUKAN PENERIMA UPAH", "BUKAN PEKERJA",
    }  # fmt: skip
    assert all(p.care_class == 3 for p in everyone if p.segment.keterangan.startswith("PBI"))
    assert {p.care_class for p in everyone} == {1, 2, 3}


def test_primary_care_is_a_puskesmas_of_the_home_regency() -> None:
    """Each participant's FKTP is a Tegal puskesmas in their family's regency, with a code shaped like 0138U020."""
    people = by_nik()
    for p in _data.participants():
        assert p.provider.name.startswith("PUSKESMAS ")
        assert re.fullmatch(r"\d{4}[A-Z]\d{3}", p.provider.code)
        assert p.provider.regency_code in (28, 76)
    heads = [p for p in _data.participants() if people[p.nik].family_relation == "KEPALA KELUARGA"]
    assert all(p.provider.regency_code == people[p.nik].regency_code for p in heads)


def test_samples_hold_cards_and_include_one_inactive() -> None:
    """Sample card numbers and NIKs are held; every sample card is active; one sample NIK is not."""
    picked = _data.sample_ids()
    assert all(_data.by_card()[c].ended_because is None for c in picked["card_number"])
    ended = [nik for nik in picked["nik"] if _data.by_nik()[nik].ended_because is not None]
    assert len(ended) == 1 and len(picked["nik"]) == len(picked["card_number"]) + 1
