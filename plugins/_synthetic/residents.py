"""Deterministic synthetic residents of Kabupaten Tegal and Kota Tegal for the Dukcapil sandbox.

Nobody here is real: names, addresses, NIKs and KK numbers come out of ``random.Random(seed)``.
Province, regency and district (kecamatan) codes and names follow Kemendagri. Village names are
real where known and plausible Javanese ones otherwise; every village code is synthetic.
Ages, marital status and occupations are consistent as of ``REFERENCE_DATE``, never the clock,
so the same seed gives the same population on every run.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "DEFAULT_SEED",
    "DISTRICTS",
    "FEMALE",
    "MALE",
    "PROVINCE_CODE",
    "PROVINCE_NAME",
    "REFERENCE_DATE",
    "District",
    "Resident",
    "Village",
    "by_kk",
    "by_nik",
    "kk_samples",
    "residents",
    "samples",
]

DEFAULT_SEED = 3328
REFERENCE_DATE = dt.date(2025, 1, 1)
PROVINCE_CODE = 33
PROVINCE_NAME = "JAWA TENGAH"
MALE = "LAKI-LAKI"
FEMALE = "PEREMPUAN"

HEAD = "KEPALA KELUARGA"
WIFE = "ISTRI"
CHILD = "ANAK"
SINGLE = "BELUM KAWIN"
MARRIED = "KAWIN"
DIVORCED = "CERAI HIDUP"
WIDOWED = "CERAI MATI"

_TARGET_RESIDENTS = 1300
_EARLIEST_BIRTH = dt.date(1940, 1, 1)
_LATEST_BIRTH = dt.date(2008, 12, 31)
# Children born earlier than this have left to found their own family (and their own KK).
_OLDEST_CHILD_AT_HOME = dt.date(1989, 1, 1)
_REGENCY_NAMES = {28: "KAB. TEGAL", 76: "KOTA TEGAL"}


@dataclass(frozen=True, slots=True)
class Village:
    code: int
    name: str


@dataclass(frozen=True, slots=True)
class District:
    regency_code: int
    code: int
    name: str
    villages: tuple[Village, ...]
    coastal: bool

    @property
    def regency_name(self) -> str:
        return _REGENCY_NAMES[self.regency_code]

    @property
    def region_code(self) -> str:
        """The six digits ``PPKKCC`` that open a NIK or KK number registered here."""
        return f"{PROVINCE_CODE:02d}{self.regency_code:02d}{self.code:02d}"

    @property
    def urban(self) -> bool:
        return _is_urban(self.regency_code, self.name)


def _is_urban(regency_code: int, district_name: str) -> bool:
    # Kota Tegal and Slawi (the regency seat) are made of kelurahan, not desa.
    return regency_code == 76 or district_name == "SLAWI"


_COASTAL = frozenset({"KRAMAT", "SURADADI", "WARUREJA", "TEGAL TIMUR", "TEGAL BARAT", "MARGADANA"})

_DISTRICT_TABLE: tuple[tuple[int, int, str, tuple[str, ...]], ...] = (
    (28, 1, "MARGASARI", ("MARGASARI", "KALISALAK", "JATILABA", "PRUPUK UTARA", "KARANGDAWA")),
    (28, 2, "BUMIJAWA", ("BUMIJAWA", "GUCI", "SIGEDONG", "BATUMIRAH", "CEMPAKA")),
    (28, 3, "BOJONG", ("BOJONG", "TUWEL", "REMBUL", "KAJENENGAN")),
    (28, 4, "BALAPULANG", ("BALAPULANG KULON", "BALAPULANG WETAN", "CENGGINI", "DANAWARIH")),
    (28, 5, "PAGERBARANG", ("PAGERBARANG", "JATIWANGI", "RANDUSARI", "SEMBOJA")),
    (28, 6, "LEBAKSIU", ("LEBAKSIU LOR", "LEBAKSIU KIDUL", "YAMANSARI", "KAJEN", "DUKUHDAMU")),
    (28, 7, "JATINEGARA", ("JATINEGARA", "CAPAR", "LEBAKWANGI", "WOTGALIH")),
    (28, 8, "KEDUNGBANTENG", ("KEDUNGBANTENG", "PENUJAH", "SEMEDO", "KARANGANYAR")),
    (28, 9, "PANGKAH", ("PANGKAH", "DEPOK", "CURUG", "PENUSUPAN", "GROBOG WETAN")),
    (28, 10, "SLAWI", ("SLAWI KULON", "SLAWI WETAN", "KAGOK", "PROCOT", "KUDAILE")),
    (28, 11, "ADIWERNA", ("ADIWERNA", "UJUNGRUSI", "PAGIYANTEN", "LEMAHDUWUR", "KALIMATI")),
    (28, 12, "TALANG", ("TALANG", "PESAYANGAN", "KAJEN", "PACUL", "DAWUHAN")),
    (28, 13, "DUKUHTURI", ("DUKUHTURI", "PENGABEAN", "SUTAPRANAN", "KUPU")),
    (28, 14, "TARUB", ("TARUB", "KABUKAN", "MINDAKA", "SETU", "KEDOKAN SAYANG")),
    (28, 15, "KRAMAT", ("KRAMAT", "BABAKAN", "DINUK", "MEJASEM BARAT", "MEJASEM TIMUR")),
    (28, 16, "SURADADI", ("SURADADI", "BOJONGSANA", "JATIBOGOR", "PURWAHAMBA", "SIDAHARJA")),
    (28, 17, "WARUREJA", ("WARUREJA", "KEDUNGJATI", "KEDUNGKELOR", "DEMANGHARJO")),
    (28, 18, "DUKUHWARU", ("DUKUHWARU", "BLUBUK", "GUMAYUN", "SLARANG LOR", "KALISOKA")),
    (76, 1, "TEGAL SELATAN", ("BANDUNG", "DEBONG KIDUL", "KALINYAMAT KULON", "RANDUGUNTING", "TUNON")),
    (76, 2, "TEGAL TIMUR", ("KEJAMBON", "MANGKUKUSUMAN", "MINTARAGEN", "PANGGUNG", "SLEROK")),
    (76, 3, "TEGAL BARAT", ("KRATON", "MUARAREJA", "PEKAUMAN", "TEGALSARI", "PESURUNGAN KIDUL")),
    (76, 4, "MARGADANA", ("MARGADANA", "KALIGANGSA", "KRANDON", "CABAWAN", "SUMURPANGGANG")),
)


def _district(regency: int, code: int, name: str, villages: tuple[str, ...]) -> District:
    # Kemendagri numbers kelurahan from 1001 and desa from 2001 within a district.
    first = 1001 if _is_urban(regency, name) else 2001
    coded = tuple(Village(first + i, village) for i, village in enumerate(villages))
    return District(regency, code, name, coded, name in _COASTAL)


DISTRICTS: tuple[District, ...] = tuple(_district(*row) for row in _DISTRICT_TABLE)


@dataclass(frozen=True, slots=True)
class Resident:
    """One resident as the civil registry holds them (upper-case text, like Dukcapil)."""

    nik: str
    kk: str
    full_name: str
    sex: str
    birth_place: str
    birth_date: dt.date
    birth_cert_no: str | None
    blood_type: str
    religion: str
    marital_status: str
    marriage_date: dt.date | None
    marriage_cert_no: str | None
    divorce_date: dt.date | None
    divorce_cert_no: str | None
    education: str
    occupation: str
    family_relation: str
    street: str
    dusun: str | None
    rt: int
    rw: int
    province_code: int
    province_name: str
    regency_code: int
    regency_name: str
    district_code: int
    district_name: str
    village_code: int
    village_name: str
    father_nik: str | None
    father_name: str | None
    mother_nik: str | None
    mother_name: str | None


# --- names ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _NamePool:
    firsts: tuple[str, ...]
    seconds: tuple[str, ...] = ()
    second_odds: float = 0.0
    prefixes: tuple[str, ...] = ()
    prefix_odds: float = 0.0

    def draw(self, rng: random.Random) -> str:
        first = rng.choice(self.firsts)
        parts = [first]
        if self.prefixes and rng.random() < self.prefix_odds:
            parts.insert(0, rng.choice(self.prefixes))
        if self.seconds and rng.random() < self.second_odds:
            second = rng.choice(self.seconds)
            if second != first:
                parts.append(second)
        return " ".join(parts)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


# Tegal names of the older generation are often single words starting with C, K, R, T or W.
_JAVANESE: dict[tuple[str, int], _NamePool] = {
    (MALE, 0): _NamePool(
        _words(
            "SLAMET,SUTRISNO,TARMUDI,WARSITO,KASMADI,RASIMAN,CASMADI,DARSONO,SUGENG,TARSONO,"
            "SUPRIYADI,WARYONO,KARSIDI,RASTO,DASMIRI,SUNARTO,MUSTOFA,TASLIM,SAKIRIN,WASDI,SUKIRNO,"
            "TARJO,KASDI,WARTONO"
        ),
        _words("RIYADI,SUBEKHI,HARYANTO,WIBOWO,HADI,MULYONO,SANTOSO,PRAYITNO"),
        0.25,
        _words("MUHAMMAD,AHMAD,ABDUL"),
        0.1,
    ),
    (FEMALE, 0): _NamePool(
        _words(
            "WARSINAH,CASMINAH,TARSIH,KASNIAH,SUMIATI,RUSMINI,DARSIH,KARSINI,TURINAH,SAMINAH,"
            "RASINAH,WATINI,KHOTIMAH,MUNAWAROH,SUKAESIH,TASWINAH,AMINAH,SARTINI,KASTINAH,WARSIH"
        ),
        prefixes=_words("SITI,SRI"),
        prefix_odds=0.25,
    ),
    (MALE, 1): _NamePool(
        _words(
            "AGUS,BUDI,EKO,ARIF,DWI,HERU,ADI,RUDI,TEGUH,FAJAR,DEDI,WAHYU,TRI,IMAM,ANDI,SUGIYANTO,"
            "KHAERUL,YUSUF,SAIFUL,ROKHMAN,HENDRO,JOKO,BAMBANG,TOTO"
        ),
        _words(
            "SETIAWAN,SANTOSO,PRASETYO,RAHMAN,CAHYONO,PURNOMO,NUGROHO,HARTONO,WIBOWO,ARIFIN,"
            "HIDAYAT,KURNIAWAN,SUSANTO,SAPUTRO,FIRMANSYAH,ANWAR"
        ),
        0.6,
        _words("MUHAMMAD,AHMAD"),
        0.2,
    ),
    (FEMALE, 1): _NamePool(
        _words(
            "WAHYUNI,LESTARI,HIDAYAH,ENDANG,RATNA,KHOLIFAH,TITIN,YULI,LINA,RINA,ETI,FITRI,"
            "MAEMUNAH,ROHMAH,KHASANAH,MULYANI,ASIH,TUTI"
        ),
        _words("ASTUTI,SUSANTI,HANDAYANI,MARLINA,WATI,SUPRIHATIN,KUSUMAWATI,RAHAYU,ANGGRAENI"),
        0.35,
        _words("SITI,SRI"),
        0.3,
    ),
    (MALE, 2): _NamePool(
        _words(
            "RIZKI,FAUZAN,DIMAS,ADITYA,BAGUS,FAHMI,ILHAM,NAUFAL,REZA,YOGA,ARYA,FIKRI,GILANG,HAFIZ,"
            "RAFI,DAFFA,ALIF,FARHAN,BAYU,RIDHO"
        ),
        _words(
            "PRATAMA,SAPUTRA,MAULANA,RAMADHAN,HAKIM,ARDIANSYAH,WICAKSANA,HAIKAL,PERMANA,ALFARIZI,"
            "FIRDAUS,NUGRAHA,SYAHPUTRA,IRAWAN"
        ),
        0.7,
        _words("MUHAMMAD,AHMAD"),
        0.35,
    ),
    (FEMALE, 2): _NamePool(
        _words(
            "NAYLA,AULIA,ZAHRA,SALSABILA,DINDA,ANISA,NABILA,PUTRI,AYU,INDAH,RIZKA,SYIFA,DEVI,TIARA,"
            "AMELIA,NADIA,FEBRI,VINA,DWI,ELSA"
        ),
        _words(
            "PUTRI,RAHMAWATI,AMELIA,LESTARI,FITRIANI,ZAHRA,KHAIRUNNISA,WANDIRA,PERMATASARI,AMALIA,"
            "NURAINI,ANGGRAENI,OKTAVIANI,SAFITRI,MAHARANI"
        ),
        0.7,
        _words("SITI,NUR"),
        0.15,
    ),
}

_CHRISTIAN = {
    MALE: _NamePool(
        _words("YOHANES,PAULUS,STEFANUS,MARKUS,ANDREAS,YAKOBUS,PETRUS,TIMOTIUS"),
        _words("SURYADI,HARTONO,WIDODO,SETIADI,KRISTIANTO,SUSILO"),
        0.9,
    ),
    FEMALE: _NamePool(
        _words("MARIA,THERESIA,AGNES,VERONIKA,ELISABETH,YOHANA,MAGDALENA,KRISTINA"),
        _words("ENDANG,SETYOWATI,WIDYASTUTI,LESTARI,KRISTIANI,HARTATI"),
        0.9,
    ),
}
_CHINESE_INDONESIAN = {
    MALE: _NamePool(
        _words("HENDRA,SUGIANTO,WILLY,TANTO,HARTONO,BUDI,SURYA,ANTON"),
        _words("GUNAWAN,WIJAYA,HALIM,SANTOSO,TANOTO,SETIAWAN"),
        0.9,
    ),
    FEMALE: _NamePool(
        _words("LILY,SUSANTI,MEILANI,LINDA,JUWITA,YENNY,LANNY,MELIANA"),
        _words("WIJAYA,HALIM,GUNAWAN,TANOTO,KURNIAWAN"),
        0.8,
    ),
}


def _name(rng: random.Random, sex: str, born: dt.date, religion: str) -> str:
    if religion in ("KRISTEN", "KATHOLIK"):
        return _CHRISTIAN[sex].draw(rng)
    if religion in ("BUDHA", "KHONGHUCU"):
        return _CHINESE_INDONESIAN[sex].draw(rng)
    generation = 0 if born.year < 1975 else 1 if born.year < 1995 else 2
    return _JAVANESE[(sex, generation)].draw(rng)


# --- small random helpers ------------------------------------------------------------------------


_Weights = tuple[tuple[str, float], ...]


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    values = [value for value, _ in weighted]
    weights = [weight for _, weight in weighted]
    return rng.choices(values, weights)[0]


def _date_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))


def _years_after(day: dt.date, years: float) -> dt.date:
    return day + dt.timedelta(days=round(years * 365.25))


def _age(born: dt.date) -> int:
    before_birthday = (REFERENCE_DATE.month, REFERENCE_DATE.day) < (born.month, born.day)
    return REFERENCE_DATE.year - born.year - before_birthday


_RELIGIONS: _Weights = (("ISLAM", 96.5), ("KRISTEN", 1.5), ("KATHOLIK", 1.0), ("BUDHA", 0.5),
              ("KHONGHUCU", 0.3), ("HINDU", 0.2))  # fmt: skip
_BLOOD_TYPES: _Weights = (("TIDAK TAHU", 62), ("O", 14), ("B", 11), ("A", 10), ("AB", 3))
_BIRTH_PLACES: _Weights = (("TEGAL", 55), ("SLAWI", 14), ("BREBES", 10), ("PEMALANG", 5), ("JAKARTA", 4),
                 ("CIREBON", 3), ("BANYUMAS", 3), ("PEKALONGAN", 3), ("SEMARANG", 2), ("BANDUNG", 1))  # fmt: skip


def _birth_place(rng: random.Random, district: District, local: bool) -> str:
    if local:
        # Children of Kab. Tegal are often registered as born in Slawi, the regency seat.
        return "TEGAL" if district.regency_code == 76 or rng.random() < 0.7 else "SLAWI"
    return _pick(rng, _BIRTH_PLACES)


# --- education and occupation --------------------------------------------------------------------

_NO_SCHOOL = "TIDAK/BELUM SEKOLAH"
_SD_UNFINISHED = "BELUM TAMAT SD/SEDERAJAT"
_SD = "TAMAT SD/SEDERAJAT"
_SLTP = "SLTP/SEDERAJAT"
_SLTA = "SLTA/SEDERAJAT"
_D3 = "AKADEMI/DIPLOMA III/S. MUDA"
_S1 = "DIPLOMA IV/STRATA I"

_EDUCATION_BY_ERA: tuple[tuple[int, _Weights], ...] = (
    (1960, ((_NO_SCHOOL, 18), (_SD_UNFINISHED, 20), (_SD, 45), (_SLTP, 9), (_SLTA, 7), (_S1, 1))),
    (1980, ((_NO_SCHOOL, 4), (_SD_UNFINISHED, 8), (_SD, 40), (_SLTP, 22), (_SLTA, 20), (_D3, 2),
            (_S1, 3), ("STRATA II", 1))),
    (2003, ((_SD, 14), (_SLTP, 25), (_SLTA, 45), ("DIPLOMA I/II", 2), (_D3, 4), (_S1, 10))),
)  # fmt: skip


def _education(rng: random.Random, born: dt.date) -> str:
    age = _age(born)
    # Teenagers still at school have only finished the level below.
    if age <= 18:
        return _SLTP
    if age <= 21:
        return _pick(rng, ((_SLTA, 80), (_SLTP, 15), (_D3, 5)))
    for until, weights in _EDUCATION_BY_ERA:
        if born.year < until:
            return _pick(rng, weights)
    return _pick(rng, ((_SLTA, 62), (_SLTP, 12), (_D3, 8), (_S1, 18)))


_PNS = "PEGAWAI NEGERI SIPIL (PNS)"
_WORKING: _Weights = (("PETANI/PEKEBUN", 20), ("BURUH HARIAN LEPAS", 16), ("KARYAWAN SWASTA", 18),
            ("WIRASWASTA", 16), ("PEDAGANG", 12), ("SOPIR", 4), (_PNS, 5), ("GURU", 3),
            ("NELAYAN/PERIKANAN", 8))  # fmt: skip
_WIFE_WORK: _Weights = (("MENGURUS RUMAH TANGGA", 55), ("PEDAGANG", 12), ("PETANI/PEKEBUN", 8),
              ("KARYAWAN SWASTA", 10), ("WIRASWASTA", 8), ("GURU", 4), (_PNS, 3))  # fmt: skip
_ELDERLY: _Weights = (("BELUM/TIDAK BEKERJA", 40), ("PETANI/PEKEBUN", 25), ("PEDAGANG", 10),
            ("MENGURUS RUMAH TANGGA", 15), ("PENSIUNAN", 10))  # fmt: skip
_YOUNG_ADULT: _Weights = (("KARYAWAN SWASTA", 35), ("WIRASWASTA", 15), ("BELUM/TIDAK BEKERJA", 20),
                ("BURUH HARIAN LEPAS", 15), ("PEDAGANG", 8), ("PELAJAR/MAHASISWA", 7))  # fmt: skip


def _fits(job: str, sex: str, education: str, district: District) -> bool:
    if job == "NELAYAN/PERIKANAN":
        return district.coastal and sex == MALE
    if job == _PNS:
        return education in (_SLTA, _D3, _S1, "STRATA II")
    if job == "GURU":
        return education in (_S1, "STRATA II")
    if job == "MENGURUS RUMAH TANGGA":
        return sex == FEMALE
    if job == "PENSIUNAN":
        return education not in (_NO_SCHOOL, _SD_UNFINISHED)
    return True


def _occupation(rng: random.Random, role: str, sex: str, born: dt.date, education: str, district: District) -> str:
    age = _age(born)
    table: _Weights
    if role == CHILD and age <= 18:
        return "PELAJAR/MAHASISWA" if rng.random() < 0.9 else "BELUM/TIDAK BEKERJA"
    # Only those who finished senior high school can be at college in their early twenties.
    if role == CHILD and age <= 22 and education == _SLTA and rng.random() < 0.6:
        return "PELAJAR/MAHASISWA"
    if age >= 65:
        table = _ELDERLY
    elif role == CHILD:
        table = _YOUNG_ADULT
    elif sex == FEMALE:
        table = _WIFE_WORK
    else:
        table = _WORKING
    choices = [(job, weight) for job, weight in table if _fits(job, sex, education, district)]
    return _pick(rng, choices)


# --- households ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Member:
    role: str
    sex: str
    born: dt.date
    marital: str
    name: str = ""
    marriage: dt.date | None = None
    divorce: dt.date | None = None
    nik_district: District | None = None
    nik: str = ""


@dataclass(slots=True)
class _Family:
    district: District
    village: Village
    religion: str
    head: _Member
    spouse: _Member | None = None
    children: list[_Member] = field(default_factory=list)
    # The parent who lives elsewhere or has died: named on the children's record, without a NIK here.
    absent_parent: str | None = None

    @property
    def members(self) -> list[_Member]:
        return [self.head, *([self.spouse] if self.spouse else []), *self.children]


class _Serials:
    """Hands out the 4-digit serial that ends a NIK or KK number, counted per 12-digit prefix."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        count = self._counts.get(prefix, 0) + 1
        self._counts[prefix] = count
        return f"{prefix}{count:04d}"


