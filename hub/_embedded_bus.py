"""The embedded bus as `mpp-hub up` runs it: a nats-server that takes TLS connections from the role users only.

On first start it makes (in ``<data-dir>/secrets/bus``) the bus CA, the credentials of every role, and then on
every start a fresh server certificate for the addresses it listens on. Nothing is configured by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hub._bus_access import BusAccess
from hub._credentials import CredentialsError, ensure_credentials, public_nkey
from hub._nats_config import TlsFiles, server_config
from hub._nats_server import EmbeddedNats
from hub._pki import CertificateAuthority
from hub._roles import Permissions, Role
from hub._settings import HubSettings

__all__ = ["EmbeddedBus", "bus_access", "bus_secrets"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def bus_secrets(data_dir: Path) -> Path:
    """Where a hub on ``data_dir`` keeps its bus CA and role credentials."""
    return data_dir / "secrets" / "bus"


def bus_access(settings: HubSettings, url: str) -> BusAccess:
    """How this machine's processes reach the bus at ``url``: the configured credentials and CA, else the ones
    `mpp-hub up` made in the data dir."""
    credentials = settings.nats_credentials or bus_secrets(settings.data_dir) / "credentials"
    ca_file = settings.nats_tls_ca or bus_secrets(settings.data_dir) / "ca.pem"
    if not credentials.is_dir():
        raise CredentialsError(
            f"no bus credentials in {credentials}: set nats_credentials (MPP_HUB_NATS_CREDENTIALS) to the directory "
            "`mpp-hub bus credentials` wrote for this machine, or start `mpp-hub up` here first"
        )
    if not ca_file.is_file():
        raise CredentialsError(
            f"no bus CA certificate at {ca_file}: set nats_tls_ca (MPP_HUB_NATS_TLS_CA) to the CA the NATS servers' "
            "certificates are signed by"
        )
    return BusAccess(url, credentials, ca_file)


class EmbeddedBus:
    """A secured :class:`EmbeddedNats`; ``extra_users`` (public nkey -> permissions) is for tests that add a
    user of their own, such as a capture-only one."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = -1,
        extra_users: Mapping[str, Permissions] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.secrets = bus_secrets(data_dir)
        self.credentials = self.secrets / "credentials"
        self.ca = CertificateAuthority(self.secrets)
        self._host = host
        self._extra_users = dict(extra_users or {})
        self.nats = EmbeddedNats(data_dir / "nats", port=port, host=host, extra_args=extra_args)

    def _prepare(self) -> None:
        self.ca.ensure()
        ensure_credentials(self.credentials)
        cert, key = self.ca.issue("server", (*_LOOPBACK, self._host), self.secrets)
        users = {role: public_nkey(self.credentials, role) for role in Role}
        config = server_config(users=users, tls=TlsFiles(cert, key, self.ca.cert_file), extra_users=self._extra_users)
        self.nats.store_dir.mkdir(parents=True, exist_ok=True)
        self.nats.config_file = self.nats.store_dir / "nats-server.conf"
        self.nats.config_file.write_text(config)

    def _access(self, url: str) -> BusAccess:
        return BusAccess(url.replace("nats://", "tls://", 1), self.credentials, self.ca.cert_file)

    def start(self, timeout: float = 10.0) -> BusAccess:
        self._prepare()
        return self._access(self.nats.start(timeout))

    async def astart(self, timeout: float = 10.0) -> BusAccess:
        self._prepare()
        return self._access(await self.nats.astart(timeout))

    def stop(self) -> None:
        self.nats.stop()

    async def astop(self) -> None:
        await self.nats.astop()
