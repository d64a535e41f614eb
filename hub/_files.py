"""Files that survive a crash or a power cut: written whole or not at all (the witness's state, the hub's
local checkpoint copy)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["TMP_PREFIX", "fsync_dir", "write_atomically"]

#: Prefix of the temporary files a write leaves behind only if the process dies mid-write.
TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644, replace: bool = True) -> None:
    """Write `data` to `path` so that a crash leaves the old content or the new, never a torn file.

    A temporary file in the same directory is written and fsynced, then renamed over `path` (or, with
    ``replace=False``, hard-linked to it, which fails if `path` exists: create-if-absent), and the directory
    is fsynced so the rename itself survives a power cut.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)
