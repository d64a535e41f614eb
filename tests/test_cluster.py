"""Scale-out on a 3-node NATS cluster: load through the portal API while a worker dies and a node restarts.

The cluster runs as `mpp-hub bus credentials` configures it (TLS for clients, mutual TLS on the routes, one
nkey user per role), set up by the admin with `mpp-hub bus setup`, the hub processes holding their own
roles' credentials only.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests._cluster import run_scenario


async def test_three_workers_on_three_nats_nodes_lose_nothing(tmp_path: Path) -> None:
    report = await run_scenario(tmp_path, seconds=20, callers=4, renewals=8, log=lambda _: None)
    summary = json.dumps(report.summary(), indent=1)
    # The routes: each node routed to both others, its route port deaf to plain TCP and to TLS without a
    # certificate of the bus CA.
    assert report.route_problems() == [], summary
    assert report.calls > 100, summary
    wanted = {"MPP_AUDIT", "MPP_EVENTS", "MPP_PROCESS", "MPP_DLQ", "MPP_TRAFFIC", "KV_mpp_applications"}
    assert wanted <= set(report.provisioned) and set(report.provisioned.values()) == {3}, summary
    assert wanted <= set(report.replicas) and set(report.replicas.values()) == {3}, summary
    assert not report.violations, "\n".join(report.violations[:10]) + summary
    assert report.submitted >= 6 and report.paid == report.submitted, summary
    assert report.lost == [] and report.done == report.paid, summary
    assert report.double_postings == [], summary
