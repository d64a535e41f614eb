"""The hub's performance, measured side by side in one run on real components.

    python -m bench [--quick | --smoke] [--json FILE]

Starts a real nats-server, the four agency sandboxes (each in a process of its own), a raw NATS echo
responder and real `mpp-hub up` / `mpp-hub worker` processes on loopback, then measures the floor (one NATS
round trip), a direct plugin call, the same call through the bus and through the portal API, throughput
by calls in flight and by worker processes, the citizen profile's fan-out, memory, and what the traffic
tap and the audit log cost. Prints a table; --json also writes every figure, for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench._report import ratios, table
from bench._run import run
from bench._sizes import FULL, QUICK, SMOKE
from hub._logging import configure_logging
from hub._loop import run as run_loop


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer calls and shorter runs (about a minute)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: only proves the harness runs (CI)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure to FILE as JSON")
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    configure_logging("warning", "console")  # the plugin called directly in this process logs each call at info

    def say(step: str) -> None:
        print(f"- {step}", file=sys.stderr, flush=True)

    figures = run_loop(run(sizes, say))  # the hub's own loop choice: less of the machine goes to the load
    figures |= ratios(figures)
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
