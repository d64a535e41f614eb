"""The comparisons a run is judged by, and the table people read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench._scenarios import Figures

__all__ = ["TARGETS", "ratios", "table"]


def _div(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def ratios(figures: Figures) -> Figures:
    """The derived keys: overheads, and the ratios the issue sets targets for."""
    n = figures["sizes"]["in_flight"][-1]
    transport = figures["hub_transport"]
    direct_p50 = figures[f"direct_{transport}_p50_ms"]
    direct_rps = figures[f"direct_{transport}_rps_{n}"]
    overhead = round(figures["bus_p50_ms"] - direct_p50, 3)
    return (
        {
            "overhead_p50_ms": overhead,
            "portal_overhead_p50_ms": round(figures["portal_p50_ms"] - direct_p50, 3),
            "overhead_vs_nats": _div(overhead, figures["nats_rtt_p50_ms"]),
            "fanout_vs_slowest": _div(figures["profile_p50_ms"], figures["parts_max_p50_ms"]),
            "fanout_vs_sum": _div(figures["profile_p50_ms"], figures["parts_sum_p50_ms"]),
            "portal_vs_direct_throughput": _div(figures[f"portal_rps_{n}"], direct_rps),
            "two_workers_speedup": _div(figures[f"bus_rps_{n}_2w"], figures[f"bus_rps_{n}_1w"]),
            "portal_two_workers_speedup": _div(figures[f"portal_2w_rps_{n}"], figures[f"portal_rps_{n}"]),
            "aiohttp_vs_httpcore_direct_throughput": _div(
                figures[f"direct_aiohttp_rps_{n}"], figures[f"direct_httpcore_rps_{n}"]
            ),
        }
        | _cpu_ratios(figures)
        | _two_edges_ratio(figures)
    )


def _two_edges_ratio(figures: Figures) -> Figures:
    n = figures["sizes"]["in_flight"][-1]
    if f"portal_2e_rps_{n}" not in figures:
        return {}
    return {"portal_two_edges_speedup": _div(figures[f"portal_2e_rps_{n}"], figures[f"portal_rps_{n}"])}


def _cpu_ratios(figures: Figures) -> Figures:
    """The hub's CPU per portal call (edge + worker in `mpp-hub up`'s process, and nats-server) against what the
    call costs the agency's side anyway (its sandbox, and a client calling it directly)."""
    hub = round(figures["cpu_us_portal_hub"] + figures["cpu_us_portal_nats"], 1)
    agency = round(figures["cpu_us_direct_sandbox"] + figures["cpu_us_direct_client"], 1)
    return {
        "hub_cpu_per_portal_call_us": hub,
        "agency_cpu_per_call_us": agency,
        "hub_cpu_vs_agency": _div(hub, agency),
        # Calls per second one core could serve for the hub's part alone: the projection per core.
        "portal_calls_per_core_s": round(1e6 / hub) if hub else 0,
    }


@dataclass(frozen=True)
class _Target:
    key: str
    what: str
    met: Callable[[float], bool]
    wanted: str


TARGETS = (
    _Target("overhead_p50_ms", "hub overhead over a direct plugin call, p50", lambda v: v <= 1.5, "<= 1.5 ms"),
    _Target("overhead_vs_nats", "that overhead / raw NATS round trip", lambda v: v <= 2.5, "<= 2.5x"),
    _Target("fanout_vs_slowest", "profile fan-out / slowest part", lambda v: v <= 1.2, "<= 1.2x"),
    _Target("portal_vs_direct_throughput", "portal / direct throughput", lambda v: v >= 0.5, ">= 0.5"),
    _Target("two_workers_speedup", "2 workers / 1 worker throughput", lambda v: v >= 1.7, ">= 1.7x"),
    _Target("hub_cpu_vs_agency", "hub CPU per portal call / (sandbox + direct client)", lambda v: v <= 1.0, "<= 1.0x"),
    _Target("idle_rss_mb", "idle hub RSS, four plugins (MiB)", lambda v: v <= 150, "<= 150"),
    _Target("security_cost_p50_ms", "bus security (TLS, users) over plain NATS, p50", lambda v: v <= 0.3, "<= 0.3 ms"),
    _Target("audit_cost_p50_ms", "audit checkpoints + witness over records only, p50", lambda v: v <= 0.2, "<= 0.2 ms"),
)


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def _fmt(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float | int) else str(value)


