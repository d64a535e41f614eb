"""hub._note: signed notes, checkpoints and cosignatures, against the published Go vectors and the C2SP specs.

Ed25519 is deterministic, so signing the Go note package's example text with its published test key must give
its published signature byte for byte; that pins the key-string, key-ID, signature-line and note formats at
once. Cosignatures have no published key to check against, so they are pinned by building the signed message
the spec describes by hand and checking the signature over it with PyNaCl directly.
"""

from __future__ import annotations

import base64
import hashlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import VerifyKey

from hub._note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_SIGNATURES,
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    SignedNote,
    add_signatures,
    cosign_note,
    key_id,
    open_note,
    sign_note,
    verifier_from_vkey,
)

# --- published vectors --------------------------------------------------------------------------------------
# golang.org/x/mod/sumdb/note, note_test.go (TestNewSigner, TestSign, TestOpen) and the package documentation.

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# github.com/transparency-dev/formats, note/note_cosigv1_test.go (TestCoSigV1NewVerifier): a native 0x04
# cosignature vkey and a 0x01 vkey whose base64 holds a '+', both with correct key IDs.
REMORA_COSIG_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TEST_VKEY_WITH_PLUS = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"

# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature: the specs' example checkpoint, log signature and
# witness cosignature (no keys are published for them, so only their framing can be checked).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_NOTE = (
    SPEC_BODY
    + "\n"
    + "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo"
    "+zyWE+xeMcTOAYQ8=\n"
    + "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5"
    "nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


@pytest.fixture(scope="module")
def peter() -> NoteSigner:
    return NoteSigner.from_key_string(PETER_SKEY)


def test_go_signer_key_reproduces_published_signature(peter: NoteSigner) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_id.hex() == "c74f20a3"
    assert peter.verifier_key() == PETER_VKEY
    assert peter.key_string() == PETER_SKEY
    assert sign_note(TEXT, peter) == TEXT + "\n" + PETER_SIG


def test_go_open_vectors() -> None:
    peter, enoch = NoteVerifier.from_vkey(PETER_VKEY), NoteVerifier.from_vkey(ENOCH_VKEY)
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == (TEXT, ["PeterNeumann"])  # Enoch's is unknown here: ignored
    assert open_note(note.encode(), [peter, enoch]) == (TEXT, ["PeterNeumann", "EnochRoot"])
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(note, [])
    assert open_note(TEXT + "\n" + PETER_SIG + PETER_SIG, [peter]) == (TEXT, ["PeterNeumann"])


def test_go_malformed_notes() -> None:
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    bad: list[str | bytes] = [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
        TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
        "RZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1),
    ]
    for note in bad:
        with pytest.raises(NoteError):
            open_note(note, [peter])


def test_go_invalid_signature_rejects_note() -> None:
    # Go's TestOpen: four base64 characters inserted into a known key's signature.
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    with pytest.raises(NoteError, match="PeterNeumann\\+c74f20a3 does not verify"):
        open_note(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], [peter])


def test_go_verifier_key_manglings_fail() -> None:
    # Go's TestNewVerifier: every proper substring, and every single-character increment, is rejected.
    assert NoteVerifier.from_vkey(PETER_VKEY).vkey() == PETER_VKEY
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    NoteVerifier.from_vkey(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        with pytest.raises(NoteError):
            NoteVerifier.from_vkey(PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :])
    with pytest.raises(NoteError, match="must hold 1 \\+ 32 bytes"):  # wrong length, adjusted key ID
        NoteVerifier.from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(NoteError, match="unknown type 0x65"):  # unknown algorithm, adjusted key ID
        NoteVerifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_go_signer_key_manglings_fail() -> None:
    # Go's TestNewSigner, likewise.
    for i in range(len(PETER_SKEY) + 1):
        for j in range(i + 1, len(PETER_SKEY) + 1):
            if (i, j) != (0, len(PETER_SKEY)):
                with pytest.raises(NoteError):
                    NoteSigner.from_key_string(PETER_SKEY[i:j])
    for i in range(len(PETER_SKEY)):
        with pytest.raises(NoteError):
            NoteSigner.from_key_string(PETER_SKEY[:i] + chr(ord(PETER_SKEY[i]) + 1) + PETER_SKEY[i + 1 :])


