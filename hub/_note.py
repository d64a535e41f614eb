"""C2SP signed notes, transparency-log checkpoints and witness cosignatures.

A signed note (c2sp.org/signed-note, the format of golang.org/x/mod/sumdb/note) is text followed by a blank
line and one or more signature lines. It is the envelope every C2SP transparency log uses for its checkpoints
(c2sp.org/tlog-checkpoint: origin, tree size, root hash), and witnesses add their cosignatures to the same
note as extra lines (c2sp.org/tlog-cosignature, Ed25519 "cosignature/v1"). Speaking that format, rather than
one of our own, lets off-the-shelf witnesses and verifiers (Go's note package, sigsum, litewitness) check
the hub's log, and lets the hub check theirs.

Keys are named: a key ID is the first four bytes of SHA-256(name || 0x0A || type || public key), so the same
name under another key, or the same key under another name or signature type, is a different key. Verifier
keys travel as ``<name>+<hex key ID>+<base64(type || public key)>`` (a "vkey"); signer keys, which must stay
secret, as ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>`` as Go's note package writes them.

Ed25519 is libsodium's (PyNaCl). Parsing is strict and errors say what to fix; opening a note ignores
signatures from unknown keys, as the spec requires, but rejects a note whose known signatures do not verify.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, Self, TypeVar

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CosignatureSigner",
    "CosignatureVerifier",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SignedNote",
    "Verifier",
    "add_signatures",
    "cosign_note",
    "key_id",
    "open_note",
    "sign_note",
    "verifier_from_vkey",
]

#: Signature type of plain Ed25519 note signatures (c2sp.org/signed-note).
ALG_ED25519 = 0x01
#: Signature type of timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature).
ALG_COSIGNATURE_V1 = 0x04
#: More signature lines than this make a note malformed (the spec says accept at least 16; Go stops at 100).
MAX_SIGNATURES = 100

_KEY_ID_SIZE = 4
_PUBLIC_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_TIMESTAMP_SIZE = 8
_MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1
_MAX_TREE_SIZE = 2**64 - 1
_SIG_PREFIX = "\u2014 "  # em dash, space
_COSIGNATURE_HEADER = "cosignature/v1\n"
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_ALG_NAMES = {ALG_ED25519: "Ed25519 note signature (0x01)", ALG_COSIGNATURE_V1: "Ed25519 cosignature/v1 (0x04)"}

_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline: forbidden anywhere in a note
_HEX_ID = re.compile("[0-9a-fA-F]{8}")
_BASE64 = re.compile("(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_TREE_SIZE = re.compile("0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note, key, checkpoint or signature is malformed, or does not verify."""


# --- names, key IDs and encodings ---------------------------------------------------------------------------


def _check_name(name: str, what: str = "key name") -> None:
    """Key names must be non-empty and contain neither Unicode spaces nor '+' (c2sp.org/signed-note)."""
    if not isinstance(name, str) or not name:
        raise NoteError(f"{what} must be a non-empty string")
    if "+" in name or any(ch.isspace() for ch in name) or _CONTROL.search(name):
        raise NoteError(f"{what} {name!r} must not contain spaces, '+' or control characters")


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || alg || public key)[:4]."""
    _check_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:_KEY_ID_SIZE]


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Standard, padded base64 (RFC 4648 §4), as Go's base64.StdEncoding accepts it and nothing looser."""
    if not text or not _BASE64.fullmatch(text):
        raise NoteError(f"{what} is not padded standard base64: {text[:40]!r}")
    return base64.b64decode(text)


def _alg_name(alg: int) -> str:
    return _ALG_NAMES.get(alg, f"unknown type 0x{alg:02x}")


