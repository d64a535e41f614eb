"""The embedded bus as `mpp-hub up` runs it: a nats-server that takes TLS connections from the role users only.

On first start it makes (in ``<data-dir>/secrets/bus``) the bus CA, the credentials of every role and the key
JetStream encrypts its store with (``jetstream.key``), and then on every start a fresh server certificate for the
addresses it listens on. Nothing is configured by hand. The server configuration holds the store key, so it is
written 0600.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hub._bus_access import BusAccess
from hub._credentials import CredentialsError, ensure_credentials, ensure_store_key, public_nkey, write_private
from hub._nats_config import Leafnodes, TlsFiles, server_config
from hub._nats_server import EmbeddedNats
from hub._pki import CertificateAuthority
from hub._roles import Permissions, Role, site_leaf
from hub._settings import HubSettings
from hub._sites import load_sites

__all__ = ["HUB_DOMAIN", "STORE_KEY_FILE", "EmbeddedBus", "bus_access", "bus_secrets"]

#: The hub's JetStream domain once sites connect to it (each site's domain is its name).
HUB_DOMAIN = "hub"

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: In the bus secrets: the key of JetStream's encryption at rest. Lose it and the store cannot be read again.
STORE_KEY_FILE = "jetstream.key"


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
        inherit_fds: Sequence[int] = (),
        leaf_listen: str | None = None,
    ) -> None:
        self.secrets = bus_secrets(data_dir)
        self._data_dir = data_dir
        #: host:port for sites' leaf connections (``sites.leaf_listen``); None: no leaf listener.
        self._leaf_listen = leaf_listen
        self.credentials = self.secrets / "credentials"
        self.ca = CertificateAuthority(self.secrets)
        self._host = host
        self._extra_users = dict(extra_users or {})
        self.nats = EmbeddedNats(
            data_dir / "nats", port=port, host=host, extra_args=extra_args, inherit_fds=inherit_fds
        )

    def _prepare(self) -> None:
        self.ca.ensure()
        ensure_credentials(self.credentials)
        cert, key = self.ca.issue("server", (*_LOOPBACK, self._host), self.secrets)
        users = {role: public_nkey(self.credentials, role) for role in Role}
        # A store an older hub left unencrypted is encrypted by nats-server when it starts with the key (see
        # docs/security.md); a store encrypted with a key that is gone is refused here, before anything runs.
        store_key = ensure_store_key(self.secrets / STORE_KEY_FILE, self.nats.store_dir / "jetstream")
        leafnodes = None
        if self._leaf_listen is not None:
            sites = {site.leaf_nkey: site_leaf(site.name) for site in load_sites(self._data_dir)}
            leafnodes = Leafnodes(self._leaf_listen, sites)
        config = server_config(
            users=users, tls=TlsFiles(cert, key, self.ca.cert_file), extra_users=self._extra_users,
            store_key=store_key, leafnodes=leafnodes, domain=HUB_DOMAIN if leafnodes else None,
        )  # fmt: skip
        self.nats.store_dir.mkdir(parents=True, exist_ok=True)
        self.nats.config_file = self.nats.store_dir / "nats-server.conf"
        write_private(self.nats.config_file, config)

    def _access(self, url: str) -> BusAccess:
        return BusAccess(url.replace("nats://", "tls://", 1), self.credentials, self.ca.cert_file)

    def start(self, timeout: float = 10.0) -> BusAccess:
        self._prepare()
        return self._access(self.nats.start(timeout))

    async def astart(self, timeout: float = 10.0) -> BusAccess:
        self._prepare()
        return self._access(await self.nats.astart(timeout))

    def reload(self) -> None:
        """Write the configuration again (the sites registered since) and have the server read it."""
        self._prepare()
        self.nats.reload()

    async def leaf_url(self) -> str:
        """Where sites connect: tls://host:port of the leaf listener."""
        return f"tls://{await self.nats.leaf_address()}"

    def stop(self) -> None:
        self.nats.stop()

    async def astop(self) -> None:
        await self.nats.astop()
