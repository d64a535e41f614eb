"""Fixtures for plugin authors: a real nats-server, a hub serving only the plugin under test, its sandbox,
and a consumer allowed its operations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import pytest

from hub._bus_access import BusAccess
from hub.testing._bus import TestBus
from hub.testing._harness import Harness, load_target
from hub.testing._suite import Case, Conformance

__all__ = [
    "mpp_api_key",
    "mpp_cases",
    "mpp_hub",
    "mpp_nats_url",
    "mpp_plugin",
    "mpp_samples",
    "mpp_sandbox_url",
    "plugin_reference",
]


def plugin_reference(config: pytest.Config, cls: type | None) -> str:
    """The plugin under test: the test class's ``plugin``, else ``--mpp-plugin``, else the ``mpp_plugin`` ini."""
    reference = getattr(cls, "plugin", "") or config.getoption("mpp_plugin", None) or config.getini("mpp_plugin")
    if not reference:
        raise pytest.UsageError(
            'no plugin under test: set `plugin = "<code>"` on the Conformance subclass, `mpp_plugin = "<code>"` '
            "under [tool.pytest.ini_options], or pass --mpp-plugin <code>"
        )
    return str(reference)


@pytest.fixture(scope="session")
def mpp_nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A real nats-server as `mpp-hub up` runs it (TLS, role users, the hub's streams) on a free loopback port."""
    bus = TestBus(tmp_path_factory.mktemp("mpp-nats"))
    yield bus.start()
    bus.stop()


@pytest.fixture(scope="class")
def mpp_plugin(request: pytest.FixtureRequest) -> str:
    """The reference of the plugin under test (an entry-point name, or ``package.module[:object]``)."""
    return plugin_reference(request.config, request.cls)


@pytest.fixture(scope="class")
def mpp_hub(mpp_plugin: str, mpp_nats_url: BusAccess) -> Iterator[Harness]:
    """A hub serving only the plugin under test, pointed at its sandbox, with logs captured; one per class."""
    harness = Harness(mpp_plugin, load_target(mpp_plugin), mpp_nats_url).start()
    yield harness
    harness.stop()


@pytest.fixture(scope="class")
def mpp_sandbox_url(mpp_hub: Harness) -> str:
    """Where the plugin's sandbox listens (behind the fault injector: ``PUT /_sandbox/faults``)."""
    return mpp_hub.sandbox_url


@pytest.fixture(scope="class")
def mpp_api_key(mpp_hub: Harness) -> str:
    """The API key of a consumer allowed every operation of the plugin under test."""
    return mpp_hub.api_key


@pytest.fixture(scope="class")
def mpp_samples(mpp_hub: Harness) -> Mapping[str, Sequence[str]]:
    """The sandbox's sample identifiers by kind (what ``mpp-hub sandbox sample`` prints)."""
    return mpp_hub.samples()


@pytest.fixture(scope="class")
def mpp_cases(request: pytest.FixtureRequest, mpp_hub: Harness) -> Mapping[str, Case]:
    """The sample requests the Conformance subclass gives, per operation."""
    cls = request.cls
    if cls is None or not issubclass(cls, Conformance):
        return {}
    return dict(cls().cases(mpp_hub.samples(), mpp_hub))