def _plan_head(rng: random.Random) -> _Member:
    if rng.random() < 0.12:
        born = _date_between(rng, _EARLIEST_BIRTH, dt.date(1985, 12, 31))
        head = _Member(HEAD, FEMALE, born, WIDOWED if rng.random() < 0.7 else DIVORCED)
        head.marriage = _years_after(born, rng.uniform(17, 25))
        return head
    # Most heads are of an age to have children at home who were born by 2008.
    year = round(rng.triangular(_EARLIEST_BIRTH.year, 1998, 1970))
    born = _date_between(rng, dt.date(year, 1, 1), dt.date(year, 12, 31))
    marriage = _years_after(born, rng.uniform(20, 30))
    if marriage > _years_after(REFERENCE_DATE, -1):
        return _Member(HEAD, MALE, born, SINGLE)
    roll = rng.random()
    marital = MARRIED if roll < 0.9 else WIDOWED if roll < 0.96 or _age(born) > 60 else DIVORCED
    return _Member(HEAD, MALE, born, marital, marriage=marriage)


def _plan_wife(rng: random.Random, head: _Member) -> _Member:
    assert head.marriage is not None
    youngest_bride = _years_after(head.marriage, -17)
    born = max(_EARLIEST_BIRTH, min(_years_after(head.born, rng.uniform(-2, 8)), youngest_bride))
    return _Member(WIFE, FEMALE, born, MARRIED, marriage=head.marriage)


