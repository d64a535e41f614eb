"""Talking to a witness (c2sp.org/tlog-witness) from the hub: push a checkpoint, read back what it holds.

- `add_checkpoint` sends ``old <size>``, the consistency proof and the signed checkpoint, and returns the
  witness's cosignature lines; a 409 raises `WitnessConflict` with the witness's size, so the caller can send
  the proof from that size instead.
- `latest` fetches the latest checkpoint a witness cosigned for an origin (the spec's monitoring API,
  ``GET /<sha256 hex of origin>/checkpoint``), or None if it has cosigned none.
- `WitnessConfig` is one configured witness, written ``<url>=<vkey>`` (``audit_witnesses`` in the settings):
  ``http://10.0.0.7:8090=witness-ops1+1f2e3d4c+BD0dUNv...``. The URL is the witness's prefix (http or https,
  no query, no user info); the first '=' ends it. The vkey is the one `mpp-hub witness` prints at start.

Everything the witness answers is checked before use: status codes as the spec gives them, cosignature lines
that parse, and, given the witness's key (`WitnessConfig.verifier`), cosignatures that verify. Errors carry no
more of the witness's text than a short, printable excerpt.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from hub._note import Checkpoint, CosignatureVerifier, NoteError, NoteSignature, SignedNote, open_note

__all__ = [
    "SIZE_CONTENT_TYPE",
    "WitnessConfig",
    "WitnessConfigError",
    "WitnessConflict",
    "WitnessError",
    "WitnessProtocolError",
    "WitnessRefused",
    "WitnessUnavailable",
    "add_checkpoint",
    "latest",
]

#: The Content-Type of a 409 answer (the body is the witness's size for the origin).
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: What a witness may answer; a checkpoint with many cosignatures is a few KiB.
_MAX_ANSWER_BYTES = 64 * 1024
_SIZE_BODY = re.compile(r"(0|[1-9][0-9]{0,19})\n?")
_REASON = re.compile(r"([a-z][a-z0-9-]{0,39}): ")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\uffff]+")


class WitnessError(Exception):
    """A witness did not cosign. `url` is the witness's."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"witness {url}: {message}")
        self.url = url


class WitnessUnavailable(WitnessError):
    """The witness could not be reached, timed out or failed (5xx): try again later."""


class WitnessProtocolError(WitnessError):
    """The witness answered something the protocol does not allow (or a cosignature that does not verify)."""


