"""The Samsat sandbox over real HTTP, and the rules its synthetic vehicles and bills must obey."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from contracts import normalise_plate
from plugins._synthetic import residents as _population
from plugins._synthetic.residents import by_nik, residents
from plugins.samsat import _data
from plugins.samsat.sandbox import (
    KBM_PATH,
    NIK_PATH,
    PAJAK_PATH,
    PAYMENT_PATH,
    WIB,
    SandboxConfig,
    create_app,
    sign,
)
from tests._servers import serving

TODAY = dt.date(2025, 6, 15)
CONFIG = SandboxConfig(today=TODAY)
SAMPLES = _data.samples()
OVERDUE, PAID, DUE, OVERDUE_3 = SAMPLES["plate"]
UNKNOWN_PLATE = "G 1 ZZZ"
DATE = re.compile(r"^\d{2}-\d{2}-\d{4}$")
AMOUNT_KEYS = ("pkb_pokok", "pkb_denda", "jr_pokok", "jr_denda", "total")


@contextmanager
def _serve(app: Starlette) -> Iterator[httpx.Client]:
    with serving(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def server() -> Iterator[httpx.Client]:
    with _serve(create_app(CONFIG)) as http:
        yield http


@pytest.fixture
def sandbox(server: httpx.Client) -> httpx.Client:
    """The module's sandbox, its payments and counters forgotten before each test."""
    assert server.post("/_sandbox/reset").status_code == 200
    return server


def _now_req(shift: float = 0) -> str:
    return (dt.datetime.now(WIB) + dt.timedelta(seconds=shift)).strftime("%Y%m%d%H%M%S")


def _parts(plate: str) -> dict[str, str]:
    letters, digits, *suffix = plate.split(" ")
    return {"na": letters, "nb": digits, "nc": suffix[0] if suffix else ""}


def _call(
    client: httpx.Client,
    path: str,
    fields: dict[str, Any],
    signed: Sequence[str],
    *,
    secret: str = CONFIG.secret,
    **overrides: Any,
) -> dict[str, Any]:
    req = _now_req()
    body = {**fields, "req": req, "key": CONFIG.key_id, "token": sign(secret, CONFIG.key_id, signed, req)}
    response = client.post(path, json={**body, **overrides})
    assert response.status_code == 200
    reply: dict[str, Any] = response.json()
    return reply


def _kbm(client: httpx.Client, plate: str) -> dict[str, Any]:
    parts = _parts(plate)
    return _call(client, KBM_PATH, parts, list(parts.values()))


def _pajak(client: httpx.Client, plate: str, noka: str | None = None) -> dict[str, Any]:
    parts = _parts(plate)
    fields = {**parts, "noka": _data.by_plate()[plate].chassis if noka is None else noka}
    return _call(client, PAJAK_PATH, fields, list(parts.values()))


def _pay(client: httpx.Client, plate: str, code: str, amount: int, reference: str) -> dict[str, Any]:
    fields = {**_parts(plate), "kode_bayar": code, "nobb": reference, "jumlah": amount, "dt": "20250615101500"}
    signed = [*_parts(plate).values(), code, reference, str(amount), "20250615101500"]
    return _call(client, PAYMENT_PATH, fields, signed)


# --- vehicle and tax detail ----------------------------------------------------------------------


def test_vehicle_record_speaks_sakpole(sandbox: httpx.Client) -> None:
    """The vehicle reply is flat: Status "000", integer amounts, DD-MM-YYYY dates, BELUM LUNAS when owed."""
    vehicle = _data.by_plate()[OVERDUE]
    reply = _kbm(sandbox, OVERDUE)
    assert reply["Status"] == "000"
    assert (reply["na"], reply["nb"], reply["nc"]) == vehicle.plate_parts
    assert (reply["merek"], reply["tipe"], reply["noka"]) == (vehicle.model.brand, vehicle.model.name, vehicle.chassis)
    assert reply["status_pajak"] == "BELUM LUNAS"
    assert DATE.match(reply["tgl_jatuh_tempo"]) and DATE.match(reply["tgl_stnk"])
    assert all(type(reply[key]) is int for key in AMOUNT_KEYS)
    assert reply["pkb_denda"] > 0 and reply["jr_denda"] > 0


def test_paid_up_vehicle_owes_nothing(sandbox: httpx.Client) -> None:
    """A paid-up vehicle is LUNAS, with every amount 0 and no rincian line."""
    assert _kbm(sandbox, PAID)["status_pajak"] == "LUNAS"
    reply = _pajak(sandbox, PAID)
    assert reply["sts_pajak"] == "LUNAS" and reply["total"] == 0 and reply["rincian"] == []
    assert reply["tgl_jatuh_tempo"] == reply["tgl_jatuh_tempo_baru"]