def _plan_children(rng: random.Random, head: _Member, mother_born: dt.date) -> list[_Member]:
    assert head.marriage is not None
    wanted = rng.choices(range(5), (10, 18, 30, 26, 16))[0]
    birth = _years_after(head.marriage, rng.uniform(0.8, 3))
    children: list[_Member] = []
    for _ in range(wanted):
        if birth > _LATEST_BIRTH or birth > _years_after(mother_born, 44):
            break
        moved_out = _age(birth) > 25 and rng.random() < 0.5
        if birth >= _OLDEST_CHILD_AT_HOME and not moved_out:
            children.append(_Member(CHILD, rng.choice((MALE, FEMALE)), birth, SINGLE))
        birth = _years_after(birth, rng.uniform(1.5, 5))
    return children


def _divorce_date(rng: random.Random, family: _Family) -> dt.date:
    assert family.head.marriage is not None
    last = max([family.head.marriage, *(child.born for child in family.children)])
    return min(_years_after(last, rng.uniform(1, 6)), REFERENCE_DATE - dt.timedelta(days=30))


def _plan_family(rng: random.Random, district: District) -> _Family:
    head = _plan_head(rng)
    family = _Family(district, rng.choice(district.villages), _pick(rng, _RELIGIONS), head)
    if head.marital == SINGLE:
        return family
    if head.marital == MARRIED:
        family.spouse = _plan_wife(rng, head)
        mother_born = family.spouse.born
    else:
        partner_sex = FEMALE if head.sex == MALE else MALE
        partner_born = _years_after(head.born, rng.uniform(-3, 3) + (3 if head.sex == MALE else -3))
        family.absent_parent = _name(rng, partner_sex, partner_born, family.religion)
        mother_born = head.born if head.sex == FEMALE else partner_born
    family.children = _plan_children(rng, head, mother_born)
    if head.marital == DIVORCED:
        head.divorce = _divorce_date(rng, family)
    return family


