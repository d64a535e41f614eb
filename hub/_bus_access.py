"""How a process reaches the bus: the NATS URL, the CA that vouches for the server, and its role's credentials.

Every hub process and CLI command connects through :meth:`BusAccess.connect` with the role it acts in: over
TLS, checking the server's certificate against the bus CA, authenticated by the role's nkey, and receiving
replies on the role's own inbox prefix.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import structlog
from nacl.signing import VerifyKey
from nats.aio.client import Client as NATS

from hub._assertions import Issuer, Verifier, subject_key
from hub._credentials import issuer_key, read_seed, trusted_issuers
from hub._roles import Role, inbox_prefix

__all__ = ["BusAccess", "server_list"]

_log = structlog.get_logger("hub.bus")

_CONNECT_TIMEOUT = 5


def _quiet_tls_eof(record: logging.LogRecord) -> bool:
    # nats-py's protocol asks to keep a half-closed socket open, which TLS cannot; asyncio then warns at every
    # close of a TLS connection to NATS, though nothing is wrong.
    return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_quiet_tls_eof)


def server_list(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` as the list nats-py wants: a client given every node of a cluster
    can connect while any one of them is up (it learns the rest from the server, but only once connected)."""
    return [part.strip() for part in url.split(",") if part.strip()]


@dataclass(frozen=True)
class BusAccess:
    """A bus and the credentials to reach it. ``credentials`` is a directory of role credentials
    (see :mod:`hub._credentials`: NATS keys and assertion keys); ``ca_file`` the bus CA's certificate."""

    url: str
    credentials: Path
    ca_file: Path | None
    #: False only on a bus without TLS and users, which only the bench builds (see :meth:`unauthenticated`).
    authenticate: bool = True

    @classmethod
    def unauthenticated(cls, url: str, credentials: Path) -> BusAccess:
        """Plain NATS with no users; caller assertions stay on. Only the bench builds one, to measure what the
        bus's TLS and authentication cost; no setting leads here."""
        return cls(url, credentials, None, authenticate=False)

    def with_url(self, url: str) -> BusAccess:
        return dataclasses.replace(self, url=url)

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext | None:
        if self.ca_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def connect_options(self, role: Role) -> dict[str, Any]:
        """The nats-py ``connect`` arguments that make a connection as ``role``."""
        options: dict[str, Any] = {
            "name": f"mpp-hub-{role.value}",
            "inbox_prefix": inbox_prefix(role),
            # Past nats-py's 2 s: a TLS handshake on a loaded machine must not be cut off and retried in a loop.
            "connect_timeout": _CONNECT_TIMEOUT,
        }
        if self.authenticate:
            options["nkeys_seed_str"] = read_seed(self.credentials, role)
        if self._tls is not None:
            options["tls"] = self._tls
        return options

    def issuer(self, role: Role, audit_key: bytes) -> Issuer:
        """What signs caller assertions as ``role`` (the edge, the CLI, a worker's process steps)."""
        return Issuer(role.value, issuer_key(self.credentials, role), subject_key(audit_key))

    def verifier(
        self, audit_key: bytes, sites: Mapping[str, tuple[VerifyKey, frozenset[str]]] | None = None
    ) -> Verifier:
        """What checks caller assertions against every issuer this bus's credentials trust, and the ``sites``'
        keys (each for its own consumers)."""
        return Verifier(trusted_issuers(self.credentials), subject_key(audit_key), sites)

    async def connect(self, role: Role, **options: Any) -> NATS:
        """A connection as ``role``; ``options`` go to ``nats.connect`` (reconnect policy, callbacks)."""
        defaults = {**self.connect_options(role), "error_cb": _on_nats_error}
        return await nats.connect(server_list(self.url), **{**defaults, **options})


async def _on_nats_error(exc: Exception) -> None:
    # Every connection's, unless its caller says otherwise: nats-py's default logs a traceback for what is routine
    # on a cluster (a node going away, a reconnect refused while it restarts).
    _log.warning("nats connection error", error=type(exc).__name__)