def test_tax_detail_has_a_rincian_line_per_year_and_consistent_totals(sandbox: httpx.Client) -> None:
    """Three years in arrears are three late rincian lines; each total is the sum of its parts."""
    reply = _pajak(sandbox, OVERDUE_3)
    lines = reply["rincian"]
    assert reply["Status"] == "000" and reply["th_tgk"] == 3
    assert [line["terlambat"] for line in lines].count("YA") == 3
    assert lines[0]["lama_tunggakan"] == 24  # the penalty stops at 24 months
    for total, part in (
        ("total_pkb_prov", "pokok_pkb"), ("total_pkb_denda_prov", "denda_pkb"), ("total_pkb_opsen", "pokok_pkb_opsen"),
        ("total_pkb_denda_opsen", "denda_pkb_opsen"), ("total_jr_pokok", "pokok_jr"), ("total_jr_denda", "denda_jr"),
        ("pnbp", "pnbp"), ("total", "total"),
    ):  # fmt: skip
        assert reply[total] == sum(line[part] for line in lines), total
    assert reply["total"] == reply["jumlah_pkb"] + reply["jumlah_jr"] + reply["pnbp"]
    assert reply["jumlah_pkb"] == reply["total_pkb_prov"] + reply["total_pkb_opsen"] + reply["total_pkb_denda"]
    assert reply["nik_pemilik"] == _data.by_plate()[OVERDUE_3].owner_nik


def test_pkb_opsen_and_swdkllj_follow_the_tariffs(sandbox: httpx.Client) -> None:
    """PKB = NJKB x bobot x 1.05%, opsen = 66% of PKB (both to Rp100), SWDKLLJ by class."""
    vehicle = _data.by_plate()[DUE]
    [line] = _pajak(sandbox, DUE)["rincian"]
    pkb = Decimal(_data.njkb(vehicle.model, vehicle.year_made)) * Decimal("0.0105")
    assert abs(line["pokok_pkb"] - pkb) <= 50 and line["pokok_pkb"] % 100 == 0
    assert abs(line["pokok_pkb_opsen"] - line["pokok_pkb"] * Decimal("0.66")) <= 50
    assert line["pokok_jr"] == 35_000 and line["denda_jr"] == line["denda_pkb"] == 0
    assert line["terlambat"] == "TIDAK"


def test_admin_fees_only_when_the_stnk_is_renewed() -> None:
    """STNK and plate fees are billed in the five-yearly renewal year only."""
    for vehicle in _data.vehicles()[:200]:
        due = _data.first_due_date(vehicle, TODAY)
        bill = _data.assess(vehicle, due, _data.first_stnk_date(vehicle, TODAY), TODAY)
        renewal = _data.add_years(due, vehicle.stnk_years)
        for period in bill.periods:
            assert bool(period.admin_fees) == (period.start == renewal), vehicle.plate


def test_penalties_grow_with_today_up_to_24_months() -> None:
    """The same bill judged later has more penalty months, never more than 24 per year."""
    vehicle = _data.by_plate()[OVERDUE]
    due, stnk = _data.first_due_date(vehicle, TODAY), _data.first_stnk_date(vehicle, TODAY)
    months = [_data.assess(vehicle, due, stnk, TODAY + dt.timedelta(days=d)).periods[0].months_late for d in (0, 60)]
    assert months[1] == months[0] + 2
    late = _data.assess(vehicle, due, stnk, TODAY + dt.timedelta(days=5 * 365))
    assert max(p.months_late for p in late.periods) == 24


def test_pajak_needs_the_right_chassis_number(sandbox: httpx.Client) -> None:
    """Without noka the tax detail answers 6001 "Silahkan update aplikasi"; a wrong noka finds nothing."""
    missing = _pajak(sandbox, OVERDUE, noka="")
    assert (missing["Status"], missing["Msg"]) == ("6001", "Silahkan update aplikasi")
    assert _pajak(sandbox, OVERDUE, noka="MH1XXXXXXXXXXXXXX")["Status"] == "99999"


def test_unknown_plate_is_99999(sandbox: httpx.Client) -> None:
    """A plate Samsat does not hold answers Status 99999 with HTTP 200."""
    assert _kbm(sandbox, UNKNOWN_PLATE)["Status"] == "99999"
    assert _pajak(sandbox, UNKNOWN_PLATE, noka="X")["Status"] == "99999"