def test_published_vkeys_with_plus_in_base64_and_type_4() -> None:
    plain = verifier_from_vkey(TEST_VKEY_WITH_PLUS)
    assert isinstance(plain, NoteVerifier)
    assert plain.vkey() == TEST_VKEY_WITH_PLUS
    witness = verifier_from_vkey(REMORA_COSIG_VKEY)
    assert isinstance(witness, CosignatureVerifier)
    assert witness.key_id.hex() == "da77ade7"
    assert witness.vkey() == REMORA_COSIG_VKEY
    with pytest.raises(NoteError, match="is a Ed25519 cosignature/v1 \\(0x04\\) key, not a Ed25519 note"):
        NoteVerifier.from_vkey(REMORA_COSIG_VKEY)
    with pytest.raises(NoteError, match="key ID must be 8 hex digits"):
        NoteVerifier.from_vkey(PETER_VKEY.replace("c74f20a3", "c74f 20a3"))


# --- signing and opening ------------------------------------------------------------------------------------


def test_key_id_is_sha256_of_name_newline_type_key(peter: NoteSigner) -> None:
    public = peter.verifier().public_key
    assert key_id("PeterNeumann", ALG_ED25519, public) == hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4]
    assert key_id("PeterNeumann", ALG_COSIGNATURE_V1, public) != peter.key_id


def test_tampering_with_any_text_character_or_signature_byte_fails(peter: NoteSigner) -> None:
    verifier = peter.verifier()
    note = sign_note(TEXT, peter)
    for i, ch in enumerate(TEXT):
        tampered = note[:i] + ("x" if ch != "x" else "y") + note[i + 1 :]
        with pytest.raises(NoteError):
            open_note(tampered, [verifier])
    signature = SignedNote.parse(note).signatures[0]
    for i in range(len(signature.signature)):
        raw = bytearray(signature.signature)
        raw[i] ^= 0x01
        forged = NoteSignature(signature.name, signature.key_id, bytes(raw))
        with pytest.raises(NoteError, match="does not verify"):
            open_note(TEXT + "\n" + forged.line(), [verifier])


def test_unknown_keys_are_ignored_even_sharing_a_name_or_id(peter: NoteSigner) -> None:
    impostor = NoteSigner.generate("PeterNeumann")  # same name, other key: another key ID
    stranger = NoteSigner.generate("example.com/stranger")
    same_id = NoteSignature("example.com/other", peter.key_id, b"\x00" * 64)  # same ID, other name
    note = add_signatures(sign_note(TEXT, impostor, stranger, peter), same_id)
    assert open_note(note, [peter.verifier()]) == (TEXT, ["PeterNeumann"])
    with pytest.raises(NoteError, match=r"signed by PeterNeumann\+.*known keys: PeterNeumann\+c74f20a3"):
        open_note(sign_note(TEXT, impostor), [peter.verifier()])


def test_duplicate_verifiers_are_a_configuration_error(peter: NoteSigner) -> None:
    with pytest.raises(NoteError, match="two verifiers share"):
        open_note(sign_note(TEXT, peter), [peter.verifier(), NoteVerifier.from_vkey(PETER_VKEY)])


def test_generated_keys_round_trip() -> None:
    signer = NoteSigner.generate("log.example/a")
    again = NoteSigner.from_key_string(signer.key_string())
    assert again.verifier_key() == signer.verifier_key()
    assert sign_note(TEXT, again) == sign_note(TEXT, signer)
    # PRIVATE+KEY+<name>+<hash>+<key data>; the key data is base64, which may itself hold (or end in) a "+".
    secret = signer.key_string().split("+", 4)[4]
    assert "PRIVATE" not in repr(signer) and secret not in repr(signer)
    verifier = NoteVerifier.from_vkey(signer.verifier_key())
    assert (verifier.name, verifier.key_id) == (signer.name, signer.key_id)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\tname", "nbsp\u00a0name", "ideographic\u3000space"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        NoteSigner.generate(name)


def test_sign_note_rejects_bad_text(peter: NoteSigner) -> None:
    for text, message in [
        ("abc", "ending in a newline"),
        ("", "ending in a newline"),
        ("bell\x07\n", "control character"),
        ("lone \ud800 surrogate\n", "UTF-8"),
    ]:
        with pytest.raises(NoteError, match=message):
            sign_note(text, peter)
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note(TEXT)


def test_text_may_hold_blank_lines(peter: NoteSigner) -> None:
    # c2sp.org/signed-note: "The note text MAY contain empty lines; the text is separated from the signatures by
    # the last empty line in the note." (the spec's own example text has one)
    for text in ["first\n\nsecond\n", "trailing blank\n\n", "\n"]:
        assert open_note(sign_note(text, peter), [peter.verifier()]) == (text, ["PeterNeumann"])


