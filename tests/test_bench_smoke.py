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
    # CPU per call, by run and process (from /proc; noisy on a smoke run, but there and >= 0).
    "cpu_us_direct_client",
    "cpu_us_direct_sandbox",
    "cpu_us_bus_hub",
    "cpu_us_bus_nats",
    "cpu_us_bus_sandbox",
    "cpu_us_bus_loader",
    "cpu_us_portal_hub",
    "cpu_us_portal_nats",
    "cpu_us_portal_sandbox",
    "cpu_us_portal_loader",
    "cpu_us_portal_edge",
    "cpu_us_bus_2w_worker_a",
    "cpu_us_bus_2w_worker_b",
    "cpu_us_portal_2e_hub",  # `mpp-hub up --edges 2`: up's process and its child edge together
    "portal_two_edges_speedup",
    "hub_cpu_per_portal_call_us",
    "agency_cpu_per_call_us",
    "hub_cpu_vs_agency",
    "portal_calls_per_core_s",
)
#: Of those, the ones that can only be >= 0 (the edge's is a difference of two readings: noise can make it < 0).
_NON_NEGATIVE = tuple(k for k in _KEYS if k.startswith(("cpu_us_", "hub_cpu", "agency_cpu")) and "edge" not in k)


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
    assert "targets:" in done.stdout and "p50 ms" in done.stdout and "CPU per call" in done.stdout
    figures = json.loads(out.read_text())
    for key in _KEYS:
        assert isinstance(figures[key], int | float) and not isinstance(figures[key], bool), key
    for key in _NON_NEGATIVE:
        assert figures[key] >= 0, (key, figures[key])