def _split_key_string(key: str, *, private: bool) -> tuple[str, bytes, bytes]:
    """Split ``[PRIVATE+KEY+]<name>+<hex id>+<base64(type || key)>`` into (name, key ID, type || key)."""
    what = "signer key" if private else "verifier key"
    if private:
        if not key.startswith(_PRIVATE_PREFIX):
            raise NoteError(f"{what} must start with {_PRIVATE_PREFIX!r}")
        key = key.removeprefix(_PRIVATE_PREFIX)
    name, _, rest = key.partition("+")  # names hold no '+'; base64 may, so split at the first two only
    hex_id, plus, data = rest.partition("+")
    if not plus:
        raise NoteError(f"{what} must have the form <name>+<8 hex digit key ID>+<base64 key>")
    _check_name(name, f"{what} name")
    if not _HEX_ID.fullmatch(hex_id):
        raise NoteError(f"{what} key ID must be 8 hex digits, got {hex_id!r}")
    return name, bytes.fromhex(hex_id), _b64decode(data, f"{what} material")


def _parse_key_string(key: str, alg: int, *, private: bool) -> tuple[str, bytes, bytes]:
    """`_split_key_string`, then check the type byte is `alg` and the key is 32 bytes; the key without type."""
    what = "signer key" if private else "verifier key"
    name, claimed_id, raw = _split_key_string(key, private=private)
    if raw[0] != alg:
        raise NoteError(f"{what} {name!r} is a {_alg_name(raw[0])} key, not a {_alg_name(alg)} key")
    if len(raw) != 1 + _PUBLIC_KEY_SIZE:
        raise NoteError(f"{what} {name!r} must hold 1 + {_PUBLIC_KEY_SIZE} bytes, has {len(raw)}")
    return name, claimed_id, raw[1:]


# --- keys ---------------------------------------------------------------------------------------------------


