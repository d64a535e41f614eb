"""The bus credentials of every role, kept in one directory (0700, files 0600).

For each role: ``<role>.nk``, its NATS user nkey seed (Ed25519: the server sends a nonce, the process signs
it, so nothing replayable crosses the wire). For each role that vouches for callers (edge, CLI, worker):
``<role>.issuer``, the Ed25519 seed that signs caller assertions, and ``issuers.json`` with the public
halves every worker checks them against. A machine gets only the files of the roles it runs.

Beside the roles' credentials, the server's own secret: the key nats-server encrypts its JetStream store with
(:func:`ensure_store_key`), and :func:`write_private` for the configuration files that hold it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

import nkeys
from nacl.signing import SigningKey, VerifyKey

from hub._roles import Role
from hub._secrets import write_secret

__all__ = [
    "ISSUERS_FILE",
    "ISSUING_ROLES",
    "STORE_CIPHER",
    "CredentialsError",
    "ensure_credentials",
    "ensure_store_key",
    "has_role",
    "issuer_file",
    "issuer_key",
    "public_nkey",
    "read_seed",
    "seed_file",
    "trusted_issuers",
    "write_private",
]

#: Roles that sign caller assertions: the edge (portal calls), the CLI (`mpp-hub call`), workers (process steps).
ISSUING_ROLES = (Role.EDGE, Role.CLI, Role.WORKER)
ISSUERS_FILE = "issuers.json"
#: nats-server's JetStream encryption at rest: ChaCha20-Poly1305, its own default, fast without AES instructions.
STORE_CIPHER = "chachapoly"


class CredentialsError(RuntimeError):
    """A credential a process needs is missing or unreadable; the message names the file and the fix."""


def seed_file(directory: Path, role: Role) -> Path:
    return directory / f"{role.value}.nk"


def issuer_file(directory: Path, role: Role) -> Path:
    return directory / f"{role.value}.issuer"


def ensure_credentials(directory: Path, roles: Iterable[Role] = tuple(Role)) -> None:
    """Create whatever is missing of the credentials of ``roles``; what exists is kept."""
    for role in roles:
        seed = seed_file(directory, role)
        if not seed.exists():
            write_secret(seed, nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode())
        issuer = issuer_file(directory, role)
        if role in ISSUING_ROLES and not issuer.exists():
            write_secret(issuer, base64.b64encode(bytes(SigningKey.generate())).decode())
    _write_trust(directory)


def _write_trust(directory: Path) -> None:
    trust = {}
    for role in ISSUING_ROLES:
        if issuer_file(directory, role).exists():
            trust[role.value] = base64.b64encode(bytes(issuer_key(directory, role).verify_key)).decode()
    if trust:
        (directory / ISSUERS_FILE).write_text(json.dumps(trust, indent=2, sort_keys=True) + "\n")


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise CredentialsError(
            f"cannot read {what} {path} ({exc.strerror}): generate the credentials with `mpp-hub bus credentials` "
            "and point nats_credentials at their directory"
        ) from None


def has_role(directory: Path, role: Role) -> bool:
    """Whether this machine holds ``role``'s NATS key."""
    return seed_file(directory, role).exists()


def read_seed(directory: Path, role: Role) -> str:
    return _read(seed_file(directory, role), f"the {role.value} role's NATS key")


def public_nkey(directory: Path, role: Role) -> str:
    """The role's public user nkey (``U...``), as the server configuration names it."""
    public: bytes = nkeys.from_seed(read_seed(directory, role).encode()).public_key
    return public.decode()


def issuer_key(directory: Path, role: Role) -> SigningKey:
    """The key with which ``role`` signs caller assertions."""
    path = issuer_file(directory, role)
    try:
        return SigningKey(base64.b64decode(_read(path, f"the {role.value} role's assertion key"), validate=True))
    except (ValueError, TypeError):
        raise CredentialsError(f"{path} is not an Ed25519 seed; generate it again") from None


def trusted_issuers(directory: Path) -> Mapping[str, VerifyKey]:
    """The public keys of the roles whose assertions a worker accepts, by role name."""
    trust = json.loads(_read(directory / ISSUERS_FILE, "the trusted assertion issuers"))
    return {name: VerifyKey(base64.b64decode(value)) for name, value in trust.items()}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only (0600) even where an older file was not: it is
    written aside and moved over, so no moment exists when the file holds the new text with the old mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(aside, path)
    except BaseException:
        aside.unlink(missing_ok=True)
        raise


def _encrypted(store_dir: Path) -> bool:
    # nats-server keeps a stream's (encrypted) asset key in meta.key beside its metadata; a plain store has none.
    return store_dir.is_dir() and next(store_dir.rglob("meta.key"), None) is not None


def ensure_store_key(path: Path, store_dir: Path | None = None) -> str:
    """The key nats-server encrypts the JetStream store in ``store_dir`` with, made once into ``path`` (0600).

    A store already encrypted whose key is gone is refused, not given a new key: nats-server would skip every
    stream it cannot open, and the hub would then create them afresh, empty, over the citizens' applications
    and the audit log. ``store_dir`` None: the store is on another machine (the operator's copy of a node's key).
    """
    if not path.exists():
        if store_dir is not None and _encrypted(store_dir):
            raise CredentialsError(
                f"the JetStream store in {store_dir} is encrypted, but its key {path} is missing: put the key back "
                "(from the backup of the secrets directory); a new key cannot open the store"
            )
        write_secret(path, secrets.token_urlsafe(32))
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise CredentialsError(f"cannot read the JetStream store key {path} ({exc.strerror})") from None
    if len(key) < 32:  # nats-server's advice; a short key would be a typo, never a choice
        raise CredentialsError(f"the JetStream store key in {path} is shorter than 32 characters")
    return key
