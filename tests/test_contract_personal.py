from __future__ import annotations

import datetime as dt

from contracts import OPERATIONS, PersonalData, Resident, mask_model, mask_text, personal_fields

RESIDENT = Resident.model_validate(
    {
        "nik": "3328104505900001",
        "kk_number": "3328101203150007",
        "full_name": "SRI WAHYUNI",
        "birth_place": "TEGAL",
        "birth_date": "1990-05-05",
        "sex": "female",
        "blood_type": "O",
        "address": {
            "street": "JL. MAWAR NO. 12",
            "rt": "005",
            "rw": "002",
            "village": {"code": "33.28.10.2001", "name": "PROCOT"},
            "district": {"code": "33.28.10", "name": "SLAWI"},
            "regency": {"code": "33.28", "name": "KAB. TEGAL"},
            "province": {"code": "33", "name": "JAWA TENGAH"},
        },
    }
)


def test_masking_follows_the_contract_markers() -> None:
    """Every personal field is masked by its own rule; the rest is left readable."""
    masked = mask_model(RESIDENT)
    assert masked["nik"] == "3328**********01"
    assert masked["kk_number"] == "3328**********07"
    assert masked["full_name"] == "S** W******"
    assert masked["birth_date"] == "***"
    assert masked["blood_type"] == "***"
    assert masked["address"]["street"] == "***"
    assert masked["address"]["village"] == "***"
    assert masked["address"]["district"] == {"code": "33.28.10", "name": "SLAWI"}
    assert masked["sex"] == "female"
    assert "SRI" not in str(masked) and "1990-05-05" not in str(masked)


def test_json_schema_carries_the_markers() -> None:
    """Portals in other languages learn the personal-data rule from the exported schema."""
    props = Resident.model_json_schema()["properties"]
    assert props["nik"]["x-personal-data"] == "nik"
    assert props["nik"]["x-mask"] == "keep:4:2"
    assert props["full_name"]["x-mask"] == "initials"
    assert "x-personal-data" not in props["sex"]


def test_personal_fields_are_collected_from_every_operation() -> None:
    """The set of personal keys comes from the contract, nested models included."""
    found = personal_fields([m for op in OPERATIONS for m in (op.input, op.output)])
    assert {"nik", "kk_number", "full_name", "birth_date", "street", "rt", "village"} <= found.keys()
    assert found["nik"].category is PersonalData.NIK
    assert "name" not in found and "code" not in found  # region names are public


def test_free_text_masks_nik_like_numbers() -> None:
    """A NIK or a 13-digit card number inside free text is masked; other numbers are left alone."""
    assert mask_text("NIK 3328104505900001 tidak ditemukan, RT 005") == "NIK 3328**********01 tidak ditemukan, RT 005"
    assert mask_text("No.Kartu 0002880992529 / 12345678901234") == "No.Kartu 0002*******29 / 12345678901234"


def test_dates_mask_like_strings() -> None:
    """Non-string personal values (dates) are masked too, not passed through."""
    assert mask_model(RESIDENT.model_copy(update={"birth_date": dt.date(2001, 1, 1)}))["birth_date"] == "***"