def _nik_birth_part(member: _Member) -> str:
    day = member.born.day + (40 if member.sex == FEMALE else 0)
    return f"{day:02d}{member.born:%m%y}"


def _register(rng: random.Random, family: _Family, niks: _Serials) -> None:
    for member in family.members:
        member.name = _name(rng, member.sex, member.born, family.religion)
        # A NIK keeps the district of first registration, so adults who moved in carry another code.
        moved_in = member.role != CHILD and rng.random() < (0.15 if member.role == WIFE else 0.06)
        member.nik_district = rng.choice(DISTRICTS) if moved_in else family.district
        member.nik = niks.next(member.nik_district.region_code + _nik_birth_part(member))


def _kk_number(rng: random.Random, family: _Family, kks: _Serials) -> str:
    latest = max(member.born for member in family.members)
    if family.head.marriage:
        latest = max(latest, family.head.marriage)
    if family.head.divorce:
        latest = max(latest, family.head.divorce)
    issued = _date_between(rng, max(latest, dt.date(2003, 1, 1)), REFERENCE_DATE - dt.timedelta(days=7))
    return kks.next(f"{family.district.region_code}{issued:%d%m%y}")


# --- addresses -----------------------------------------------------------------------------------

_STREETS = _words(
    "MAWAR,MELATI,KENANGA,ANGGREK,DIPONEGORO,SUDIRMAN,AR. HAKIM,KAPTEN SUDIBYO,GAJAH MADA,"
    "MT. HARYONO,TERATAI,SAWO,MANGGA,WR. SUPRATMAN,KARTINI,SETIA BUDI,PANCASILA,SIPELEM"
)
_HAMLETS = _words(
    "KRAJAN,KARANGANYAR,SIDAMULYA,KALIWUNGU,PESANTREN,BABAKAN,KARANGSARI,SIWATU,GANDASULI,KEBONSARI,CEPAGAN,LEBAKSARI"
)