def test_parse_format_round_trip_and_replacing_signatures(peter: NoteSigner) -> None:
    other = NoteSigner.generate("other.example")
    note = sign_note(TEXT, peter, other)
    parsed = SignedNote.parse(note)
    assert parsed.format() == note
    assert [s.name for s in parsed.signatures] == ["PeterNeumann", "other.example"]
    resigned = add_signatures(note, peter.sign(TEXT))  # Go's Sign: a new signature replaces the same key's
    assert [s.name for s in SignedNote.parse(resigned).signatures] == ["other.example", "PeterNeumann"]
    assert NoteSignature.parse_line(PETER_SIG[:-1]).line() == PETER_SIG


def test_malformed_signature_lines() -> None:
    for line, message in [
        ("- PeterNeumann AAAAAAAA", "em dash"),
        ("\u2014 PeterNeumann", "<key name> <base64 signature>"),
        ("\u2014 PeterNeumann AAAAAA", "not padded standard base64"),
        ("\u2014 PeterNeumann AAAAAA==", "too short"),
        ("\u2014 PeterNeumann AAAA AAAA", "not padded standard base64"),
        ("\u2014 a+b AAAAAAAA", "must not contain"),
        ("\u2014 PeterNeumann QUJDQUJD=", "not padded standard base64"),
    ]:
        with pytest.raises(NoteError, match=message):
            NoteSignature.parse_line(line)


def test_notes_that_are_not_utf8() -> None:
    with pytest.raises(NoteError, match="not valid UTF-8"):
        SignedNote.parse(b"caf\xe9\n\n" + PETER_SIG.encode())
    with pytest.raises(NoteError, match="lone surrogates"):
        SignedNote.parse("caf\udce9\n\n" + PETER_SIG)


_LINE_CHARS = st.characters(blacklist_categories=["Cs"], blacklist_characters="\n") | st.sampled_from(
    string.ascii_letters
)


_HYPOTHESIS_SIGNER = NoteSigner.generate("hypothesis.example")


@settings(max_examples=60, deadline=None, database=None)
@given(lines=st.lists(st.text(_LINE_CHARS, max_size=30), min_size=1, max_size=6))
def test_any_valid_text_round_trips(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    signer = _HYPOTHESIS_SIGNER
    try:
        note = sign_note(text, signer)
    except NoteError as exc:  # only texts with control characters may be refused
        assert "control character" in str(exc)
        return
    assert open_note(note, [signer.verifier()]) == (text, [signer.name])
    assert SignedNote.parse(note).format() == note


# --- cosignatures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def witness() -> CosignatureSigner:
    return CosignatureSigner.generate("witness.example/w1")


def test_cosignature_round_trip(peter: NoteSigner, witness: CosignatureSigner) -> None:
    checkpoint = Checkpoint("example.com/log", 20852163, hashlib.sha256(b"root").digest())
    logged = sign_note(checkpoint.body(), peter)
    cosigned = cosign_note(logged, witness, 1679315147)
    assert cosigned.startswith(logged)
    text, names = open_note(cosigned, [peter.verifier(), witness.verifier()])
    assert (Checkpoint.parse(text), names) == (checkpoint, ["PeterNeumann", "witness.example/w1"])
    assert open_note(cosigned, [witness.verifier()])[1] == ["witness.example/w1"]
    line = next(s for s in SignedNote.parse(cosigned).signatures if s.is_by(witness.verifier()))
    assert witness.verifier().verify_cosignature(text, line.signature) == 1679315147
    assert not line.is_by(peter.verifier())


def test_cosigned_message_is_the_specs(witness: CosignatureSigner) -> None:
    # tlog-cosignature "Ed25519 signed message": the header, the time line, then the checkpoint body.
    signature = witness.cosign(SPEC_BODY, 1679315147)
    assert signature.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + witness.verifier().public_key).digest()[:4]
    assert signature.signature[:8] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()
    VerifyKey(witness.verifier().public_key).verify(message, signature.signature[8:])  # raises if not
    assert len(base64.b64decode(signature.line().split()[-1])) == 4 + 8 + 64


def test_tampered_cosignature_timestamp_fails(witness: CosignatureSigner) -> None:
    signature = witness.cosign(SPEC_BODY, 1679315147)
    later = (1679315148).to_bytes(8, "big") + signature.signature[8:]
    with pytest.raises(NoteError, match="does not verify"):
        witness.verifier().verify_cosignature(SPEC_BODY, later)
    assert not witness.verifier().verify(SPEC_BODY, later)
    forged = NoteSignature(signature.name, signature.key_id, later)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(SPEC_BODY + "\n" + forged.line(), [witness.verifier()])
    too_big = (2**63).to_bytes(8, "big") + signature.signature[8:]
    with pytest.raises(NoteError, match="exceeds 2\\^63 - 1"):
        witness.verifier().verify_cosignature(SPEC_BODY, too_big)
    with pytest.raises(NoteError, match="8 \\+ 64 bytes"):
        witness.verifier().verify_cosignature(SPEC_BODY, signature.signature[:-1])
    with pytest.raises(NoteError, match="does not verify"):
        witness.verifier().verify_cosignature(SPEC_BODY.replace("20852163", "20852164"), signature.signature)