# --- partner authentication ----------------------------------------------------------------------


def test_token_is_hmac_sha256_of_key_fields_and_time() -> None:
    """The token is hex HMAC-SHA256 of ``key|fields|req`` under the secret."""
    expected = hmac.new(b"s3cret", b"K1|G|1234|AB|20250615101500", hashlib.sha256).hexdigest()
    assert sign("s3cret", "K1", ["G", "1234", "AB"], "20250615101500") == expected


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"token": ""}, "499"),
        ({"req": ""}, "499"),
        ({"key": "SOMEONE-ELSE"}, "497"),
        ({"token": "0" * 64}, "498"),
        ({"nb": "4321"}, "498"),  # a field changed after signing
    ],
    ids=["no-token", "no-time", "unknown-key", "bad-token", "tampered"],
)
def test_partner_refusals(sandbox: httpx.Client, overrides: dict[str, str], status: str) -> None:
    """Missing token or time is 499, an unknown key 497, a token that does not verify 498."""
    parts = _parts(OVERDUE)
    assert _call(sandbox, KBM_PATH, parts, list(parts.values()), **overrides)["Status"] == status


def test_wrong_secret_and_stale_time_are_refused(sandbox: httpx.Client) -> None:
    """A token under another secret is 498; a correctly signed but 10-minute-old request is 496."""
    parts = _parts(OVERDUE)
    assert _call(sandbox, KBM_PATH, parts, list(parts.values()), secret="other")["Status"] == "498"
    old = _now_req(-600)
    token = sign(CONFIG.secret, CONFIG.key_id, list(parts.values()), old)
    stale = {**parts, "req": old, "key": CONFIG.key_id, "token": token}
    assert sandbox.post(KBM_PATH, json=stale).json()["Status"] == "496"


def test_body_that_is_not_a_json_object_is_http_400(sandbox: httpx.Client) -> None:
    """A body that is not a JSON object is HTTP 400; an unknown path is 404."""
    assert sandbox.post(KBM_PATH, content=b"[1, 2]").status_code == 400
    assert sandbox.post("/info/kendaraan/api/unknown", json={}).status_code == 404


# --- vehicles by owner ---------------------------------------------------------------------------


def test_vehicles_by_nik_lists_every_vehicle_or_none(sandbox: httpx.Client) -> None:
    """An owner's NIK lists each vehicle record; a NIK with no vehicle is an empty list, not 99999."""
    owner = next(nik for nik, owned in _data.by_owner().items() if len(owned) == 2)
    reply = _call(sandbox, NIK_PATH, {"nik": owner}, [owner])
    assert reply["Status"] == "000" and reply["jumlah"] == 2
    assert {f"{v['na']} {v['nb']} {v['nc']}" for v in reply["kendaraan"]} == {v.plate for v in _data.by_owner()[owner]}
    nobody = _data.owners_without_vehicles()[0]
    assert _call(sandbox, NIK_PATH, {"nik": nobody}, [nobody])["kendaraan"] == []
    assert _call(sandbox, NIK_PATH, {"nik": "123"}, ["123"])["Status"] == "400"


# --- payments ------------------------------------------------------------------------------------


def test_payment_moves_the_due_date_and_a_repeat_echoes_the_receipt(sandbox: httpx.Client) -> None:
    """A payment of the bill's total under its code is recorded once; the same nobb again answers 094, same receipt."""
    bill = _pajak(sandbox, OVERDUE)
    first = _pay(sandbox, OVERDUE, bill["kode_bayar"], bill["total"], "BANK-REF-1")
    assert first["Status"] == "000" and first["tgl_jatuh_tempo_baru"] == bill["tgl_jatuh_tempo_baru"]
    after = _kbm(sandbox, OVERDUE)
    assert after["status_pajak"] == "LUNAS" and after["tgl_jatuh_tempo"] == bill["tgl_jatuh_tempo_baru"]
    again = _pay(sandbox, OVERDUE, bill["kode_bayar"], bill["total"], "BANK-REF-1")
    assert again["Status"] == "094"
    assert {k: v for k, v in again.items() if k not in ("Status", "Msg")} == {
        k: v for k, v in first.items() if k not in ("Status", "Msg")
    }
    assert _kbm(sandbox, OVERDUE) == after


