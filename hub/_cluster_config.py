"""What an operator hands out for a hub on a NATS cluster, and the admin's setup of its streams.

`mpp-hub bus credentials --out DIR --node n1=10.0.0.1 ...` writes, with the helpers the embedded bus uses:

- ``DIR/ca.pem``, the bus CA every machine checks the servers against, and ``DIR/ca.key`` (0600), which the
  operator keeps (offline) to issue certificates later; no machine of the cluster gets it;
- per node ``DIR/servers/<name>.pem`` and ``.key`` (0600), a certificate for the node's host and loopback,
  valid for clients and servers so that nodes authenticate each other's routes, and ``DIR/servers/<name>.conf``
  (0600), a complete nats-server configuration: client TLS, the role users with their permissions, JetStream
  encrypted at rest with the node's own key, and a cluster block with mutual-TLS routes to the other nodes;
- per node ``DIR/servers/<name>.jetstream.key`` (0600), that key, which the operator keeps so that the next run
  writes the same one into the node's configuration (a new key could not open the node's store);
- ``DIR/credentials/``, every role's credentials as :func:`hub._credentials.ensure_credentials` makes them; each
  kind of machine gets only its roles' files (:data:`MACHINES`).

Running it again keeps every key and certificate that still fits (a node whose host changed gets a new
certificate), and rewrites the configurations. `mpp-hub bus setup` then creates the hub's streams as the admin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nats.js.client import JetStreamContext

from hub._credentials import (
    ISSUERS_FILE,  # the file names are the credentials module's, not repeated here
    ISSUING_ROLES,
    ensure_credentials,
    ensure_store_key,
    issuer_file,
    public_nkey,
    seed_file,
    write_private,
)
from hub._nats_config import ClusterSettings, TlsFiles, server_config
from hub._pki import CertificateAuthority
from hub._provision import BUCKETS, STREAMS, provision
from hub._roles import Role

__all__ = [
    "DEFAULT_CLIENT_PORT",
    "DEFAULT_CLUSTER_PORT",
    "DEFAULT_STORE_DIR",
    "MACHINES",
    "ClusterConfigError",
    "ClusterFiles",
    "Machine",
    "Node",
    "NodeFiles",
    "Provisioned",
    "cluster_url",
    "parse_node",
    "render_files",
    "render_setup",
    "setup_bus",
    "write_cluster_config",
]

DEFAULT_CLIENT_PORT = 4222
DEFAULT_CLUSTER_PORT = 6222
#: JetStream storage on each node; ``{name}`` becomes the node's name (several nodes on one machine).
DEFAULT_STORE_DIR = "/var/lib/nats/jetstream"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
#: A kept server certificate must stay valid at least this long, else it is issued again.
_RENEW_BEFORE = dt.timedelta(days=30)
_CA_FILES = ("ca.pem", "ca.key")


class ClusterConfigError(ValueError):
    """The nodes asked for, or the directory written to, do not make a cluster; the message says why."""


@dataclass(frozen=True)
class Node:
    """A nats-server of the cluster: its name, the host the others and the clients reach it at, and its ports."""

    name: str
    host: str
    client_port: int = DEFAULT_CLIENT_PORT
    cluster_port: int = DEFAULT_CLUSTER_PORT

    @property
    def client_url(self) -> str:
        return f"tls://{_host_port(self.host, self.client_port)}"

    @property
    def route_url(self) -> str:
        return f"nats-route://{_host_port(self.host, self.cluster_port)}"

    @property
    def bind(self) -> str:
        """Where it listens: a loopback host as it is (a cluster on one machine), else every interface, so that
        processes on the node itself may also use loopback, which its certificate names too."""
        return self.host if _is_loopback(self.host) else "0.0.0.0"


@dataclass(frozen=True)
class Machine:
    """A kind of machine and the role credentials it gets, no more."""

    kind: str
    label: str
    runs: str
    roles: tuple[Role, ...]
    #: It also needs the audit key the workers hash NIKs with (MPP_HUB_AUDIT_KEY, the same everywhere).
    audit_key: bool = True

    @property
    def files(self) -> tuple[str, ...]:
        """Its files in the credentials directory: each role's NATS key and assertion key, and the trusted
        issuers where a worker checks assertions."""
        names: list[str] = []
        for role in self.roles:
            names.append(seed_file(Path(), role).name)
            if role in ISSUING_ROLES:
                names.append(issuer_file(Path(), role).name)
        if Role.WORKER in self.roles:
            names.append(ISSUERS_FILE)
        return tuple(names)


MACHINES = (
    Machine(
        "edge", "edge machines", "`mpp-hub up --nats-url ...`: the HTTP edge and a worker", (Role.EDGE, Role.WORKER)
    ),
    Machine("worker", "worker machines", "`mpp-hub worker`", (Role.WORKER,)),
    Machine(
        "ops",
        "ops workstation",
        "the operator's commands: tail, top, trace (ops); call, services, consumer list, dlq, audit (cli)",
        (Role.OPS, Role.CLI),
    ),
    Machine(
        "admin", "admin (offline)", "kept offline: `mpp-hub bus setup`, consumer add and revoke", (Role.ADMIN,), False
    ),
)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ClusterConfigError(f"--node {spec!r}: {text!r} is not a port (1-65535)")
    return int(text)


def _split_host(rest: str, spec: str) -> tuple[str, list[str]]:
    """``host``, ``host:client:cluster``, ``[v6]:client:cluster`` or a bare IPv6 address."""
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ClusterConfigError(f"--node {spec!r}: an IPv6 host with ports is written [ADDRESS]:PORT:PORT")
        return host, after[1:].split(":") if after else []
    try:
        ipaddress.IPv6Address(rest)
        return rest, []
    except ValueError:
        host, *ports = rest.split(":")
        return host, ports


def parse_node(spec: str, *, client_port: int = DEFAULT_CLIENT_PORT, cluster_port: int = DEFAULT_CLUSTER_PORT) -> Node:
    """``NAME=HOST`` (the default ports) or ``NAME=HOST:CLIENT_PORT:CLUSTER_PORT``."""
    name, equals, rest = spec.partition("=")
    if not equals or not _NAME.fullmatch(name):
        raise ClusterConfigError(
            f"--node {spec!r}: write NAME=HOST (NAME of letters, digits, - and _), e.g. n1=10.0.0.11"
        )
    host, ports = _split_host(rest, spec)
    if not host:
        raise ClusterConfigError(f"--node {spec!r}: no host")
    if len(ports) not in (0, 2):
        raise ClusterConfigError(f"--node {spec!r}: give both ports, HOST:CLIENT_PORT:CLUSTER_PORT, or neither")
    if ports:
        client_port, cluster_port = _port(ports[0], spec), _port(ports[1], spec)
    return Node(name, host, client_port, cluster_port)


def _check_nodes(nodes: Sequence[Node]) -> None:
    if not nodes:
        raise ClusterConfigError("a cluster needs nodes: give --node NAME=HOST for each")
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise ClusterConfigError(f"node names must differ: {', '.join(names)}")
    listeners = [(node.host, port) for node in nodes for port in (node.client_port, node.cluster_port)]
    if len(set(listeners)) != len(listeners):
        raise ClusterConfigError("two listeners on one host share a port: give each node its own ports")


def cluster_url(nodes: Iterable[Node]) -> str:
    """The URL every hub process is given (nats_url): all nodes, so that any one of them is enough."""
    return ",".join(node.client_url for node in nodes)


def _ca(directory: Path) -> CertificateAuthority:
    present = [name for name in _CA_FILES if (directory / name).exists()]
    if len(present) == 1:
        missing = next(name for name in _CA_FILES if name not in present)
        raise ClusterConfigError(
            f"{directory / present[0]} is there but {missing} is not: put {missing} back (it is the operator's, "
            "kept offline) to keep this CA, or remove the CA's files to start a new one that every machine must get"
        )
    return CertificateAuthority(directory).ensure()


def _fits(cert_file: Path, key_file: Path, ca_cert: x509.Certificate, hosts: Sequence[str]) -> bool:
    """Whether a certificate on disk is still good for the node: signed by this CA, for its hosts, with its key
    beside it, and not about to expire."""
    if not (cert_file.exists() and key_file.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    public = cert.public_key()
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey)):
        return False
    if key.public_key().public_numbers() != public.public_numbers():
        return False
    covered = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    covered |= set(names.get_values_for_type(x509.DNSName))
    wanted = {str(ipaddress.ip_address(h)) if _is_ip(h) else h for h in hosts}
    return wanted <= covered and cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > _RENEW_BEFORE


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class NodeFiles:
    node: Node
    cert: Path
    key: Path
    config: Path
    store_key: Path  # the node's JetStream encryption key; its config holds it too


@dataclass(frozen=True)
class ClusterFiles:
    """What :func:`write_cluster_config` wrote (new or changed) and kept (unchanged), relative to ``directory``."""

    directory: Path
    cluster_name: str
    nodes: tuple[NodeFiles, ...]
    credentials: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def url(self) -> str:
        return cluster_url(files.node for files in self.nodes)

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.directory))

    def machine_files(self, machine: Machine) -> list[str]:
        return [self.relative(self.credentials / name) for name in machine.files]

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "cluster": self.cluster_name,
            "nats_url": self.url,
            "written": list(self.written),
            "kept": list(self.kept),
            "ca": {"certificate": "ca.pem", "key": "ca.key", "goes_to": "every machine (ca.pem only: nats_tls_ca)"},
            "nodes": [
                {
                    "name": f.node.name,
                    "host": f.node.host,
                    "client_url": f.node.client_url,
                    "route_url": f.node.route_url,
                    "files": [self.relative(f.config), self.relative(f.cert), self.relative(f.key), "ca.pem"],
                }
                for f in self.nodes
            ],
            "machines": [
                {
                    "kind": m.kind,
                    "runs": m.runs,
                    "roles": [r.value for r in m.roles],
                    "files": self.machine_files(m),
                    "needs_audit_key": m.audit_key,
                }
                for m in MACHINES
            ],
        }


def _node_config(
    node: Node,
    nodes: Sequence[Node],
    tls: TlsFiles,
    credentials: Path,
    *,
    cluster_name: str,
    store_dir: str | None,
    store_key: str,
) -> str:
    users = {role: public_nkey(credentials, role) for role in Role}
    routes = [other.route_url for other in nodes if other is not node]
    # A single node is a plain server (JetStream refuses a cluster of one): the same TLS and users, no routes.
    cluster = ClusterSettings(cluster_name, _host_port(node.bind, node.cluster_port), routes) if routes else None
    text = server_config(
        users=users,
        tls=tls,
        cluster=cluster,
        store_dir=None if store_dir is None else Path(store_dir.replace("{name}", node.name)),
        server_name=node.name,
        store_key=store_key,
    )
    config: dict[str, Any] = {"host": node.bind, "port": node.client_port, **json.loads(text)}
    # JetStream on, stored where the command line says (nats-server refuses store_dir in both places).
    config.setdefault("jetstream", {})
    return json.dumps(config, indent=2) + "\n"


def _snapshot(paths: Iterable[Path]) -> dict[Path, bytes | None]:
    return {path: path.read_bytes() if path.exists() else None for path in paths}


def write_cluster_config(
    directory: Path,
    nodes: Sequence[Node],
    *,
    cluster_name: str = "mpp",
    store_dir: str | None = DEFAULT_STORE_DIR,
    install_dir: Path | None = None,
) -> ClusterFiles:
    """Write (or bring up to date) the CA, each node's certificate and configuration, and the role credentials.

    ``store_dir``: each node's JetStream storage (``{name}`` is the node's name); None leaves it to the
    server's command line (``--store_dir``), as :class:`hub._nats_server.EmbeddedNats` gives it.
    ``install_dir``: where each node keeps ``ca.pem``, ``<name>.pem`` and ``<name>.key``, as its configuration
    names them; by default the files where they are written (absolute).
    """
    _check_nodes(nodes)
    if not _NAME.fullmatch(cluster_name):
        raise ClusterConfigError(f"cluster name {cluster_name!r}: letters, digits, - and _ only")
    directory = directory.resolve()
    servers, credentials = directory / "servers", directory / "credentials"
    planned = [directory / name for name in _CA_FILES]
    planned += [servers / f"{node.name}.{ext}" for node in nodes for ext in ("pem", "key", "conf", "jetstream.key")]
    planned += [credentials / name for name in dict.fromkeys(n for m in MACHINES for n in m.files)]
    before = _snapshot(planned)

    ca = _ca(directory)
    ensure_credentials(credentials)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_file.read_bytes())
    written_nodes = []
    for node in nodes:
        cert, key = servers / f"{node.name}.pem", servers / f"{node.name}.key"
        hosts = (node.host, *_LOOPBACK)
        if not _fits(cert, key, ca_cert, hosts):
            cert, key = ca.issue(node.name, hosts, servers)
        where = install_dir or servers
        tls = TlsFiles(where / cert.name, where / key.name, (install_dir or directory) / ca.cert_file.name)
        # Each node its own key: a node's store is its own (routes replicate in clear, over mutual TLS), and one
        # node's configuration leaking opens no other node's disk.
        key_file = servers / f"{node.name}.jetstream.key"
        store_key = ensure_store_key(key_file)
        config = servers / f"{node.name}.conf"
        text = _node_config(
            node, nodes, tls, credentials, cluster_name=cluster_name, store_dir=store_dir, store_key=store_key
        )
        write_private(config, text)
        written_nodes.append(NodeFiles(node, cert, key, config, key_file))

    after = _snapshot(planned)
    changed = [path for path in planned if after[path] != before[path]]
    return ClusterFiles(
        directory=directory,
        cluster_name=cluster_name,
        nodes=tuple(written_nodes),
        credentials=credentials,
        written=tuple(str(p.relative_to(directory)) for p in changed),
        kept=tuple(str(p.relative_to(directory)) for p in planned if p not in changed),
    )


def render_files(files: ClusterFiles) -> str:
    """The command's report: what was written, and which files go to which machine."""
    lines = [f"Bus of cluster {files.cluster_name!r} ({len(files.nodes)} nodes) in {files.directory}"]
    lines.append(f"  written   {', '.join(files.written) or 'nothing (everything was up to date)'}")
    if files.kept:
        lines.append(f"  kept      {', '.join(files.kept)}")
    lines += ["Hand out:", "  every machine      ca.pem  (nats_tls_ca, MPP_HUB_NATS_TLS_CA)"]
    for f in files.nodes:
        lines.append(
            f"  node {f.node.name:<13} {files.relative(f.config)}, {files.relative(f.cert)}, {files.relative(f.key)}"
            f"  (nats-server --config {f.config.name}; clients at {f.node.client_url})"
        )
    for machine in MACHINES:
        lines.append(f"  {machine.label:<18} {', '.join(files.machine_files(machine))}  ({machine.runs})")
    lines += [
        "  nobody             ca.key: the operator keeps it offline, to issue certificates later",
        "  nobody             servers/<node>.jetstream.key: each node's JetStream encryption key, already in its .conf",
        "                     (0600); keep them with ca.key: a run without them writes new keys no node's store opens",
        "A machine's role files go in one directory, its nats_credentials (MPP_HUB_NATS_CREDENTIALS); all but the",
        "admin also need the audit key (MPP_HUB_AUDIT_KEY), the same on every machine.",
        f"Then, with the admin files: mpp-hub bus setup --nats-url {files.url} --replicas {min(len(files.nodes), 3)}",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Provisioned:
    """A stream or bucket of the hub as the cluster reports it after setup."""

    kind: str  # "stream" or "bucket"
    name: str
    replicas: int
    messages: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def _until_jetstream(js: JetStreamContext, timeout: float) -> None:
    """Until the cluster has elected its JetStream meta leader, i.e. can create streams."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await js.account_info()
            return
        except (nats.errors.Error, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


async def setup_bus(js: JetStreamContext, replicas: int | None, *, timeout: float = 30.0) -> list[Provisioned]:
    """As the admin: create or adopt every stream and bucket (at ``replicas``), and report what exists now."""
    await _until_jetstream(js, timeout)
    await provision(js, replicas)
    found: list[Provisioned] = []
    for kind, names in (
        ("stream", [s.name or "" for s in STREAMS]),
        ("bucket", [f"KV_{b.bucket}" for b in BUCKETS]),
    ):
        for name in names:
            info = await js.stream_info(name)
            found.append(Provisioned(kind, name, info.config.num_replicas or 1, info.state.messages))
    return found


def render_setup(url: str, found: Sequence[Provisioned]) -> str:
    lines = [f"The hub's streams and buckets on {url}:"]
    lines += [f"  {p.kind:<7} {p.name:<22} R{p.replicas}  {p.messages} messages" for p in found]
    return "\n".join(lines)
