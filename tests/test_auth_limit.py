"""The failed-authentication limiter: per address and per key id, a sliding window, bounded memory."""

from __future__ import annotations

import secrets

import pytest

from hub._auth_limit import AuthFailureLimiter, Tracked, key_id

KEY = "mpp_ab12cd34ef56_" + "S" * 43


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> AuthFailureLimiter:
    return AuthFailureLimiter(clock=clock)


def _fail(limiter: AuthFailureLimiter, times: int, address: str, key: str | None = None) -> None:
    """Fail `times` times as a caller would: each attempt allowed by check, then refused."""
    for _ in range(times):
        assert limiter.check(address, key) is None
        limiter.failed(address, key)


def _random_key_id() -> str:
    return secrets.token_hex(6)  # 12 lowercase hex digits: the shape of a key id


# --- per address ---------------------------------------------------------------------------------


def test_the_21st_failure_from_one_address_in_a_minute_must_wait(limiter: AuthFailureLimiter) -> None:
    """Twenty failures from an address are allowed; the next attempt in the minute gets a Retry-After within it."""
    _fail(limiter, 20, "203.0.113.7")
    wait = limiter.check("203.0.113.7", None)
    assert wait is not None and 0 < wait <= 60


def test_another_address_is_unaffected(limiter: AuthFailureLimiter) -> None:
    """One address over its limit does not hold back another."""
    _fail(limiter, 20, "203.0.113.7")
    assert limiter.check("203.0.113.7", None) is not None
    assert limiter.check("203.0.113.8", None) is None
    assert limiter.check("198.51.100.1", key_id(KEY)) is None


def test_the_wait_is_until_the_oldest_failure_leaves_the_window(limiter: AuthFailureLimiter, clock: FakeClock) -> None:
    """Retry-After is the time until the oldest counted failure ages out; then one more attempt is allowed."""
    _fail(limiter, 1, "203.0.113.7")
    clock.now += 15
    _fail(limiter, 19, "203.0.113.7")
    assert limiter.check("203.0.113.7", None) == pytest.approx(45)
    clock.now += 45
    _fail(limiter, 1, "203.0.113.7")  # the first failure left the window: room for exactly one
    assert limiter.check("203.0.113.7", None) == pytest.approx(15)


def test_the_limit_lifts_after_the_window(limiter: AuthFailureLimiter, clock: FakeClock) -> None:
    """A minute after the last failure the address may try again, and has its whole allowance back."""
    _fail(limiter, 20, "203.0.113.7")
    clock.now += 59.9
    assert limiter.check("203.0.113.7", None) is not None
    clock.now += 0.1
    assert limiter.check("203.0.113.7", None) is None
    _fail(limiter, 20, "203.0.113.7")
    assert limiter.check("203.0.113.7", None) is not None
    assert limiter.tracked() == Tracked(addresses=1, keys=0)


def test_an_ipv6_subscriber_block_is_one_address(limiter: AuthFailureLimiter) -> None:
    """IPv6 addresses in one /64 share a limit (an attacker holds the whole block); another /64 is unaffected."""
    for host in range(20):
        _fail(limiter, 1, f"2001:db8:1:2::{host + 1:x}")
    assert limiter.check("2001:db8:1:2:ffff:ffff:ffff:ffff", None) is not None
    assert limiter.check("2001:db8:1:3::1", None) is None


def test_an_ipv4_mapped_address_counts_as_the_ipv4_address(limiter: AuthFailureLimiter) -> None:
    """A dual-stack server's ::ffff:a.b.c.d is the same client as a.b.c.d."""
    _fail(limiter, 10, "::ffff:203.0.113.7")
    _fail(limiter, 10, "203.0.113.7")
    assert limiter.check("::ffff:203.0.113.7", None) is not None
    assert limiter.check("203.0.113.7", None) is not None


# --- per key -------------------------------------------------------------------------------------


def test_a_key_id_is_limited_across_addresses(limiter: AuthFailureLimiter) -> None:
    """Ten failures for one key id, each from another address, hold back that key from any address."""
    victim = key_id(KEY)
    for host in range(10):
        _fail(limiter, 1, f"198.51.100.{host}", victim)
    wait = limiter.check("192.0.2.1", victim)
    assert wait is not None and 0 < wait <= 60
    assert limiter.check("192.0.2.1", key_id("mpp_zz99zz99zz99_" + "S" * 43)) is None
    assert limiter.check("192.0.2.1", None) is None


def test_the_longer_wait_wins(limiter: AuthFailureLimiter, clock: FakeClock) -> None:
    """An address and a key both over their limits: the caller waits until both have room."""
    _fail(limiter, 10, "203.0.113.7", "aaaaaaaaaaaa")  # the key's window starts now
    clock.now += 30
    _fail(limiter, 10, "203.0.113.7", None)  # the address reaches 20 thirty seconds later
    assert limiter.check("203.0.113.7", None) == pytest.approx(30)
    assert limiter.check("192.0.2.1", "aaaaaaaaaaaa") == pytest.approx(30)
    clock.now += 29
    assert limiter.check("203.0.113.7", "aaaaaaaaaaaa") == pytest.approx(1)