def test_payment_refusals(sandbox: httpx.Client) -> None:
    """Reused nobb 6101, wrong amount 6102 (with the bill's total), stale code 6103, paid up 6104."""
    bill = _pajak(sandbox, OVERDUE)
    code, total = bill["kode_bayar"], bill["total"]
    wrong = _pay(sandbox, OVERDUE, code, total - 100, "REF-A")
    assert (wrong["Status"], wrong["tagihan"]) == ("6102", total)
    assert _pay(sandbox, OVERDUE, "3300000000000000", total, "REF-A")["Status"] == "6103"
    assert _pay(sandbox, OVERDUE, code, total, "REF-A")["Status"] == "000"
    assert _pay(sandbox, OVERDUE, code, total + 1, "REF-A")["Status"] == "6101"
    assert _pay(sandbox, DUE, code, total, "REF-A")["Status"] == "6101"
    assert _pay(sandbox, OVERDUE, code, total, "REF-B")["Status"] == "6104"
    due = _pajak(sandbox, DUE)
    assert _pay(sandbox, DUE, due["kode_bayar"], due["total"], "REF-C")["Status"] == "000"
    assert _pay(sandbox, UNKNOWN_PLATE, code, total, "REF-D")["Status"] == "99999"


def test_reset_forgets_payments_and_stats_count_every_request(sandbox: httpx.Client) -> None:
    """Stats count agency calls, refused ones included; reset restores the starting standings."""
    bill = _pajak(sandbox, DUE)
    _pay(sandbox, DUE, bill["kode_bayar"], bill["total"], "REF-RESET")
    _kbm(sandbox, DUE)
    parts = _parts(DUE)
    _call(sandbox, KBM_PATH, parts, list(parts.values()), token="bad")
    assert sandbox.get("/_sandbox/stats").json() == {"requests": 4, "payments": {"REF-RESET": DUE}}
    sandbox.post("/_sandbox/reset")
    assert sandbox.get("/_sandbox/stats").json() == {"requests": 0, "payments": {}}
    assert _pajak(sandbox, DUE)["kode_bayar"] == bill["kode_bayar"]


def test_injected_today_makes_bills_deterministic() -> None:
    """Two sandboxes with the same "today" bill the same amounts under the same code."""
    with _serve(create_app(CONFIG)) as one, _serve(create_app(SandboxConfig(today=TODAY))) as two:
        assert _pajak(one, OVERDUE_3) == _pajak(two, OVERDUE_3)


# --- the vehicles --------------------------------------------------------------------------------


def _age(born: dt.date) -> int:
    on = _population.REFERENCE_DATE
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_ownership_shares_are_plausible() -> None:
    """About 40-50% of adults own a motorcycle, 12-18% a car or pick-up, and a few own two vehicles."""
    adults = [r for r in residents() if _age(r.birth_date) >= 17]
    owned = _data.by_owner()
    classes = {nik: Counter(v.model.vehicle_class for v in owned.get(nik, ())) for nik in (r.nik for r in adults)}
    riders = sum(1 for c in classes.values() if c[_data.Class.MOTORCYCLE])
    drivers = sum(1 for c in classes.values() if c[_data.Class.CAR] or c[_data.Class.PICKUP])
    assert 0.40 <= riders / len(adults) <= 0.50
    assert 0.12 <= drivers / len(adults) <= 0.18
    assert 0.03 <= sum(1 for o in owned.values() if len(o) >= 2) / len(adults) <= 0.15


def test_plates_are_unique_normalised_tegal_plates() -> None:
    """Every plate is unique, already normalised, starts with G and carries its regency's suffix letter."""
    plates = [v.plate for v in _data.vehicles()]
    assert len(plates) == len(set(plates))
    for vehicle in _data.vehicles():
        assert normalise_plate(vehicle.plate) == vehicle.plate and vehicle.plate.startswith("G ")
        regency = by_nik()[vehicle.owner_nik].regency_code
        assert vehicle.plate_parts[2][0] in {28: "FPY", 76: "ENX"}[regency]


def test_standings_are_spread() -> None:
    """Vehicles are paid, due soon, and overdue by one to three years."""
    standings = Counter((v.standing, v.years_overdue) for v in _data.vehicles())
    assert set(standings) == {
        (_data.Standing.PAID, 0), (_data.Standing.DUE, 0), (_data.Standing.OVERDUE, 1),
        (_data.Standing.OVERDUE, 2), (_data.Standing.OVERDUE, 3),
    }  # fmt: skip
    assert standings[(_data.Standing.PAID, 0)] > len(_data.vehicles()) / 3


def test_generation_is_deterministic() -> None:
    """The vehicles are a pure function of the residents: regenerating gives the same ones."""
    _data.vehicles.cache_clear()
    _data.by_plate.cache_clear()
    _data.by_owner.cache_clear()
    assert _data.samples() == SAMPLES