def test_note_key_and_witness_key_are_never_confused(peter: NoteSigner) -> None:
    # The same Ed25519 seed as a 0x01 note key and as a 0x04 witness key has two key IDs, so neither's
    # signatures are even looked at by the other's verifier.
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]  # the base64 itself may hold a '+'
    public = peter.verifier().public_key
    cosig_id = key_id("PeterNeumann", ALG_COSIGNATURE_V1, public).hex()
    cosig_key = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode()
    cosigner = CosignatureSigner.from_key_string(f"PRIVATE+KEY+PeterNeumann+{cosig_id}+{cosig_key}")
    assert cosigner.verifier().public_key == public and cosigner.key_id != peter.key_id
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(sign_note(SPEC_BODY, peter), [cosigner.verifier()])
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(SPEC_BODY + "\n" + cosigner.cosign(SPEC_BODY, 1).line(), [peter.verifier()])
    with pytest.raises(NoteError, match="is a Ed25519 note signature \\(0x01\\) key, not a Ed25519 cosignature"):
        CosignatureSigner.from_key_string(PETER_SKEY)


def test_cosign_refuses_what_is_not_a_checkpoint(witness: CosignatureSigner) -> None:
    with pytest.raises(NoteError, match="checkpoint"):
        witness.cosign(TEXT, 1)
    for timestamp in (-1, 2**63, True, 1.5):
        with pytest.raises(NoteError, match="timestamp"):
            witness.cosign(SPEC_BODY, timestamp)  # type: ignore[arg-type]


def test_spec_cosignature_example_framing() -> None:
    note = SignedNote.parse(SPEC_NOTE)
    assert note.text == SPEC_BODY
    log, cosig = note.signatures
    assert (log.name, len(log.signature)) == ("example.com/behind-the-sofa", 64)
    assert cosig.name == "witness.example.com/w1"
    assert cosig.key_id.hex() == "8d66cf3f"
    assert len(cosig.signature) == 8 + 64
    assert int.from_bytes(cosig.signature[:8], "big") == 1679315147  # the spec's "time 1679315147"
    assert note.format() == SPEC_NOTE


# --- checkpoints --------------------------------------------------------------------------------------------


def test_checkpoint_spec_example_round_trips() -> None:
    checkpoint = Checkpoint.parse(SPEC_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == SPEC_BODY
    with_extensions = Checkpoint("o", 0, bytes(32), ("ext one", "ext two"))
    assert with_extensions.body() == "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next one\next two\n"
    assert Checkpoint.parse(with_extensions.body()) == with_extensions


ROOT_B64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("example.com/log\n1\n" + ROOT_B64, "end in a newline"),
        ("example.com/log\n1\n", "needs origin, size and root"),
        ("\n1\n" + ROOT_B64 + "\n", "origin must be a non-empty"),
        ("o\n01\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n00\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n-1\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n+1\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n 1\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n1.0\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n\u0661\n" + ROOT_B64 + "\n", "without leading zeros"),  # ARABIC-INDIC DIGIT ONE
        ("o\n\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n" + "9" * 5000 + "\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n18446744073709551616\n" + ROOT_B64 + "\n", r"2\^64 - 1"),
        ("o\n1\nAAAA\n", "32 bytes"),
        ("o\n1\n" + ROOT_B64.rstrip("=") + "\n", "base64"),
        ("o\n1\n" + ROOT_B64[:-2] + "J=\n", "canonically"),
        ("o\n1\n" + ROOT_B64 + "\n\nextension\n", "extension line must be a non-empty"),
        ("o\n1\n" + ROOT_B64 + "\nbell\x07\n", "control character"),
        ("o\r\n1\r\n" + ROOT_B64 + "\r\n", "control character '\\\\r'"),
    ],
)
def test_checkpoint_parse_rejects(body: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Checkpoint.parse(body)


def test_checkpoint_constructor_validates() -> None:
    root = bytes(32)
    assert Checkpoint("o", 2**64 - 1, root).size == 2**64 - 1
    for args in [
        ("", 1, root),
        ("a\nb", 1, root),
        ("o", -1, root),
        ("o", True, root),
        ("o", 2**64, root),
        ("o", 1, bytes(31)),
        ("o", 1, "x" * 32),
    ]:
        with pytest.raises(NoteError):
            Checkpoint(*args)  # type: ignore[arg-type]
