"""What a site vouches for, checked where the hub checks it: its caller assertions (its own consumers only, its own
key of subject hashes) and the messages it sends (signed by the site the subject names, sealed to the hub)."""

from __future__ import annotations

import base64

import orjson
import pytest
from nacl.signing import SigningKey

from contracts import HubError
from hub._assertions import Issuer, Statement, Verifier, site_subject_key, subject_key
from hub._site_intake import SIGNATURE_HEADER, IntakeKind, IntakeRefused, SiteOpener, SiteSealer, out_subject
from hub._sites import SiteRecord, intake_private_key
from tests.conftest import TEST_AUDIT_KEY

SUBJECTS = subject_key(TEST_AUDIT_KEY)
NIK = "3328011203850001"
VAN, OTHER = SigningKey.generate(), SigningKey.generate()


def _record(name: str, key: SigningKey, prefix: str, letter: str) -> SiteRecord:
    return SiteRecord(
        name=name, prefix=prefix, ticket_letter=letter, consumers=(f"{name}-desk",), leaf_nkey="U" + "A" * 55,
        issuer=base64.b64encode(bytes(key.verify_key)).decode(),
    )  # fmt: skip


SITES = {"van-1": _record("van-1", VAN, "V1", "V"), "van-2": _record("van-2", OTHER, "V2", "W")}


def _verifier() -> Verifier:
    trusted = {name: (site.verify_key, frozenset(site.consumers)) for name, site in SITES.items()}
    return Verifier({}, SUBJECTS, trusted)


def _assert(issuer: Issuer, consumer: str) -> str:
    statement = Statement(data_subject=NIK)
    return issuer.sign(consumer=consumer, operation="identity.lookup", body=b"{}", correlation_id="c1", budget=5,
                       statement=statement)  # fmt: skip


def test_a_site_vouches_for_its_own_consumers_only() -> None:
    issuer = Issuer("site.van-1", VAN, site_subject_key(SUBJECTS, "van-1"))
    verifier = _verifier()
    claims = verifier.check(_assert(issuer, "van-1-desk"), operation="identity.lookup", body=b"{}", correlation_id="c1")
    verifier.check_subject(claims, NIK)
    for consumer in ("van-2-desk", "portal", "desk"):
        with pytest.raises(HubError, match="does not serve consumer"):
            verifier.check(_assert(issuer, consumer), operation="identity.lookup", body=b"{}", correlation_id="c1")


def test_a_site_hashes_subjects_with_its_own_key_not_the_hubs() -> None:
    """A site given the hub's key of subject hashes (or another site's) has its assertions refused."""
    for subjects in (SUBJECTS, site_subject_key(SUBJECTS, "van-2")):
        issuer = Issuer("site.van-1", VAN, subjects)
        claims = _verifier().check(
            _assert(issuer, "van-1-desk"), operation="identity.lookup", body=b"{}", correlation_id="c1"
        )
        with pytest.raises(HubError, match="another data subject"):
            _verifier().check_subject(claims, NIK)


def test_a_sites_key_cannot_sign_as_another_site() -> None:
    forged = Issuer("site.van-2", VAN, site_subject_key(SUBJECTS, "van-2"))  # van-1's key, van-2's name
    with pytest.raises(HubError, match="invalid signature"):
        _verifier().check(_assert(forged, "van-2-desk"), operation="identity.lookup", body=b"{}", correlation_id="c1")


def _sealed(name: str, key: SigningKey) -> tuple[bytes, dict[str, str]]:
    sealer = SiteSealer(name, key, intake_private_key(TEST_AUDIT_KEY).public_key)
    return sealer.seal(IntakeKind.APPLICATION, {"applicant_nik": NIK}, consumer=f"{name}-desk")


def test_the_hub_opens_a_sites_message_and_the_site_cannot() -> None:
    data, headers = _sealed("van-1", VAN)
    assert NIK.encode() not in data  # sealed: what the site keeps names nobody it could read back
    opener = SiteOpener(intake_private_key(TEST_AUDIT_KEY), SITES)
    envelope, payload = opener.open(out_subject("van-1", IntakeKind.APPLICATION), data, headers)
    assert envelope.site == "van-1" and payload == {"applicant_nik": NIK}
    wrong_hub = SiteOpener(intake_private_key(b"another hub's audit key"), SITES)
    with pytest.raises(IntakeRefused, match="does not open"):
        wrong_hub.open(out_subject("van-1", IntakeKind.APPLICATION), data, headers)


def test_a_message_no_site_signed_or_passed_off_as_anothers_is_refused() -> None:
    opener = SiteOpener(intake_private_key(TEST_AUDIT_KEY), SITES)
    data, headers = _sealed("van-1", VAN)
    subject = out_subject("van-1", IntakeKind.APPLICATION)
    tampered = orjson.dumps(orjson.loads(data) | {"consumer": "portal"})
    cases = [
        (subject, data, {}, "not signed"),  # no signature
        (subject, tampered, headers, "not signed"),  # an edited envelope
        (out_subject("van-2", IntakeKind.APPLICATION), data, headers, "not signed by site van-2"),  # another's name
        (out_subject("van-1", IntakeKind.TICKET), data, headers, "names van-1/application"),  # another kind
        (out_subject("van-3", IntakeKind.APPLICATION), data, headers, "no site van-3"),
        ("mpp.site.van-1.application", data, headers, "not a site's intake subject"),
    ]
    for where, body, signed, refusal in cases:
        with pytest.raises(IntakeRefused, match=refusal):
            opener.open(where, body, signed)
    # van-2 re-signing van-1's message under its own name: the envelope still says van-1.
    van2 = base64.b64encode(OTHER.sign(b"mpp-hub site intake v1\n" + data).signature).decode()
    with pytest.raises(IntakeRefused, match="names van-1"):
        opener.open(out_subject("van-2", IntakeKind.APPLICATION), data, {SIGNATURE_HEADER: van2})
