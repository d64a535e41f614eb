"""Secrets the hub keeps for itself: the audit key and the local CLI's API key.

Configured values win. A hub on embedded NATS (one machine) may create its own under
``<data_dir>/secrets`` (mode 0600); workers spread over machines must be given the same audit key,
or their audit records could not be searched together.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hub._note import NoteSigner, NoteVerifier
from hub._settings import HubSettings

__all__ = [
    "MissingSecretError",
    "audit_key",
    "audit_log_signer",
    "audit_log_vkey",
    "checkpoint_file",
    "cli_key_file",
    "sandbox_token",
    "write_secret",
]


class MissingSecretError(RuntimeError):
    """A secret the hub needs is not configured; the message says how to configure it."""


def _secrets_dir(settings: HubSettings) -> Path:
    return settings.data_dir / "secrets"


def cli_key_file(settings: HubSettings) -> Path:
    return _secrets_dir(settings) / "cli.key"


def write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


def audit_key(settings: HubSettings) -> bytes:
    if settings.audit_key is not None:
        return settings.audit_key.get_secret_value().encode()
    path = _secrets_dir(settings) / "audit.key"
    if path.exists():
        return path.read_text().strip().encode()
    if not settings.embedded_nats:
        raise MissingSecretError(
            "no audit key: set MPP_HUB_AUDIT_KEY (or audit_key in mpp-hub.toml) to the same secret on every "
            "hub worker, or put it in " + str(path)
        )
    write_secret(path, secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def sandbox_token(settings: HubSettings) -> str:
    """The token the sandboxes' ``/_sandbox/*`` admin routes want (``Authorization: Bearer``), made once."""
    path = _secrets_dir(settings) / "sandbox.token"
    if not path.exists():
        write_secret(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def _log_key_file(settings: HubSettings) -> Path:
    return _secrets_dir(settings) / "audit-log.key"


def audit_log_signer(settings: HubSettings) -> NoteSigner:
    """The key that signs the audit log's checkpoints, made once; its name is the log's origin.

    The origin names this log for ever (witnesses and receipts know it by that name), so it is random once
    and then kept with the key, never derived from a host name that may change.
    """
    path = _log_key_file(settings)
    if not path.exists():
        signer = NoteSigner.generate(f"mpp-hub.audit/{secrets.token_hex(6)}")
        write_secret(path, signer.key_string())
        _public_file(settings).write_text(signer.verifier_key() + "\n")
    return NoteSigner.from_key_string(path.read_text().strip())


def _public_file(settings: HubSettings) -> Path:
    return _secrets_dir(settings) / "audit-log.pub"


def audit_log_vkey(settings: HubSettings) -> NoteVerifier:
    """The log's public key (what witnesses, `audit verify` and receipt checkers trust)."""
    path = _public_file(settings)
    if not path.exists():
        if not _log_key_file(settings).exists():
            raise MissingSecretError(
                f"no audit log key in {_secrets_dir(settings)}: `mpp-hub up` makes it on its first start, "
                "or copy audit-log.pub from the hub that signs the checkpoints"
            )
        return audit_log_signer(settings).verifier()
    return NoteVerifier.from_vkey(path.read_text().strip())


def checkpoint_file(settings: HubSettings) -> Path:
    """The local copy of the latest signed checkpoint, beside the key (outside NATS)."""
    return _secrets_dir(settings) / "audit-checkpoint.json"