# --- bounded memory ------------------------------------------------------------------------------


def test_memory_stays_bounded_under_random_key_ids_from_many_addresses(
    limiter: AuthFailureLimiter, clock: FakeClock
) -> None:
    """50,000 failures with distinct key ids from distinct addresses leave at most 10,000 entries of each kind."""
    for n in range(50_000):
        limiter.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", _random_key_id())
        clock.now += 0.0001
    assert limiter.tracked() == Tracked(addresses=10_000, keys=10_000)
    _fail(limiter, 10, "192.0.2.1", "aaaaaaaaaaaa")  # at the cap, a new key is still counted and limited
    assert limiter.check("192.0.2.2", "aaaaaaaaaaaa") is not None
    assert limiter.tracked() == Tracked(addresses=10_000, keys=10_000)


def test_one_address_flooding_key_ids_is_stopped_by_its_address(limiter: AuthFailureLimiter) -> None:
    """Fresh key ids do not get an address past its own limit, and the flood stays within the entry cap."""
    allowed = 0
    for _ in range(50_000):
        key = _random_key_id()
        if limiter.check("203.0.113.7", key) is None:
            allowed += 1
            limiter.failed("203.0.113.7", key)
    assert allowed == 20
    assert limiter.tracked() == Tracked(addresses=1, keys=20)


def test_the_entry_that_failed_longest_ago_is_forgotten_first(clock: FakeClock) -> None:
    """Past the cap the oldest failing key is evicted; one that failed since keeps its count."""
    limiter = AuthFailureLimiter(per_key=2, max_entries=3, clock=clock)
    for key in ("aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"):
        _fail(limiter, 2, "192.0.2.1", key)
    limiter.failed("192.0.2.1", "aaaaaaaaaaaa")  # a is now the most recent; b failed longest ago
    limiter.failed("192.0.2.1", "dddddddddddd")  # a fourth key: one must go
    assert limiter.tracked().keys == 3
    assert limiter.check("192.0.2.9", "bbbbbbbbbbbb") is None  # forgotten
    assert limiter.check("192.0.2.9", "aaaaaaaaaaaa") is not None
    assert limiter.check("192.0.2.9", "cccccccccccc") is not None


def test_aged_out_entries_are_dropped_when_checked(limiter: AuthFailureLimiter, clock: FakeClock) -> None:
    """An entry whose failures all left the window is forgotten at the next check of it."""
    _fail(limiter, 3, "203.0.113.7", "aaaaaaaaaaaa")
    clock.now += 60
    assert limiter.check("203.0.113.7", "aaaaaaaaaaaa") is None
    assert limiter.tracked() == Tracked(addresses=0, keys=0)


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings", [{"per_address": 0}, {"per_key": 0}, {"window": 0}, {"window": float("nan")}, {"max_entries": 0}]
)
def test_limits_that_could_never_admit_anyone_are_refused(settings: dict[str, float]) -> None:
    """Zero allowances, a window that is not a positive number of seconds or no room for entries: ValueError."""
    with pytest.raises(ValueError):
        AuthFailureLimiter(**settings)  # type: ignore[arg-type]


def test_the_defaults_are_twenty_per_address_and_ten_per_key_a_minute(clock: FakeClock) -> None:
    """By default an address gets 20 failures and a key id 10, in a 60-second window."""
    limiter = AuthFailureLimiter(clock=clock)
    _fail(limiter, 10, "203.0.113.7", "aaaaaaaaaaaa")
    assert limiter.check("192.0.2.1", "aaaaaaaaaaaa") == pytest.approx(60)
    _fail(limiter, 10, "203.0.113.7", None)
    assert limiter.check("203.0.113.7", None) == pytest.approx(60)


# --- key ids -------------------------------------------------------------------------------------


def test_key_id_is_the_public_part_of_a_well_formed_key() -> None:
    """mpp_<12 lowercase letters/digits>_<secret> gives the 12 characters; the secret may hold '_' and '-'."""
    assert key_id(KEY) == "ab12cd34ef56"
    assert key_id("mpp_000000000000_a_b-c") == "000000000000"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "mpp_ab12cd34ef56_",  # no secret
        "mpp_AB12CD34EF56_secret",  # upper case
        "mpp_ab12cd34ef5_secret",  # 11 characters
        "mpp_ab12cd34ef567_secret",  # 13 characters
        "xyz_ab12cd34ef56_secret",
        "Bearer mpp_ab12cd34ef56_secret",
        "mpp_ab12cd34ef56_secret\n",
        "mpp_ab12cd34ef56_sécret",
        "mpp_ab12cd34ef56_" + "s" * 300,  # too long to be a key
    ],
)
def test_key_id_of_anything_else_is_none(value: str | None) -> None:
    """Input not shaped like a hub API key has no key id, so it is limited by its address only."""
    assert key_id(value) is None
