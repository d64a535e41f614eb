"""Hub settings from the environment (``MPP_HUB_*``) and a TOML file (``mpp-hub.toml``).

Precedence, highest first: explicit overrides (command-line flags), environment variables,
the TOML file, defaults. Per-plugin settings live under ``[plugins.<code>]`` in TOML or in
``MPP_HUB_PLUGINS__<CODE>__<FIELD>`` variables, and are validated by the plugin's own model.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from contracts import ErrorCode, HubError
from hub._front import FrontSettings
from hub._purposes import DEFAULT_PURPOSES, Purpose, PurposeCode

__all__ = ["DEFAULT_PURPOSES", "HubSettings", "load_settings"]

DEFAULT_CONFIG_FILE = "mpp-hub.toml"
# How tomllib ends the message of a syntax error (Python 3.11 gives no line or column attributes).
_TOML_WHERE = re.compile(r"^(?P<what>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def _not_zero(port: int) -> int:
    if port == 0:
        raise ValueError("0 is not a port nats-server takes: give 1-65535, or -1 for any free port")
    return port


#: 0 lets the system pick a free port (how tests embed the hub); the command line asks for 1-65535.
Port = Annotated[int, Field(ge=0, le=65535)]
NatsPort = Annotated[int, Field(ge=-1, le=65535), AfterValidator(_not_zero)]


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MPP_HUB_", env_nested_delimiter="__", extra="forbid", frozen=True)

    nats_url: str | None = Field(
        default=None,
        description="Join this NATS server or cluster (several URLs separated by commas); unset: start an "
        "embedded nats-server.",
    )
    nats_port: NatsPort = Field(default=4222, description="Client port of the embedded nats-server (-1: any free).")
    nats_host: str = Field(
        default="127.0.0.1", description="Address the embedded nats-server binds (loopback unless set; not --host)."
    )
    nats_credentials: Path | None = Field(
        default=None,
        description="Directory of this machine's bus role credentials (`mpp-hub bus credentials` writes them); "
        "default: <data_dir>/secrets/bus/credentials, made by `mpp-hub up` for its embedded NATS.",
    )
    nats_tls_ca: Path | None = Field(
        default=None, description="The bus CA certificate the NATS servers' certificates are checked against; "
        "default: <data_dir>/secrets/bus/ca.pem.",
    )  # fmt: skip
    sites_leaf_listen: str | None = Field(
        default=None,
        description="host:port where the embedded nats-server takes sites' leaf connections (vans, kiosks; "
        "docs/sites.md), TLS and one nkey per site; unset: no sites. Loopback unless set to another address.",
    )
    data_dir: Path = Field(default=Path(".mpp-hub"), description="Embedded NATS storage and hub state.")
    host: str = Field(default="127.0.0.1", description="Address of the HTTP edge (the portal API) only.")
    sandbox_host: str = Field(default="127.0.0.1", description="Address the agency sandboxes bind (loopback).")
    port: Port = Field(default=8080, description="HTTP port of the portal API and /healthz.")
    edge_processes: int = Field(
        default=1, ge=1, le=64,
        description="`mpp-hub up`: processes serving the portal on the one port (SO_REUSEPORT from 2 on), each a "
        "worker too; for machines with more cores.",
    )  # fmt: skip
    metrics_port: Port | None = Field(default=None, description="`mpp-hub worker`: serve /metrics on this port.")
    sandbox: bool | None = Field(
        default=None, description="Run agency sandboxes; default on with embedded NATS, off with nats_url."
    )
    disabled_plugins: list[str] = Field(default_factory=list, description="Plugins never to load.")
    load_plugins: list[str] | None = Field(default=None, description="If set, the only plugins to load.")
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-plugin settings.")
    sandbox_faults: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Sandbox mode: faults each agency's sandbox starts with, by agency code, as for "
        "PUT /_sandbox/faults (e.g. {'dukcapil': {'latency_ms': 800, 'error_rate': 0.1}}).",
    )
    stream_replicas: int | None = Field(
        default=None, ge=1, le=5,
        description="Replicas of the hub's JetStream streams and buckets (3 on a 3-node cluster); unset: 1 for "
        "new ones, existing ones as they are.",
    )  # fmt: skip
    request_timeout: float = Field(default=10.0, gt=0, description="Seconds a caller waits for an operation.")
    profile_budget: float = Field(default=3.0, gt=0, description="Seconds the citizen profile waits for its parts.")
    purposes: dict[PurposeCode, Purpose] = Field(
        default_factory=lambda: dict(DEFAULT_PURPOSES),
        min_length=1,
        description="Purposes of access a caller may state (X-Purpose) for operations on personal data, by code: "
        "each with its description, legal basis and the operations it covers (docs/purposes-and-rights.md).",
    )
    front: FrontSettings = Field(
        default_factory=FrontSettings,
        description="The front of house: queue services and their ticket prefixes, desks, booking hours "
        "(docs/front-of-house.md).",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="Key of the audit log's NIK hashes; the same on every worker (default: <data_dir>/secrets).",
    )
    api_key: SecretStr | None = Field(default=None, description="The API key `mpp-hub call` and friends present.")
    purpose: str | None = Field(default=None, description="The purpose `mpp-hub call` states, unless --purpose.")
    resilience: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-agency overrides of the plugin's retry/circuit/bulkhead policy."
    )
    traffic_tap: bool = Field(default=True, description="Publish a masked summary of every exchange (ops views).")
    audit_witnesses: list[str] = Field(
        default_factory=list,
        description="Witnesses that cosign the audit log's checkpoints, each as URL=VKEY (the witness prints its "
        "vkey); `mpp-hub audit verify` checks the log against what they hold.",
    )
    audit_checkpoint_interval: float = Field(
        default=5.0, gt=0, le=3600, description="Seconds between signed checkpoints of the audit log while it grows."
    )
    http_transport: Literal["httpcore", "aiohttp"] = Field(
        default="aiohttp", description="Transport under the agencies' httpx clients (chosen by `python -m bench`)."
    )
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("purposes", mode="before")
    @classmethod
    def _purposes_by_code(cls, value: Any) -> Any:
        # The old form, a list of codes, still reads: each must be a default purpose, which brings its legal basis.
        if not isinstance(value, list):
            return value
        unknown = [code for code in value if code not in DEFAULT_PURPOSES]
        if unknown:
            raise ValueError(
                f"{', '.join(map(str, unknown))}: not a default purpose, so no legal basis is known; list purposes "
                "as tables instead ([purposes.<code>] with description, legal_basis and operations)"
            )
        return {code: DEFAULT_PURPOSES[code] for code in value}

    @property
    def embedded_nats(self) -> bool:
        return self.nats_url is None

    @property
    def sandbox_mode(self) -> bool:
        return self.embedded_nats if self.sandbox is None else self.sandbox

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("MPP_HUB_CONFIG", DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, _toml_source(settings_cls, toml_file))


def _toml_source(settings_cls: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    """The settings file's source (it reads the file at once): a file it cannot read is one line saying why."""
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_WHERE.match(str(exc))
        where = f"{path}, line {found['line']}, column {found['column']}" if found else str(path)
        problem = f"{where}: not valid TOML: {found['what'] if found else exc}"
    except UnicodeDecodeError as exc:
        problem = f"{path}: not UTF-8 text (byte {exc.start}), as TOML must be"
    except OSError as exc:
        problem = f"{path}: cannot be read: {exc.strerror or exc}"
    raise HubError.of(ErrorCode.INVALID_INPUT, f"{problem}; fix it, or point MPP_HUB_CONFIG at another file")


def load_settings(**overrides: Any) -> HubSettings:
    """Settings from file and environment, with command-line ``overrides`` (None means not given)."""
    return HubSettings(**{key: value for key, value in overrides.items() if value is not None})
