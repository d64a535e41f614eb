"""The scale-out soak: ``python -m tests.soak [--seconds 300] [--callers 8] [--renewals 60] [--json FILE]``.

The same scenario as tests/test_cluster.py, as long as you like: a secured cluster as `mpp-hub bus credentials`
configures it (TLS for clients, mutual TLS on the routes, role users), set up by `mpp-hub bus setup`. Prints
the figures docs/reliability.md reports, and fails on any problem, the routes' security included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from tests._cluster import run_scenario


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--callers", type=int, default=8, help="portal clients making sync calls")
    parser.add_argument("--renewals", type=int, default=40, help="vehicle tax renewals submitted and paid")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpp-soak-") as root:
        report = asyncio.run(
            run_scenario(Path(root), seconds=args.seconds, callers=args.callers, renewals=args.renewals)
        )
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    problems = [*report.route_problems(), *report.violations[:20], *report.lost, *report.double_postings]
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