@dataclass(frozen=True, slots=True)
class _Address:
    street: str
    dusun: str | None
    rt: int
    rw: int


def _address(rng: random.Random, district: District, village: Village) -> _Address:
    rt, rw = rng.randint(1, 12), rng.randint(1, 8)
    if district.urban:
        street = f"JL. {rng.choice(_STREETS)} NO. {rng.randint(1, 120)}"
        return _Address(street, None, rt, rw)
    roll = rng.random()
    if roll < 0.45:
        return _Address(f"DUKUH {rng.choice(_HAMLETS)}", None, rt, rw)
    if roll < 0.75:
        return _Address(f"JL. {rng.choice(_STREETS)} NO. {rng.randint(1, 60)}", rng.choice(_HAMLETS), rt, rw)
    return _Address(f"JL. RAYA {village.name} NO. {rng.randint(1, 200)}", None, rt, rw)


# --- certificates --------------------------------------------------------------------------------
# Number formats of the post-2008 civil registry certificates ("3328-LT-DDMMYYYY-NNNN"), and the
# religious courts' "NNNN/AC/YYYY/PA.Slw" for Muslim divorces, are our best recollection, not verified.


def _birth_cert(rng: random.Random, member: _Member, district: District) -> str | None:
    odds = 0.9 if member.born.year >= 1995 else 0.5 if member.born.year >= 1975 else 0.15
    if rng.random() >= odds:
        return None
    on_time = member.born.year >= 2000 and rng.random() < 0.6
    issued = _years_after(member.born, 0.1) if on_time else _date_between(rng, dt.date(2009, 1, 1), REFERENCE_DATE)
    kind = "LU" if on_time else "LT"
    return f"{district.region_code[:4]}-{kind}-{issued:%d%m%Y}-{rng.randint(1, 9999):04d}"


