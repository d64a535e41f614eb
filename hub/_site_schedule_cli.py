"""`mpp-hub site schedule`: the sites' schedule, kept by the hub (placeholder; see hub._site_schedule)."""

from __future__ import annotations

import click

__all__ = ["schedule"]


@click.group()
def schedule() -> None:
    """Where and when each site (a service van, a kiosk) serves, and which services."""
