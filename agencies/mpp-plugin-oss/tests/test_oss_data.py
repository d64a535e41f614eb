"""A cross-check in this repository: the sandbox's business owned by a Dukcapil sandbox resident names that
resident as the Dukcapil sandbox does (the OSS data copies the NIK and the name, so that this distribution does
not import the hub's synthetic residents)."""

from __future__ import annotations

from plugins._synthetic.residents import DEFAULT_SEED, by_nik

from mpp_plugin_oss import sandbox
from mpp_plugin_oss._data import BUSINESSES, DUKCAPIL_RESIDENT_NAME, DUKCAPIL_RESIDENT_NIK


def test_the_resident_s_nik_and_name_are_the_dukcapil_sandbox_s_at_its_default_seed() -> None:
    residents = by_nik(DEFAULT_SEED)
    assert min(residents) == DUKCAPIL_RESIDENT_NIK  # the resident the business permit's tests take
    assert residents[DUKCAPIL_RESIDENT_NIK].full_name == DUKCAPIL_RESIDENT_NAME


def test_the_resident_owns_a_sole_proprietorship_found_by_their_nik() -> None:
    (owned,) = [b for b in BUSINESSES if b["npwp_perseroan"] == DUKCAPIL_RESIDENT_NIK]
    assert owned["jenis_pelaku_usaha"] == "02" and owned["status_nib"] == "01"
    assert [p["no_identitas_penanggung_jwb"] for p in owned["penanggung_jwb"]] == [DUKCAPIL_RESIDENT_NIK]
    assert DUKCAPIL_RESIDENT_NIK in sandbox.sample_owner_niks()
