"""nats-server configuration for the hub's bus: TLS on every listener, and the role users with their permissions.

The file is JSON, which nats-server's configuration format accepts as it is; quoting every string also keeps
``$JS.API...`` subjects from being read as variables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub._credentials import STORE_CIPHER
from hub._roles import Permissions, Role, permissions

__all__ = ["ClusterSettings", "LeafRemote", "Leafnodes", "TlsFiles", "authorization_block", "server_config"]

# Seconds for a client's TLS handshake and CONNECT: a busy 2-core machine (a kiosk PC, CI) can take over the
# server's default 2 s, and a handshake cut off there leaves the client retrying against the same wall.
_TLS_TIMEOUT = 5.0
_MAX_RESPONSES = 256


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class ClusterSettings:
    """A node's place in a cluster: its route listener and the other nodes' routes, all over mutual TLS."""

    name: str
    listen: str
    routes: Sequence[str] = ()


@dataclass(frozen=True)
class Leafnodes:
    """The hub's listener for sites' leaf connections, and each site's user (public nkey -> permissions)."""

    listen: str
    users: Mapping[str, Permissions]


@dataclass(frozen=True)
class LeafRemote:
    """A site's link to the hub: the hub's leaf URL, the site's nkey seed, and the CA the hub's certificate is
    signed by."""

    url: str
    seed: str
    ca: Path


def _permissions(perms: Permissions) -> dict[str, Any]:
    block: dict[str, Any] = {
        "publish": {"allow": list(perms.publish)},
        "subscribe": {"allow": list(perms.subscribe)},
    }
    if perms.allow_responses:
        # One worker connection serves every agency, and each agency's service answers discovery ($SRV.INFO)
        # on its own: so one request may get one answer per agency from the same connection.
        block["allow_responses"] = {"max": _MAX_RESPONSES, "expires": "2m"}
    return block


def authorization_block(
    users: Mapping[Role, str],
    extra: Mapping[str, Permissions] | None = None,
    leaf_users: Mapping[str, Permissions] | None = None,
) -> dict[str, Any]:
    """``authorization`` with one user per role (by public nkey), any ``extra`` users (nkey -> permissions), and
    the sites' ``leaf_users``, who may connect as a leaf node only (never as a client)."""
    entries = [{"nkey": nkey, "permissions": _permissions(permissions(role))} for role, nkey in users.items()]
    entries += [{"nkey": nkey, "permissions": _permissions(perms)} for nkey, perms in (extra or {}).items()]
    entries += [
        {"nkey": nkey, "permissions": _permissions(perms), "allowed_connection_types": ["LEAFNODE"]}
        for nkey, perms in (leaf_users or {}).items()
    ]
    return {"users": entries, "timeout": _TLS_TIMEOUT}


def _tls(files: TlsFiles, *, verify: bool) -> dict[str, Any]:
    return {
        "cert_file": str(files.cert),
        "key_file": str(files.key),
        "ca_file": str(files.ca),
        "verify": verify,
        "timeout": _TLS_TIMEOUT,
    }


def server_config(
    *,
    users: Mapping[Role, str],
    tls: TlsFiles,
    extra_users: Mapping[str, Permissions] | None = None,
    cluster: ClusterSettings | None = None,
    store_dir: Path | None = None,
    server_name: str | None = None,
    store_key: str | None = None,
    domain: str | None = None,
    leafnodes: Leafnodes | None = None,
    leaf_remote: LeafRemote | None = None,
) -> str:
    """The configuration text. Clients must use TLS and an nkey; cluster routes must present a CA-signed cert.

    With ``store_key``, JetStream encrypts what it stores (messages, headers, stream and consumer metadata) with
    it: the text is then a secret, to be written 0600 (:func:`hub._credentials.write_private`) and never logged.
    """
    config: dict[str, Any] = {
        # Clients authenticate by nkey, not by certificate: TLS here encrypts and proves the server.
        "tls": _tls(tls, verify=False),
        "authorization": authorization_block(users, extra_users, leafnodes.users if leafnodes else None),
    }
    if server_name:
        config["server_name"] = server_name
    jetstream: dict[str, Any] = {} if store_dir is None else {"store_dir": str(store_dir)}
    if store_key is not None:
        jetstream |= {"cipher": STORE_CIPHER, "key": store_key}
    if domain is not None:
        # A site's JetStream is its own domain: the hub reaches it as $JS.<domain>.API, and neither side's
        # $JS.API crosses the leaf connection.
        jetstream["domain"] = domain
    if jetstream:
        config["jetstream"] = jetstream
    if cluster is not None:
        config["cluster"] = {
            "name": cluster.name,
            "listen": cluster.listen,
            "routes": list(cluster.routes),
            "tls": _tls(tls, verify=True),
        }
    if leafnodes is not None:
        # Leaf users are among the authorization users above (allowed the LEAFNODE connection type only).
        config["leafnodes"] = {"listen": leafnodes.listen, "tls": _tls(tls, verify=False), "no_advertise": True}
    if leaf_remote is not None:
        # Only the configured URL: a site reaches the hub the way its operator set up (a relay, a VPN), never by
        # an address the hub's servers advertise.
        remote = {
            "url": leaf_remote.url, "nkey": leaf_remote.seed, "tls": {"ca_file": str(leaf_remote.ca)},
            "ignore_discovered_servers": True,
        }  # fmt: skip
        config["leafnodes"] = {"remotes": [remote], "reconnect": 1}
    return json.dumps(config, indent=2) + "\n"
