"""The front of house on the web: the waiting-room display board (``/papan``, ``hub._routes_board``) and the
citizen page (``/warga``, ``hub._routes_citizen_page``), both following one watch of the hall (``hub.front._hall``).
"""

from __future__ import annotations

from fastapi import APIRouter

from hub._routes_board import board_router
from hub._routes_citizen_page import citizen_page_router
from hub._routes_common import EdgeContext
from hub.front._hall import Hall

__all__ = ["front_router"]


def front_router(context: EdgeContext) -> APIRouter:
    """The board's and the citizen page's routes, over this edge's one view of the hall."""
    hall = Hall(context.edge.nc, context.edge.queue.services)
    router = APIRouter()
    router.include_router(board_router(context.door, hall))
    router.include_router(citizen_page_router(context, hall))
    return router
