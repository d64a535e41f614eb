"""CPU time of the bench's processes, from /proc (Linux), and what it comes to per call.

CPU seconds per call do not depend on how many cores a machine has or how busy it is the way calls per
second do, so they compare across machines, and 1 / (CPU per call) projects what one core can serve.
A process's figure is its user + system time over all its threads (``/proc/<pid>/stat`` fields 14 and
15, in clock ticks: 10 ms on most kernels, so a run must be long enough for the ticks to add up).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuProbe", "Snapshot", "Watched", "cpu_seconds", "descendants", "tree_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK")

#: CPU seconds by process name, at one moment.
Snapshot = dict[str, float]


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (every thread); with ``reaped_children`` also that of the
    children it has waited for (fields 16 and 17), so a child that ends mid-run still counts."""
    fields = _stat_fields(pid)  # fields[0] is field 3 (state): field N is fields[N - 3]
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended while we looked
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process ``pid`` started that is alive, and theirs in turn (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    pending = _children(pid)
    while pending:
        child = pending.pop()
        found.append(child)
        try:
            pending += _children(child)
        except FileNotFoundError:
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and of every process under it, alive or already waited for."""
    total = cpu_seconds(pid, reaped_children=True)
    for child in descendants(pid):
        try:
            # Only its own time: its children's own are counted as descendants, reaped ones as its cutime.
            total += cpu_seconds(child, reaped_children=True)
        except FileNotFoundError:  # it ended between the listing and the read; its parent reaps it later
            continue
    return total


@dataclass(frozen=True)
class Watched:
    """A process whose CPU a run counts; ``children`` for a launcher whose children do part of its work
    (``mpp-hub up`` with more than one edge process). Never for the bench process: its children are the
    very nats-server, sandboxes and hubs counted apart."""

    pid: int
    children: bool = False


class CpuProbe:
    """CPU seconds of a named set of processes, read before and after a measured run."""

    def __init__(self, watched: Mapping[str, Watched]) -> None:
        self.watched = dict(watched)

    @classmethod
    def of(cls, pids: Mapping[str, int], *, trees: Mapping[str, int] | None = None) -> CpuProbe:
        """``pids`` counted alone, ``trees`` with their children."""
        watched = {name: Watched(pid) for name, pid in pids.items()}
        watched |= {name: Watched(pid, children=True) for name, pid in (trees or {}).items()}
        return cls(watched)

    def snapshot(self) -> Snapshot:
        return {name: tree_cpu_seconds(w.pid) if w.children else cpu_seconds(w.pid) for name, w in self.watched.items()}

    @staticmethod
    def per_call_us(before: Snapshot, after: Snapshot, calls: int) -> dict[str, float]:
        """Microseconds of CPU per call, by process, over ``calls`` calls completed between the snapshots."""
        return {name: round((after[name] - before[name]) / calls * 1e6, 1) if calls else 0.0 for name in before}
