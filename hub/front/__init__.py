"""The front of house's pages: the waiting-room display board (``/papan``) and the citizen page (``/warga``).

The templates (``papan.html``, ``warga.html``) are served by ``hub._routes_board`` and ``hub._routes_citizen_page``;
``hub.front._hall`` follows the hall's tickets and its emergency notice on the bus for both, and
``hub.front._page`` renders a page under its strict content security policy.
"""