class WitnessRefused(WitnessError):
    """The witness refused the checkpoint (4xx): `status`, its reason token (e.g. ``inconsistent``), its text."""

    def __init__(self, url: str, status: int, reason: str, message: str) -> None:
        super().__init__(url, f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message


class WitnessConflict(WitnessRefused):
    """409: the old size sent is not the size the witness last cosigned, which is `size`."""

    def __init__(self, url: str, size: int) -> None:
        super().__init__(url, 409, "conflict", f"the witness's latest cosigned checkpoint has size {size}")
        self.size = size


class WitnessConfigError(ValueError):
    """A witness configuration string is not ``<url>=<vkey>``; the message says what is wrong."""


@dataclass(frozen=True)
class WitnessConfig:
    """A witness the hub pushes its checkpoints to: its URL prefix and its cosigning vkey (type 0x04)."""

    url: str
    vkey: str

    def __post_init__(self) -> None:
        _check_url(self.url)
        self.verifier  # noqa: B018  # fails now, not at the first push, if the vkey is not a witness key

    @classmethod
    def parse(cls, text: str) -> WitnessConfig:
        """Parse ``<url>=<vkey>``, e.g. ``https://witness.example:8090=witness-a+1f2e3d4c+BD0d...``."""
        url, equals, vkey = text.strip().partition("=")
        if not equals or not url or not vkey:
            raise WitnessConfigError(
                "a witness is configured as <url>=<vkey>, e.g. http://10.0.0.7:8090=witness-ops1+1f2e3d4c+BD0d... "
                "(the vkey `mpp-hub witness` prints at start)"
            )
        return cls(url.rstrip("/"), vkey)

    @property
    def verifier(self) -> CosignatureVerifier:
        try:
            return CosignatureVerifier.from_vkey(self.vkey)
        except NoteError as exc:
            raise WitnessConfigError(
                f"witness {self.url}: not a witness vkey (<name>+<8 hex digit key ID>+<base64 of 0x04 and an Ed25519 "
                f"public key>): {exc}"
            ) from None

    @property
    def name(self) -> str:
        return self.verifier.name

    def __str__(self) -> str:
        return f"{self.url}={self.vkey}"


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise WitnessConfigError(f"witness URL {url[:80]!r} is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise WitnessConfigError(f"witness URL {url[:80]!r} must be http:// or https:// with a host")
    if parsed.query or parsed.fragment or parsed.userinfo:
        raise WitnessConfigError(f"witness URL {url[:80]!r} must have no query, fragment or user info")


def _excerpt(text: str, limit: int = 200) -> str:
    """A short, printable excerpt of a witness's text, safe to log and to show."""
    cleaned = _UNPRINTABLE.sub(" ", text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def _endpoint(witness_url: str, path: str) -> str:
    return witness_url.rstrip("/") + path


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    text: str


async def _request(client: httpx.AsyncClient, request: httpx.Request, witness_url: str) -> _Answer:
    """Send `request`; read at most 64 KiB of the answer. Transport failures and 5xx are `WitnessUnavailable`."""
    try:
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > _MAX_ANSWER_BYTES:
                    raise WitnessProtocolError(witness_url, f"answer over {_MAX_ANSWER_BYTES} bytes")
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise WitnessUnavailable(witness_url, f"{type(exc).__name__}: {_excerpt(str(exc))}") from exc
    text = body.decode("utf-8", "replace")
    if response.status_code >= 500:
        raise WitnessUnavailable(witness_url, f"HTTP {response.status_code}: {_excerpt(text)}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return _Answer(response.status_code, content_type, text)


def _refused(witness_url: str, answer: _Answer) -> WitnessRefused:
    if match := _REASON.match(answer.text):
        return WitnessRefused(witness_url, answer.status, match.group(1), _excerpt(answer.text[match.end() :]))
    return WitnessRefused(witness_url, answer.status, "refused", _excerpt(answer.text))


def _proof_body(note: str, old_size: int, proof: Sequence[bytes]) -> bytes:
    if isinstance(old_size, bool) or not isinstance(old_size, int) or old_size < 0:
        raise ValueError(f"old_size must be a tree size (an integer >= 0), got {old_size!r}")
    lines = [f"old {old_size}\n"] + [base64.b64encode(bytes(node)).decode() + "\n" for node in proof]
    return ("".join(lines) + "\n" + note).encode("utf-8")


async def add_checkpoint(
    client: httpx.AsyncClient,
    witness_url: str,
    note: str,
    old_size: int,
    proof: list[bytes],
    *,
    verifier: CosignatureVerifier | None = None,
) -> list[str]:
    """Ask the witness at `witness_url` to cosign `note` (a signed checkpoint), proven from `old_size`.

    `proof` is the consistency proof from `old_size` to the checkpoint's size (empty when `old_size` is 0).
    Returns the witness's cosignature lines, each ``— <name> <base64>`` without its newline, ready for
    ``hub._note.add_signatures(note, *map(NoteSignature.parse_line, lines))``. With `verifier` (the witness's
    key, `WitnessConfig.verifier`), only lines by that key are returned, and only after they verify over the
    note's text; the spec has clients ignore cosignatures by unknown keys.

    Raises `WitnessConflict` (with the witness's `size`) on 409, `WitnessRefused` on another 4xx,
    `WitnessUnavailable` when the witness cannot be reached or fails, `WitnessProtocolError` on an answer the
    protocol does not allow.
    """
    request = client.build_request(
        "POST",
        _endpoint(witness_url, "/add-checkpoint"),
        content=_proof_body(note, old_size, proof),
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    answer = await _request(client, request, witness_url)
    if answer.status == 409:
        match = _SIZE_BODY.fullmatch(answer.text)
        if answer.content_type != SIZE_CONTENT_TYPE or not match:
            raise WitnessProtocolError(witness_url, f"409 without a {SIZE_CONTENT_TYPE} size: {_excerpt(answer.text)}")
        raise WitnessConflict(witness_url, int(match.group(1)))
    if answer.status != 200:
        raise _refused(witness_url, answer)
    lines = [line for line in answer.text.split("\n") if line]
    try:
        signatures = [NoteSignature.parse_line(line) for line in lines]
    except NoteError:
        raise WitnessProtocolError(witness_url, "200 whose body is not note signature lines") from None
    if not signatures:
        raise WitnessProtocolError(witness_url, "200 without a cosignature")
    if verifier is None:
        return lines
    text = SignedNote.parse(note).text
    mine = [(line, s) for line, s in zip(lines, signatures, strict=True) if s.is_by(verifier)]
    if not mine:
        raise WitnessProtocolError(witness_url, f"no cosignature by {verifier.name}+{verifier.key_id.hex()}")
    for _, signature in mine:
        if not verifier.verify(text, signature.signature):
            raise WitnessProtocolError(witness_url, f"the cosignature by {verifier.name} does not verify")
    return [line for line, _ in mine]


async def latest(
    client: httpx.AsyncClient, witness_url: str, origin: str, *, verifier: CosignatureVerifier | None = None
) -> str | None:
    """The latest checkpoint the witness cosigned for `origin` (the log's note with the witness's lines).

    None if the witness has cosigned none for that origin (404). The answer must be a signed checkpoint of that
    origin; with `verifier`, it must also carry a valid cosignature by that witness key. Checking the log's own
    signature, and comparing the tree with the log, is the caller's.
    """
    hex_hash = hashlib.sha256(origin.encode("utf-8")).hexdigest()
    request = client.build_request("GET", _endpoint(witness_url, f"/{hex_hash}/checkpoint"))
    answer = await _request(client, request, witness_url)
    if answer.status == 404:
        return None
    if answer.status != 200:
        raise _refused(witness_url, answer)
    note = answer.text
    try:
        checkpoint = Checkpoint.parse(SignedNote.parse(note).text)
    except NoteError:
        raise WitnessProtocolError(witness_url, "the answer is not a signed checkpoint") from None
    if checkpoint.origin != origin:
        raise WitnessProtocolError(witness_url, "the answer is a checkpoint of another origin")
    if verifier is not None:
        try:
            open_note(note, [verifier])
        except NoteError:
            raise WitnessProtocolError(
                witness_url, f"the checkpoint has no valid cosignature by {verifier.name}+{verifier.key_id.hex()}"
            ) from None
    return note
