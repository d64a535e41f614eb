"""Settings from TOML and the environment; JSON logs that mask personal data by the contract."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from contracts import BillQuery, Mask
from hub._bus_access import BusAccess
from hub._embedded_bus import EmbeddedBus
from hub._logging import CallValues, configure_logging
from hub._roles import Role
from hub._runtime import EVENTS_STREAM
from hub._settings import load_settings
from hub._streams import NotProvisionedError
from hub.testing._bus import provision_bus
from tests.conftest import make_hub
from tests.test_contract_personal import RESIDENT


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("MPP_HUB_")]:
        monkeypatch.delenv(key)
    (tmp_path / "mpp-hub.toml").write_text(
        'port = 9000\nnats_url = "nats://file:4222"\n[plugins.dukcapil]\nuser_id = "from-file"\npartner = "33"\n'
    )
    return tmp_path


def test_toml_then_environment_then_flags(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment overrides the TOML file, and command-line flags override both."""
    assert load_settings().port == 9000
    monkeypatch.setenv("MPP_HUB_PORT", "9100")
    monkeypatch.setenv("MPP_HUB_PLUGINS__DUKCAPIL__PASSWORD", "from-env")
    settings = load_settings(port=None, nats_url="nats://flag:4222")
    assert settings.port == 9100 and settings.nats_url == "nats://flag:4222"
    assert settings.plugins["dukcapil"] == {"user_id": "from-file", "partner": "33", "password": "from-env"}
    assert settings.sandbox_mode is False  # an external NATS means real agencies unless asked otherwise


def test_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no configuration: embedded NATS on 4222, sandboxes on, HTTP on 8080."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPP_HUB_CONFIG", str(tmp_path / "absent.toml"))
    settings = load_settings()
    assert settings.embedded_nats and settings.sandbox_mode and settings.port == 8080 and settings.nats_port == 4222


def test_logs_are_json_with_personal_data_masked() -> None:
    """A log line carrying a contract model, a NIK field or free text is masked; secrets never print."""
    out = io.StringIO()
    configure_logging("info", "json", out)
    try:
        log = structlog.get_logger("test")
        log.info("resident", resident=RESIDENT, nik="3328104505900001", full_name="SRI WAHYUNI")
        # Free text under a key no contract marks personal (LAPOR!'s package marks `text`: masked whole).
        log.info("agency said", said="NIK 3328104505900001 tidak ditemukan", password=SecretStr("hunter2"))
    finally:
        structlog.reset_defaults()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["nik"] == "3328**********01" and first["full_name"] == "S** W******"
    assert first["resident"]["nik"] == "3328**********01" and first["resident"]["address"]["street"] == "***"
    assert second["said"] == "NIK 3328**********01 tidak ditemukan" and second["password"] == "**********"
    assert "3328104505900001" not in out.getvalue() and "hunter2" not in out.getvalue()


def test_a_call_marked_values_are_hidden_wherever_they_turn_up_in_a_line() -> None:
    """A value the call's request marks personal is masked in any text, under any key: an agency's URL path, or
    its message quoting the value (an account number is no NIK-like run of digits, so only its marker tells)."""
    out = io.StringIO()
    configure_logging("info", "json", out)
    query = BillQuery(virtual_account="8880012345678901234")
    try:
        log = structlog.get_logger("test")
        with CallValues().bound() as call:
            call.add(query)
            log.info("agency unreachable", path="/v1/va/8880012345678901234/status", note="no VA 8880012345678901234")
        log.info("after the call", path="/v1/va/8880012345678901234/status")
    finally:
        structlog.reset_defaults()
    during, after = (json.loads(line) for line in out.getvalue().splitlines())
    masked = Mask(keep_start=4, keep_end=2).apply("8880012345678901234")
    assert during["path"] == f"/v1/va/{masked}/status" and during["note"] == f"no VA {masked}"
    assert after["path"] == "/v1/va/8880012345678901234/status", "outside the call, nothing says the value is personal"


async def test_the_admin_provisions_the_events_stream_and_a_hub_only_binds_to_it(
    bus: BusAccess, tmp_path: Path
) -> None:
    """Provisioning (the admin role's work) creates the JetStream stream for hub events, and doing it again
    is harmless; a hub binds to it. A hub on a bus nobody provisioned refuses to start, naming the fix, and
    creates nothing."""
    from hub import load_plugins

    for _ in range(2):
        await provision_bus(bus)
        hub = make_hub(load_plugins(only=()), bus, {})
        await hub.start()
        info = await hub.nc.jetstream().stream_info(EVENTS_STREAM.name or "")
        await hub.stop()
    assert info.config.subjects == ["mpp.events.>"]

    bare = EmbeddedBus(tmp_path / "bare")
    access = await bare.astart()
    try:
        hub = make_hub(load_plugins(only=()), access, {})
        with pytest.raises(NotProvisionedError, match="mpp-hub bus setup"):
            await hub.start()
        await hub.stop()
        nc = await access.connect(Role.ADMIN)
        try:
            assert await nc.jetstream().streams_info() == []
        finally:
            await nc.close()
    finally:
        await bare.astop()