class _PublicKey:
    """A named Ed25519 public key of one signature type: what every verifier has in common."""

    _alg: int

    def __init__(self, name: str, public_key: bytes) -> None:
        if len(public_key) != _PUBLIC_KEY_SIZE:
            raise NoteError(f"an Ed25519 public key is {_PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
        self._name = name
        self._key_id = key_id(name, self._alg, public_key)
        self._public_key = bytes(public_key)
        self._verify_key = VerifyKey(self._public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Parse ``<name>+<hex key ID>+<base64(type || public key)>``, checking the ID against the key."""
        name, claimed_id, public_key = _parse_key_string(vkey, cls._alg, private=False)
        verifier = cls(name, public_key)
        if (real := verifier.key_id) != claimed_id:
            raise NoteError(f"verifier key {name!r} says key ID {claimed_id.hex()}, the key's is {real.hex()}")
        return verifier

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def vkey(self) -> str:
        """This key as a verifier key string, to give to whoever checks the signatures."""
        return f"{self._name}+{self._key_id.hex()}+{_b64encode(bytes([self._alg]) + self._public_key)}"

    def _valid(self, message: str, signature: bytes) -> bool:
        if len(signature) != _ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._verify_key.verify(message.encode("utf-8"), signature)
        except (BadSignatureError, UnicodeEncodeError):  # no note text has lone surrogates, so none signed one
            return False
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey()!r})"


_V = TypeVar("_V", bound=_PublicKey)


class _KeyPair(Generic[_V]):
    """A named Ed25519 signing key of one signature type: what every signer has in common."""

    _alg: int

    def __init__(self, name: str, key: SigningKey) -> None:
        self._key = key
        self._public = self._public_key(name, bytes(key.verify_key))

    def _public_key(self, name: str, public_key: bytes) -> _V:
        raise NotImplementedError

    @classmethod
    def generate(cls, name: str) -> Self:
        """A fresh random key for `name`."""
        _check_name(name)
        return cls(name, SigningKey.generate())

    @classmethod
    def from_key_string(cls, skey: str) -> Self:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>``, checking the ID against the key."""
        name, claimed_id, seed = _parse_key_string(skey, cls._alg, private=True)
        signer = cls(name, SigningKey(seed))
        if (real := signer.key_id) != claimed_id:
            raise NoteError(f"signer key {name!r} says key ID {claimed_id.hex()}, the key's is {real.hex()}")
        return signer

    @property
    def name(self) -> str:
        return self._public.name

    @property
    def key_id(self) -> bytes:
        return self._public.key_id

    def key_string(self) -> str:
        """The secret key in Go's ``PRIVATE+KEY+...`` form, for a secret store; never log it."""
        seed = _b64encode(bytes([self._alg]) + bytes(self._key))
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{seed}"

    def verifier(self) -> _V:
        """The matching public key, to check this signer's signatures."""
        return self._public

    def verifier_key(self) -> str:
        """The matching verifier key string (vkey), safe to publish."""
        return self._public.vkey()

    def __repr__(self) -> str:  # never the secret
        return f"{type(self).__name__}(name={self.name!r}, key_id={self.key_id.hex()!r})"


class Verifier(Protocol):
    """What `open_note` needs of a key: its name and ID, and a check of a signature's bytes over a text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: str, signature: bytes) -> bool: ...


class NoteVerifier(_PublicKey):
    """Checks plain Ed25519 note signatures (type 0x01) by one named key."""

    _alg = ALG_ED25519

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether `signature` (the bytes after the key ID) is this key's Ed25519 signature of `text`."""
        return self._valid(text, signature)


class NoteSigner(_KeyPair[NoteVerifier]):
    """Signs note texts with plain Ed25519 (type 0x01), the log's own signature on its checkpoints."""

    _alg = ALG_ED25519

    def _public_key(self, name: str, public_key: bytes) -> NoteVerifier:
        return NoteVerifier(name, public_key)

    def sign(self, text: str) -> NoteSignature:
        """This key's signature of a note text (which must end in a newline), ready to put in a note."""
        _check_text(text)
        signature = self._key.sign(text.encode("utf-8")).signature
        return NoteSignature(self.name, self.key_id, signature)


class CosignatureVerifier(_PublicKey):
    """Checks a witness's timestamped Ed25519 cosignatures (type 0x04, "cosignature/v1")."""

    _alg = ALG_COSIGNATURE_V1

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether `signature` (timestamp || Ed25519 signature) is this witness's cosignature of `text`."""
        try:
            self.verify_cosignature(text, signature)
        except NoteError:
            return False
        return True

    def verify_cosignature(self, checkpoint_body: str, signature: bytes) -> int:
        """Check a cosignature of `checkpoint_body` and return the time (Unix seconds) the witness signed it."""
        timestamp, ed25519_signature = _split_cosignature(signature)
        if not self._valid(_cosigned_message(checkpoint_body, timestamp), ed25519_signature):
            raise NoteError(f"cosignature by {self.name}+{self.key_id.hex()} does not verify")
        return timestamp


class CosignatureSigner(_KeyPair[CosignatureVerifier]):
    """A witness's key: cosigns checkpoints it has checked, with the time it did (c2sp.org/tlog-cosignature).

    The key has its own type (0x04) and so its own key ID: verifiers configured for a log's note key never
    look at a witness's lines, nor the other way round. Keep a witness seed for cosigning only: the signed
    message ("cosignature/v1", the time, the body) does not name the key type, so a plain note signature by
    the same seed over a text that happened to start that way would pass as a cosignature.
    """

    _alg = ALG_COSIGNATURE_V1

    def _public_key(self, name: str, public_key: bytes) -> CosignatureVerifier:
        return CosignatureVerifier(name, public_key)

    def cosign(self, checkpoint_body: str, timestamp: int) -> NoteSignature:
        """Cosign a checkpoint body as of `timestamp` (Unix seconds). The body must parse as a checkpoint."""
        Checkpoint.parse(checkpoint_body)  # a witness vouches for checkpoints, never for arbitrary text
        _check_timestamp(timestamp)
        signature = self._key.sign(_cosigned_message(checkpoint_body, timestamp).encode()).signature
        return NoteSignature(self.name, self.key_id, timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature)


def verifier_from_vkey(vkey: str) -> NoteVerifier | CosignatureVerifier:
    """The verifier a vkey describes, by its signature type: 0x01 note signatures or 0x04 cosignatures."""
    _, _, raw = _split_key_string(vkey, private=False)
    if raw[0] == ALG_COSIGNATURE_V1:
        return CosignatureVerifier.from_vkey(vkey)
    return NoteVerifier.from_vkey(vkey)  # explains any other type


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp must be Unix seconds from 0 to 2^63 - 1, got {timestamp!r}")


def _cosigned_message(checkpoint_body: str, timestamp: int) -> str:
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_body}"


def _split_cosignature(signature: bytes) -> tuple[int, bytes]:
    if len(signature) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
        raise NoteError(f"a cosignature/v1 signature is 8 + 64 bytes after the key ID, got {len(signature)}")
    timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
    if timestamp > _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} exceeds 2^63 - 1")
    return timestamp, signature[_TIMESTAMP_SIZE:]