def _marriage_cert(rng: random.Random, family: _Family) -> str | None:
    # Muslim marriages are registered by the religious affairs office (KUA), not in the civil registry.
    if family.head.marriage is None or family.religion == "ISLAM":
        return None
    return f"{family.district.region_code[:4]}-KW-{family.head.marriage:%d%m%Y}-{rng.randint(1, 9999):04d}"


def _divorce_cert(rng: random.Random, family: _Family) -> str | None:
    divorce = family.head.divorce
    if divorce is None:
        return None
    if family.religion == "ISLAM":
        court = "PA.Tgl" if family.district.regency_code == 76 else "PA.Slw"
        return f"{rng.randint(100, 2999)}/AC/{divorce.year}/{court}"
    return f"{family.district.region_code[:4]}-CR-{divorce:%d%m%Y}-{rng.randint(1, 9999):04d}"


# --- assembly ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Household:
    family: _Family
    kk: str
    address: _Address
    marriage_cert: str | None
    divorce_cert: str | None


def _parents(family: _Family, member: _Member) -> tuple[str | None, str | None, str | None, str | None]:
    """Father NIK and name, mother NIK and name; only children carry them."""
    if member.role != CHILD:
        return None, None, None, None
    father = next((m for m in (family.head, family.spouse) if m and m.sex == MALE), None)
    mother = next((m for m in (family.head, family.spouse) if m and m.sex == FEMALE), None)
    return (
        father.nik if father else None,
        father.name if father else family.absent_parent,
        mother.nik if mother else None,
        mother.name if mother else family.absent_parent,
    )


