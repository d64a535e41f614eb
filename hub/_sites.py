"""Sites (MPP bergerak): their registration on the hub, and the bundle of keys a site is set up with.

`mpp-hub site add van-1 --prefix V1 --consumer van-desk --out DIR` (on the hub's machine) makes the site's keys and
writes them only into ``DIR``, the bundle the van's laptop is set up from; the hub keeps the public halves in
``<data-dir>/sites/<name>.json``:

- the site's leaf nkey: the one user it connects to the hub's NATS as, a leaf node only, with the permissions of
  :func:`hub._roles.site_leaf`;
- the site's Ed25519 key: it signs the site's caller assertions (issuer ``site.<name>``, for its own consumers
  only) and every message the site takes in;
- the site's key of data-subject hashes, derived from the hub's (:func:`hub._assertions.site_subject_key`);
- the hub's public intake key (X25519), to which the site seals what it takes in (:mod:`hub._site_intake`);
- the bus CA's certificate, against which the site checks the hub's leaf listener.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import nkeys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey
from pydantic import BaseModel, Field

from contracts import SITE_NAME_PATTERN, TRACKING_NUMBER_ALPHABET
from hub._assertions import site_subject_key, subject_key
from hub._consumers import Consumer
from hub._credentials import write_private

__all__ = [
    "BUNDLE_FILE",
    "SiteBundle",
    "SiteError",
    "SiteRecord",
    "fingerprint",
    "intake_private_key",
    "load_sites",
    "register_site",
]

BUNDLE_FILE = "site.json"
LEAF_SEED_FILE = "leaf.nk"
SIGNING_FILE = "site.key"
SUBJECTS_FILE = "subjects.key"
CA_FILE = "ca.pem"
CONSUMERS_FILE = "consumers.json"
_PREFIX = re.compile(f"^[{TRACKING_NUMBER_ALPHABET}]{{2}}$")


class SiteError(ValueError):
    """A site cannot be registered or set up as asked; the message says why and what to do."""


class SiteRecord(BaseModel):
    """What the hub knows of a site: nothing secret."""

    name: str = Field(pattern=SITE_NAME_PATTERN)
    prefix: str = Field(description="The first two characters of the tracking numbers the site mints.")
    ticket_letter: str = Field(pattern=r"^[A-Z]$", description="The first letter of the site's ticket prefixes.")
    consumers: tuple[str, ...] = Field(min_length=1, description="The consumers the site serves and asserts for.")
    leaf_nkey: str = Field(description="The public nkey of the site's leaf connection.")
    issuer: str = Field(description="The site's Ed25519 public key, base64.")

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(base64.b64decode(self.issuer))


class SiteBundle(BaseModel):
    """``site.json`` in a site's bundle: who it is and where its hub is."""

    name: str = Field(pattern=SITE_NAME_PATTERN)
    prefix: str
    ticket_letter: str
    consumers: tuple[str, ...]
    hub_leaf: str = Field(description="The hub's leaf listener, tls://host:port.")
    intake_key: str = Field(description="The hub's public intake key (X25519), base64.")


def _registry(data_dir: Path) -> Path:
    return data_dir / "sites"


def load_sites(data_dir: Path) -> list[SiteRecord]:
    """Every site registered on the hub whose data dir is ``data_dir``, by name."""
    files = sorted(_registry(data_dir).glob("*.json"))
    return [SiteRecord.model_validate_json(path.read_text()) for path in files]


def intake_private_key(audit_key: bytes) -> PrivateKey:
    """The hub's intake key, derived from its audit key: every worker that holds one holds the other."""
    seed = HKDF(hashes.SHA256(), 32, salt=None, info=b"mpp-hub site intake").derive(audit_key)
    return PrivateKey(seed)


def _check(name: str, prefix: str, ticket_letter: str, consumers: Iterable[str], taken: list[SiteRecord]) -> None:
    if not re.fullmatch(SITE_NAME_PATTERN, name) or name == "hub":  # "hub" is the hub's own JetStream domain
        raise SiteError(f"site name {name!r}: use lowercase letters, digits and hyphens, like van-1")
    if not _PREFIX.match(prefix):
        raise SiteError(f"prefix {prefix!r}: two characters of {TRACKING_NUMBER_ALPHABET}, like V1")
    if not re.fullmatch(r"[A-Z]", ticket_letter):
        raise SiteError(f"ticket letter {ticket_letter!r}: one capital letter, like V")
    if not list(consumers):
        raise SiteError("name at least one consumer the site serves (--consumer), added with `mpp-hub consumer add`")
    for other in taken:
        if other.name == name:
            raise SiteError(f"site {name} is registered already; its bundle was written when it was added")
        if other.prefix == prefix or other.ticket_letter == ticket_letter:
            raise SiteError(f"site {other.name} has prefix {other.prefix} and ticket letter {other.ticket_letter}")


def register_site(
    data_dir: Path,
    *,
    name: str,
    prefix: str,
    ticket_letter: str,
    consumer_records: Sequence[Consumer],
    hub_leaf: str,
    audit_key: bytes,
    bus_ca: Path,
    out: Path,
) -> SiteRecord:
    """Make the site's keys, write its bundle to ``out`` and its public record to the hub's registry.

    ``consumer_records``: the consumers the site serves, as the hub's registry holds them (a salted hash of each
    key, its rights), so that the site checks their keys while offline; the hub sends newer records (a revoke)
    whenever the site reports."""
    consumers = tuple(record.name for record in consumer_records)
    _check(name, prefix, ticket_letter, consumers, load_sites(data_dir))
    if out.exists() and any(out.iterdir()):
        raise SiteError(f"{out} is not empty: give a new directory for the site's bundle")
    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
    signing = SigningKey.generate()
    intake: PublicKey = intake_private_key(audit_key).public_key
    bundle = SiteBundle(
        name=name, prefix=prefix, ticket_letter=ticket_letter, consumers=consumers, hub_leaf=hub_leaf,
        intake_key=base64.b64encode(bytes(intake)).decode(),
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    (out / BUNDLE_FILE).write_text(bundle.model_dump_json(indent=2) + "\n")
    write_private(out / LEAF_SEED_FILE, seed + "\n")
    write_private(out / SIGNING_FILE, base64.b64encode(bytes(signing)).decode() + "\n")
    subjects = site_subject_key(subject_key(audit_key), name)
    write_private(out / SUBJECTS_FILE, base64.b64encode(subjects).decode() + "\n")
    shutil.copyfile(bus_ca, out / CA_FILE)
    records = [record.model_dump(mode="json") for record in consumer_records]
    write_private(out / CONSUMERS_FILE, json.dumps(records, indent=2) + "\n")
    record = SiteRecord(
        name=name, prefix=prefix, ticket_letter=ticket_letter, consumers=consumers,
        leaf_nkey=nkeys.from_seed(seed.encode()).public_key.decode(),
        issuer=base64.b64encode(bytes(signing.verify_key)).decode(),
    )  # fmt: skip
    registry = _registry(data_dir)
    registry.mkdir(parents=True, exist_ok=True)
    (registry / f"{name}.json").write_text(record.model_dump_json(indent=2) + "\n")
    return record


def fingerprint(record: SiteRecord) -> str:
    """A short fingerprint of the site's signing key, to compare by eye on the hub and on the site."""
    return hashlib.sha256(base64.b64decode(record.issuer)).hexdigest()[:16]