# --- notes --------------------------------------------------------------------------------------------------


def _check_text(text: str) -> None:
    """A note text is non-empty UTF-8 ending in a newline, with no ASCII control character but newline."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("note text must be a string ending in a newline")
    if match := _CONTROL.search(text):
        raise NoteError(f"note text has control character {match.group()!r} (only newline is allowed)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"note text is not encodable as UTF-8: {exc.reason}") from None


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name, its 4-byte ID, and the signature bytes that follow the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_name(self.name, "signature key name")
        if len(self.key_id) != _KEY_ID_SIZE:
            raise NoteError(f"a key ID is {_KEY_ID_SIZE} bytes, got {len(self.key_id)}")
        if not self.signature:
            raise NoteError(f"signature by {self.name} is empty")

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        """Parse ``— <name> <base64(key ID || signature)>`` (without its newline)."""
        if not line.startswith(_SIG_PREFIX):
            raise NoteError(f"signature line must start with an em dash and a space: {line[:60]!r}")
        name, space, encoded = line.removeprefix(_SIG_PREFIX).partition(" ")
        if not space:
            raise NoteError(f"signature line must be '— <key name> <base64 signature>': {line[:60]!r}")
        _check_name(name, "signature key name")
        raw = _b64decode(encoded, f"signature by {name}")
        if len(raw) <= _KEY_ID_SIZE:
            raise NoteError(f"signature by {name} has {len(raw)} bytes: too short for a key ID and a signature")
        return cls(name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:])

    def line(self) -> str:
        """The signature line, newline included."""
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"

    def is_by(self, key: Verifier) -> bool:
        """Whether this signature claims to be by `key`: the same name and the same key ID."""
        return self.name == key.name and self.key_id == key.key_id


@dataclass(frozen=True)
class SignedNote:
    """A note's text (its final newline included, not the blank line) and its signatures, verified or not."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not self.signatures:
            raise NoteError("a signed note needs at least one signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise NoteError(f"note has {len(self.signatures)} signatures, more than the {MAX_SIGNATURES} accepted")

    @classmethod
    def parse(cls, data: bytes | str) -> SignedNote:
        """Parse a note without checking any signature. The last blank line separates text and signatures."""
        note = _decode_note(data)
        if _CONTROL.search(note):
            raise NoteError("note has an ASCII control character other than newline")
        split = note.rfind("\n\n")
        if split < 0:
            raise NoteError("note has no blank line between its text and its signatures")
        text, block = note[: split + 1], note[split + 2 :]
        if not block.endswith("\n"):
            raise NoteError("note must end with a signature line and a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"note has {len(lines)} signature lines, more than the {MAX_SIGNATURES} accepted")
        return cls(text, tuple(NoteSignature.parse_line(line) for line in lines))

    def format(self) -> str:
        """The note as text: the text, a blank line, the signature lines."""
        return self.text + "\n" + "".join(signature.line() for signature in self.signatures)

    def with_signatures(self, *signatures: NoteSignature) -> SignedNote:
        """This note with `signatures` added, each replacing any existing one by the same name and key ID."""
        new = {(s.name, s.key_id) for s in signatures}
        kept = tuple(s for s in self.signatures if (s.name, s.key_id) not in new)
        return replace(self, signatures=kept + signatures)


def _decode_note(data: bytes | str) -> str:
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise NoteError("note is not encodable as UTF-8 (it has lone surrogates)") from None
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError(f"note is not valid UTF-8 (byte {exc.start})") from None


def sign_note(text: str, *signers: NoteSigner) -> str:
    """A note of `text` signed by every signer, in order."""
    if not signers:
        raise NoteError("sign_note needs at least one signer")
    return SignedNote(text, tuple(signer.sign(text) for signer in signers)).format()


def add_signatures(note: bytes | str, *signatures: NoteSignature) -> str:
    """`note` with more signature lines (e.g. witness cosignatures), replacing older ones by the same keys.

    Nothing is verified here: the caller made the signatures over this note's text, or checked them.
    """
    return SignedNote.parse(note).with_signatures(*signatures).format()


def cosign_note(note: bytes | str, cosigner: CosignatureSigner, timestamp: int) -> str:
    """`note` (a signed checkpoint) with `cosigner`'s cosignature as of `timestamp` added.

    A witness calls this only after it has opened the note with the log's key and checked consistency.
    """
    parsed = SignedNote.parse(note)
    return parsed.with_signatures(cosigner.cosign(parsed.text, timestamp)).format()


def open_note(note: bytes | str, verifiers: Iterable[Verifier]) -> tuple[str, list[str]]:
    """Verify `note` against known keys; return its text and the names of the keys whose signature verified.

    Signatures whose (name, key ID) matches no known key are ignored (c2sp.org/signed-note). A known key's
    signature that fails to verify rejects the whole note, and so does a note no known key signed.
    """
    parsed = SignedNote.parse(note)
    known = _index_verifiers(verifiers)
    verified: list[str] = []
    for signature in parsed.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not verifier.verify(parsed.text, signature.signature):
            raise NoteError(f"signature by known key {signature.name}+{signature.key_id.hex()} does not verify")
        if verifier.name not in verified:
            verified.append(verifier.name)
    if not verified:
        raise NoteError(_unverified_message(parsed, known))
    return parsed.text, verified


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        if key in known:
            raise NoteError(f"two verifiers share the name and key ID {verifier.name}+{verifier.key_id.hex()}")
        known[key] = verifier
    return known


def _unverified_message(note: SignedNote, known: dict[tuple[str, bytes], Verifier]) -> str:
    signed_by = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in note.signatures)
    expected = ", ".join(f"{name}+{kid.hex()}" for name, kid in known) or "none"
    return f"note has no signature from a known key: signed by {signed_by}; known keys: {expected}"


# --- checkpoints --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as c2sp.org/tlog-checkpoint writes it: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= _MAX_TREE_SIZE:
            raise NoteError(f"checkpoint tree size must be an integer from 0 to 2^64 - 1, got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise NoteError("checkpoint root hash must be 32 bytes (a SHA-256 tree head)")
        for extension in self.extensions:
            _check_line(extension, "checkpoint extension line")

    def body(self) -> str:
        """The note text: ``<origin>\\n<size>\\n<base64 root>\\n`` and one line per extension."""
        lines = (self.origin, str(self.size), _b64encode(self.root), *self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body strictly, so that ``Checkpoint.parse(b).body() == b`` whenever it succeeds."""
        if not isinstance(body, str) or not body.endswith("\n"):
            raise NoteError("checkpoint body must end in a newline")
        if match := _CONTROL.search(body):
            raise NoteError(f"checkpoint body has control character {match.group()!r} (lines end in a bare newline)")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError(f"checkpoint body needs origin, size and root lines, has {len(lines)} line(s)")
        origin, size, root, *extensions = lines
        if len(size) > len(str(_MAX_TREE_SIZE)) or not _TREE_SIZE.fullmatch(size):
            raise NoteError(f"checkpoint tree size must be decimal without leading zeros, got {size[:30]!r}")
        root_hash = _b64decode(root, "checkpoint root hash")
        if _b64encode(root_hash) != root:
            raise NoteError("checkpoint root hash is not canonically encoded base64")
        return cls(origin, int(size), root_hash, tuple(extensions))


def _check_line(line: str, what: str) -> None:
    if not isinstance(line, str) or not line:
        raise NoteError(f"{what} must be a non-empty string")
    if "\n" in line or _CONTROL.search(line):
        raise NoteError(f"{what} {line[:60]!r} must not contain a newline or control characters")