def _resident(rng: random.Random, household: _Household, member: _Member) -> Resident:
    family, address, district = household.family, household.address, household.family.district
    education = _education(rng, member.born)
    father_nik, father_name, mother_nik, mother_name = _parents(family, member)
    ever_married = member.marital != SINGLE
    return Resident(
        nik=member.nik, kk=household.kk, full_name=member.name, sex=member.sex,
        birth_place=_birth_place(rng, district, local=member.role == CHILD),
        birth_date=member.born, birth_cert_no=_birth_cert(rng, member, district),
        blood_type=_pick(rng, _BLOOD_TYPES), religion=family.religion, marital_status=member.marital,
        marriage_date=member.marriage if ever_married else None,
        marriage_cert_no=household.marriage_cert if ever_married else None,
        divorce_date=member.divorce, divorce_cert_no=household.divorce_cert if member.divorce else None,
        education=education,
        occupation=_occupation(rng, member.role, member.sex, member.born, education, district),
        family_relation=member.role, street=address.street, dusun=address.dusun, rt=address.rt, rw=address.rw,
        province_code=PROVINCE_CODE, province_name=PROVINCE_NAME,
        regency_code=district.regency_code, regency_name=district.regency_name,
        district_code=district.code, district_name=district.name,
        village_code=family.village.code, village_name=family.village.name,
        father_nik=father_nik, father_name=father_name, mother_nik=mother_nik, mother_name=mother_name,
    )  # fmt: skip


