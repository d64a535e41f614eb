"""Secrets the hub keeps for itself: the audit key and the local CLI's API key.

Configured values win. A hub on embedded NATS (one machine) may create its own under
``<data_dir>/secrets`` (mode 0600); workers spread over machines must be given the same audit key,
or their audit records could not be searched together.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hub._settings import HubSettings

__all__ = ["MissingSecretError", "audit_key", "cli_key_file", "sandbox_token", "write_secret"]


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
