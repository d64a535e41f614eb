"""The sandbox's synthetic businesses, in OSS-RBA's own field names (a subset of inqueryNIB's ``dataNIB``).

Every NIB starts 999000000 and every name is visibly made up; the owners' NIKs are well-formed but synthetic
(one owner is a resident of the Dukcapil sandbox, so that a process can run across both sandboxes).
The fields the plugin does not read (capital, shareholders, RPTKA, checklists...) are left out.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUSINESSES", "DUKCAPIL_RESIDENT_NAME", "DUKCAPIL_RESIDENT_NIK"]

#: The Dukcapil sandbox's resident of the smallest NIK at its default seed, who owns the fourth business.
DUKCAPIL_RESIDENT_NIK = "3328010107960001"
DUKCAPIL_RESIDENT_NAME = "MUHAMMAD DAFFA PERMANA"


def _person(name: str, nik: str) -> dict[str, str]:
    return {
        "flag_asing": "N",
        "jns_identitas_penanggung_jwb": "01",
        "no_identitas_penanggung_jwb": nik,
        "nama_penanggung_jwb": name,
        "jabatan_penanggung_jwb": "Pemilik",
        "kebangsaan_penanggung_jwb": "ID",
    }


def _project(kbli: str | int, description: str, risk: str) -> dict[str, Any]:
    return {"id_proyek": f"R-SANDBOX-{kbli}", "kbli": kbli, "uraian_usaha": description, "skala_resiko": risk}


BUSINESSES: tuple[dict[str, Any], ...] = (
    {
        # A sole proprietor: the business is registered under the owner's name, and its NPWP is the owner's NIK.
        "nib": "9990000000013", "tgl_pengajuan_nib": "2023-02-01", "tgl_terbit_nib": "2023-02-01",
        "oss_id": "P-SANDBOX-0001", "jenis_pelaku_usaha": "02", "skala_usaha": "01", "status_penanaman_modal": "02",
        "npwp_perseroan": "3376016503880001", "nama_perseroan": "SRI CONTOH SANDBOX", "jenis_perseroan": "17",
        "alamat_perseroan": "JL. CONTOH NO. 1", "rt_rw_perseroan": "001/004", "kelurahan_perseroan": "KEJAMBON",
        "perseroan_daerah_id": "3376011001", "kode_pos_perseroan": "52131",
        "penanggung_jwb": [_person("SRI CONTOH SANDBOX", "3376016503880001")],
        "data_proyek": [
            _project("56102", "Warung makan contoh", "Rendah"),
            _project("47111", "Toko kelontong contoh", "Menengah Rendah"),
        ],
        "status_nib": "01", "tipe_dokumen": "9", "versi_pia": "4.3.22",
    },
    {
        # A limited company with a KBLI the wire carries as a number (01111, corn farming, as 1111).
        "nib": "9990000000021", "tgl_pengajuan_nib": "2021-08-10", "tgl_terbit_nib": "2021-08-12",
        "oss_id": "P-SANDBOX-0002", "jenis_pelaku_usaha": "01", "skala_usaha": "03", "status_penanaman_modal": "02",
        "npwp_perseroan": "0999000000000021", "nama_perseroan": "PT CONTOH SANDBOX SEJAHTERA", "jenis_perseroan": "01",
        "alamat_perseroan": "JL. PERCOBAAN RAYA NO. 21", "rt_rw_perseroan": "003/002",
        "kelurahan_perseroan": "MANGKUKUSUMAN", "perseroan_daerah_id": "3376031004", "kode_pos_perseroan": "52131",
        "penanggung_jwb": [_person("BUDI PERCOBAAN", "3376010507900001")],
        "data_proyek": [
            _project("10710", "Pabrik roti contoh", "Menengah Tinggi"),
            _project(1111, "Kebun jagung contoh", "Tinggi"),
        ],
        "status_nib": "04", "tipe_dokumen": "5", "versi_pia": "4.3.22",
    },
    {
        # A partnership whose NIB is suspended.
        "nib": "9990000000039", "tgl_pengajuan_nib": "2022-05-20", "tgl_terbit_nib": "2022-05-20",
        "oss_id": "P-SANDBOX-0003", "jenis_pelaku_usaha": "01", "skala_usaha": "02", "status_penanaman_modal": "02",
        "npwp_perseroan": "0999000000000039", "nama_perseroan": "CV CONTOH SANDBOX MAJU", "jenis_perseroan": "02",
        "alamat_perseroan": "JL. FIKTIF NO. 39", "rt_rw_perseroan": "", "kelurahan_perseroan": "",
        "perseroan_daerah_id": "3376", "kode_pos_perseroan": "",
        "penanggung_jwb": [_person("ANI FIKTIF", "3376014404950002")],
        "data_proyek": [_project("49431", "Angkutan barang contoh", "")],
        "status_nib": "05", "tipe_dokumen": "5", "versi_pia": "4.3.22",
    },
    {
        # A sole proprietorship of MUHAMMAD DAFFA PERMANA, the Dukcapil sandbox's resident of the smallest NIK at
        # its default seed (plugins._synthetic.residents), so that a process can verify the owner at Dukcapil
        # and find their business here. Copied, not imported: this distribution does not depend on the hub's
        # sandbox data; tests/test_oss_data.py fails if the two drift apart.
        "nib": "9990000000985", "tgl_pengajuan_nib": "2024-01-15", "tgl_terbit_nib": "2024-01-15",
        "oss_id": "P-SANDBOX-0004", "jenis_pelaku_usaha": "02", "skala_usaha": "01", "status_penanaman_modal": "02",
        "npwp_perseroan": DUKCAPIL_RESIDENT_NIK, "nama_perseroan": f"WARUNG {DUKCAPIL_RESIDENT_NAME} SANDBOX",
        "jenis_perseroan": "17", "alamat_perseroan": "JL. RAYA KALISALAK NO. 9", "rt_rw_perseroan": "006/003",
        "kelurahan_perseroan": "KALISALAK", "perseroan_daerah_id": "3328012002", "kode_pos_perseroan": "52463",
        "penanggung_jwb": [_person(DUKCAPIL_RESIDENT_NAME, DUKCAPIL_RESIDENT_NIK)],
        "data_proyek": [_project("56102", "Warung makan contoh", "Rendah")],
        "status_nib": "01", "tipe_dokumen": "9", "versi_pia": "4.3.22",
    },
)  # fmt: skip