#: The table's CPU columns: (heading, the processes summed into it, as named in ``cpu_us_<run>_<process>``).
_CPU_COLUMNS = (
    ("bench", ("client", "loader")),
    ("hub", ("hub", "worker_a")),
    ("worker b", ("worker_b",)),
    ("nats", ("nats",)),
    ("sandbox", ("sandbox",)),
)


def _cpu_row(figures: Figures, what: str, run: str) -> list[str]:
    cells = []
    for _, names in _CPU_COLUMNS:
        found = [figures[f"cpu_us_{run}_{name}"] for name in names if f"cpu_us_{run}_{name}" in figures]
        cells.append(_fmt(round(sum(found), 1)) if found else "")
    hub_side = [figures.get(f"cpu_us_{run}_{name}", 0.0) for name in ("hub", "worker_a", "worker_b", "nats")]
    hub_cell = _fmt(round(sum(hub_side), 1)) if not run.startswith("direct") else ""
    return [what, *cells, hub_cell, _fmt(figures.get(f"cpu_calls_{run}"))]


def _two_edges_split(figures: Figures) -> list[str]:
    if "cpu_us_portal_2e_hub_main" not in figures:
        return []
    children = sorted(k for k in figures if k.startswith("cpu_us_portal_2e_hub_child_"))
    return [
        f"  of the 2-edge hub's {_fmt(figures['cpu_us_portal_2e_hub'])} µs: `mpp-hub up`'s own process "
        f"{_fmt(figures['cpu_us_portal_2e_hub_main'])}, its child edge(s) "
        + ", ".join(_fmt(figures[k]) for k in children)
    ]


def _cpu_block(figures: Figures, other: str) -> list[str]:
    """CPU µs per call by process, one row per throughput run at the comparison point, then the ratio."""
    n = figures["sizes"]["in_flight"][-1]
    runs = [
        ("direct plugin call, httpcore", "direct_httpcore"),
        ("direct plugin call, aiohttp", "direct_aiohttp"),
        ("through the bus, 1 worker", "bus"),
        ("through the portal API, 1 worker", "portal"),
        ("through the bus, 2 workers", "bus_2w"),
        ("through the portal API, 2 workers", "portal_2w"),
        (f"through the portal API, hub on {other}", f"portal_{other}"),
        ("through the portal API, 2 edge processes", "portal_2e"),
    ]
    header = ["", *(heading for heading, _ in _CPU_COLUMNS), "hub side", "calls"]
    rows = [_cpu_row(figures, what, run) for what, run in runs if f"cpu_calls_{run}" in figures]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        f"CPU per call (µs, from /proc; {n} in flight; bench = the direct client or the load generator, "
        "hub = `mpp-hub up`'s process with any it started; hub side = hub + workers + nats):",
        _row(header, widths),
        *(_row(r, widths) for r in rows),
        f"  the edge's part (portal - bus, `mpp-hub up`'s process; derived: edge and worker share it): "
        f"{_fmt(figures['cpu_us_portal_edge'])} µs",
        *_two_edges_split(figures),
        f"hub CPU per portal call (hub process + nats-server) {_fmt(figures['hub_cpu_per_portal_call_us'])} µs; "
        f"the agency's own (sandbox + direct client) {_fmt(figures['agency_cpu_per_call_us'])} µs: ratio "
        f"{_fmt(figures['hub_cpu_vs_agency'])}; one core serves about {_fmt(figures['portal_calls_per_core_s'])} "
        "portal calls/s for the hub's part",
    ]


