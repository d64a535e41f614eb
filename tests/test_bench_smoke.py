"""The bench harness runs end to end on real components (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: The keys a later run is compared on; each must be a number.
_KEYS = (
    "nats_rtt_p50_ms",
    "overhead_p50_ms",
    "overhead_vs_nats",
    "fanout_vs_slowest",
    "portal_vs_direct_throughput",
    "two_workers_speedup",
    "idle_rss_mb",
)


# A smoke run on a loaded 2-core machine (another build beside it) has taken 104 s; no figure is judged here.
@pytest.mark.timeout(300)
def test_smoke_run_writes_every_figure(tmp_path: Path, repo_root: Path) -> None:
    """`python -m bench --smoke --json FILE` prints the table and writes the comparison keys as numbers."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=repo_root, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "targets:" in done.stdout and "p50 ms" in done.stdout
    figures = json.loads(out.read_text())
    for key in _KEYS:
        assert isinstance(figures[key], int | float) and not isinstance(figures[key], bool), key