def _generate(seed: int) -> tuple[Resident, ...]:
    rng = random.Random(seed)
    niks, kks = _Serials(), _Serials()
    people: list[Resident] = []
    while len(people) < _TARGET_RESIDENTS:
        family = _plan_family(rng, rng.choice(DISTRICTS))
        _register(rng, family, niks)
        household = _Household(
            family, _kk_number(rng, family, kks), _address(rng, family.district, family.village),
            _marriage_cert(rng, family), _divorce_cert(rng, family),
        )  # fmt: skip
        people.extend(_resident(rng, household, member) for member in family.members)
    return tuple(people)


@functools.cache
def residents(seed: int = DEFAULT_SEED) -> tuple[Resident, ...]:
    """All synthetic residents for ``seed``, families together, head of family first."""
    return _generate(seed)


@functools.cache
def by_nik(seed: int = DEFAULT_SEED) -> Mapping[str, Resident]:
    """Residents for ``seed`` keyed by NIK (read-only)."""
    return MappingProxyType({resident.nik: resident for resident in residents(seed)})


@functools.cache
def by_kk(seed: int = DEFAULT_SEED) -> Mapping[str, tuple[Resident, ...]]:
    """Each family card's members for ``seed``, keyed by KK number, head of family first (read-only)."""
    families: dict[str, list[Resident]] = {}
    for resident in residents(seed):
        families.setdefault(resident.kk, []).append(resident)
    return MappingProxyType({kk: tuple(members) for kk, members in families.items()})


def kk_samples(n: int = 5, seed: int = DEFAULT_SEED) -> list[str]:
    """The KK numbers of the families of the first ``n`` :func:`samples`, each once, in that order."""
    known = by_nik(seed)
    return list(dict.fromkeys(known[nik].kk for nik in samples(n, seed)))


def samples(n: int = 5, seed: int = DEFAULT_SEED) -> list[str]:
    """A few NIKs taken in turn from both regencies and both sexes, the same on every call."""
    buckets: list[list[str]] = [[], [], [], []]
    order = [(28, MALE), (76, FEMALE), (28, FEMALE), (76, MALE)]
    for resident in residents(seed):
        # Skip people who moved in, so the NIK's own region matches the regency they are picked for.
        if resident.nik[2:4] == f"{resident.regency_code:02d}":
            buckets[order.index((resident.regency_code, resident.sex))].append(resident.nik)
    if n > len(buckets) * min(len(bucket) for bucket in buckets):
        raise ValueError(f"n={n} is more samples than this population can spread evenly")
    picked: list[str] = []
    for index in range(n):
        bucket = buckets[index % len(buckets)]
        picked.append(bucket[index // len(buckets)])
    return picked