def table(figures: Figures) -> str:
    n = figures["sizes"]["in_flight"][-1]
    flights = figures["sizes"]["in_flight"]
    other = "httpcore" if figures["hub_transport"] == "aiohttp" else "aiohttp"
    rows: list[list[str]] = []

    def add(what: str, prefix: str | None, rps: str | None = None) -> None:
        p50 = figures.get(f"{prefix}_p50_ms") if prefix else None
        p99 = figures.get(f"{prefix}_p99_ms") if prefix else None
        rows.append([what, _fmt(p50), _fmt(p99), _fmt(figures.get(rps) if rps else None)])

    add("raw NATS request/reply (echo process)", "nats_rtt", f"nats_rps_{n}")
    add("direct plugin call, httpcore", "direct_httpcore", f"direct_httpcore_rps_{n}")
    add("direct plugin call, aiohttp", "direct_aiohttp", f"direct_aiohttp_rps_{n}")
    add(f"through the bus (mpp-hub call), 1 worker [{figures['hub_transport']}]", "bus", f"bus_rps_{n}_1w")
    add("through the bus, 2 workers", None, f"bus_rps_{n}_2w")
    if f"bus_{other}_p50_ms" in figures:
        add(f"through the bus, hub on {other}", f"bus_{other}", None)
    add("through the portal API, 1 worker", "portal", f"portal_rps_{n}")
    add("through the portal API, 2 workers", None, f"portal_2w_rps_{n}")
    if f"portal_2e_rps_{n}" in figures:
        add("through the portal API, 2 edge processes (each a worker)", None, f"portal_2e_rps_{n}")
    if f"portal_{other}_rps_{n}" in figures:
        add(f"through the portal API, hub on {other}", None, f"portal_{other}_rps_{n}")
    added = figures["fanout_added_latency_ms"]
    for op in ("identity.lookup", "health.coverage", "vehicle.list_by_owner"):
        rows.append([f"  {op} alone (+{added:g} ms per agency)", _fmt(figures[f"single_{op}_p50_ms"]), "", ""])
    add("  citizen profile (all three in parallel)", "profile")
    add("traffic tap off (bus, 1 worker)", "tap_off")
    add("traffic tap on", "tap_on")
    add("audit append alone", "audit_append")
    add("bus security on (TLS, role users), in-process hub", "security_secure", "security_secure_rps_16")
    add("bus security off (plain NATS, bench only)", "security_plain", "security_plain_rps_16")
    add("audit with signed checkpoints and a witness", "audit_checkpoints", "audit_checkpoints_rps_16")
    add("audit records only", "audit_records", "audit_records_rps_16")
    header = ["", "p50 ms", "p99 ms", f"req/s @{n}"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [_row(header, widths), *(_row(r, widths) for r in rows)]

    lines += ["", "throughput through the portal API by calls in flight: " + ", ".join(
        f"{k} -> {_fmt(figures.get(f'portal_rps_{k}'))} req/s" for k in flights
    )]  # fmt: skip
    lines += [
        f"memory (RSS) of `mpp-hub up` with four plugins: idle {_fmt(figures['idle_rss_mb'])} MiB, "
        f"after load {_fmt(figures['loaded_rss_mb'])} MiB",
        f"traffic tap cost {_fmt(figures['tap_cost_p50_ms'])} ms p50; hub overhead over direct: bus "
        f"{_fmt(figures['overhead_p50_ms'])} ms, portal {_fmt(figures['portal_overhead_p50_ms'])} ms; "
        f"fan-out / sum of parts {_fmt(figures['fanout_vs_sum'])}",
        f"bus security costs {_fmt(figures['security_cost_p50_ms'])} ms p50, "
        f"{_fmt(figures['security_cost_p99_ms'])} ms p99, throughput x{_fmt(figures['security_throughput_ratio'])} "
        "(req/s column of those two rows: 16 in flight)",
        f"audit checkpoints cost {_fmt(figures['audit_cost_p50_ms'])} ms p50 (round by round "
        f"{_fmt(figures['audit_cost_p50_paired_ms'])} ms), {_fmt(figures['audit_cost_p99_ms'])} ms p99, "
        f"throughput x{_fmt(figures['audit_cost_throughput_ratio'])} (16 in flight), "
        f"{_fmt(figures['audit_cost_cpu_us_per_call'])} µs of CPU per call",
        f"  while timed {figures['audit_checkpoints_signed']} checkpoints were signed (every "
        f"{_fmt(figures['audit_checkpoint_interval_s'])} s), {figures['audit_checkpoints_cosigned']} cosigned by the "
        f"witness; one took {_fmt(figures['audit_checkpoint_ms_p50']) or '-'} ms p50 (signing "
        f"{_fmt(figures['audit_checkpoint_sign_us'])} µs of it); following a record "
        f"{_fmt(figures['audit_follow_record_us'])} µs (tree append {_fmt(figures['audit_tree_append_us'])} µs)",
        "",
        *_cpu_block(figures, other),
        "",
        "targets:",
    ]
    width = max(len(t.what) for t in TARGETS)
    for target in TARGETS:
        value = figures[target.key]
        lines.append(f"  {target.what:<{width}}  {_fmt(value):>8}  {target.wanted:<9} "
                     f"{'met' if target.met(value) else 'NOT MET'}")  # fmt: skip
    lines += [
        "",
        f"{figures['cpus']} CPUs, Python {figures['python']}, load average {figures['load_avg_1m_start']:g} "
        f"at start and {figures['load_avg_1m_end']:g} at end, {figures['duration_s']:g} s",
    ]
    return "\n".join(lines)
