"""Plugin discovery: entry points, the contract checks on each plugin, and switching plugins off."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from contracts import AgencyKind, HubError, Resident
from hub import PluginError, load_plugins
from hub._bus_access import BusAccess
from tests.conftest import connect_client, make_hub

ACME_NIK = "3376015203850002"


def install_fake_distribution(site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write what pip would: modules plus ``<name>.dist-info`` with METADATA and entry_points.txt."""
    dist_info = site / f"{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[mpp_hub]\n{lines}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def acme_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ACME plugin installed as a separate distribution on sys.path."""
    install_fake_distribution(
        tmp_path, "acme_registry", {"acme": "acme_plugin"},
        {"acme_plugin": "from tests.plugins.acme_registry import *  # noqa: F403\n"},
    )  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtin_dukcapil_arrives_through_the_entry_point_group() -> None:
    """The built-in plugin is discovered exactly like a third-party one, with its distribution named."""
    found = load_plugins(only={"dukcapil"})
    assert list(found.agencies) == ["dukcapil"]
    assert found.agencies["dukcapil"].kind is AgencyKind.VERTICAL
    info = next(p for p in found.plugins if p.name == "dukcapil")
    assert info.distribution == "mpp-hub"
    assert info.hooks == ("mpp_hub_agency", "mpp_hub_sandbox")
    assert "dukcapil" in found.sandboxes


async def test_third_party_plugin_is_served_without_changing_the_hub(acme_site: Path, bus: BusAccess) -> None:
    """A plugin from another distribution, found via the mpp_hub entry points, answers on the bus."""
    found = load_plugins(only={"acme"})
    assert list(found.agencies) == ["acme"]
    assert next(p for p in found.plugins if p.name == "acme").distribution == "acme_registry"
    hub = make_hub(found, bus, {})
    await hub.start()
    try:
        async with await connect_client(bus, timeout=5) as client:
            resident = await client.call("identity.lookup", {"nik": ACME_NIK})
            assert isinstance(resident, Resident) and resident.full_name == "DEWI LESTARI"
            catalogue = await client.catalogue()
            acme = next(a for a in catalogue.agencies if a.code == "acme")
            assert acme.kind is AgencyKind.REGIONAL and acme.plugin_version == "2.0.0"
            assert [op.name for op in acme.operations] == ["identity.lookup"]
            with pytest.raises(HubError, match="not in the ACME register"):
                await client.call("identity.lookup", {"nik": "3328104505900001"})
    finally:
        await hub.stop()


def test_disabled_plugin_is_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin disabled by configuration is blocked before import."""
    module = f"never_{tmp_path.name}"
    install_fake_distribution(tmp_path, "never", {"never": module}, {module: "raise SystemExit('imported!')"})
    monkeypatch.syspath_prepend(str(tmp_path))
    found = load_plugins(disabled={"never"}, only={"never", "dukcapil"})
    assert list(found.agencies) == ["dukcapil"]
    assert module not in sys.modules


def test_two_plugins_serving_one_operation_both_load(acme_site: Path) -> None:
    """Two agencies serving one operation are two providers of it (tests/test_providers.py serves them)."""
    found = load_plugins(only={"acme", "dukcapil"})
    assert sorted(found.agencies) == ["acme", "dukcapil"]
    assert found.agency_for("identity.lookup") is found.agencies["acme"]  # the first by code


def _broken_plugin(site: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    source = f"""
        from contracts import AgencyKind
        from hub import Agency, Served, hookimpl
        from tests.plugins.acme_registry import AcmeRegister, AcmeSettings, _connect

        @hookimpl
        def mpp_hub_agency():
            return Agency(code="broken", name="Broken", kind=AgencyKind.REGIONAL, version="1.0.0",
                          settings=AcmeSettings, connect=_connect, operations={body})
    """
    module = f"broken_{site.name}"  # unique per test: Python caches imported modules by name
    install_fake_distribution(site, "broken_plugin", {"broken": module}, {module: source})
    monkeypatch.syspath_prepend(str(site))


def test_plugin_built_against_another_contract_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema hash that differs from the hub's contract stops the plugin from loading, with the fix."""
    _broken_plugin(tmp_path, monkeypatch, '{"identity.lookup": Served(AcmeRegister.lookup, "0123456789abcdef")}')
    with pytest.raises(PluginError, match=r"built against identity\.lookup schema 0123456789abcdef"):
        load_plugins(only={"broken"})


def test_plugin_serving_an_operation_outside_the_contract_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every operation a plugin serves must exist in the contract."""
    _broken_plugin(tmp_path, monkeypatch, '{"weather.today": Served(AcmeRegister.lookup, "x")}')
    with pytest.raises(PluginError, match=r"'weather\.today', which is not in the contract"):
        load_plugins(only={"broken"})


def test_plugin_that_fails_to_import_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import error in a plugin is reported with the plugin's name and entry point."""
    install_fake_distribution(tmp_path, "bad", {"bad": "bad_mod"}, {"bad_mod": "raise ImportError('no agency sdk')"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="plugin 'bad' \\(bad_mod\\) failed to import"):
        load_plugins(only={"bad"})


def test_hook_with_a_wrong_signature_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pluggy's validation (unknown hook names, extra arguments) surfaces as a PluginError."""
    source = "from hub import hookimpl\n@hookimpl\ndef mpp_hub_agnecy():\n    return None\n"
    install_fake_distribution(tmp_path, "typo", {"typo": "typo_mod"}, {"typo_mod": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="mpp_hub_agnecy"):
        load_plugins(only={"typo"})


async def test_invalid_plugin_settings_name_the_field_not_the_value(bus: BusAccess) -> None:
    """Missing or wrong plugin settings stop start-up with the field named and no value echoed."""
    hub = make_hub(load_plugins(only={"dukcapil"}), bus, {"dukcapil": {"base_url": "http://x", "password": "hunter2"}})
    with pytest.raises(PluginError) as caught:
        await hub.start()
    message = str(caught.value)
    assert "user_id" in message and "MPP_HUB_PLUGINS__DUKCAPIL__" in message and "hunter2" not in message
