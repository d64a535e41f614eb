"""Deterministic synthetic residents of Kabupaten and Kota Tegal, shared by every agency sandbox.

The Dukcapil sandbox registers them; the other sandboxes give the same NIKs health cards, vehicles
and bills, so composite views across agencies are consistent.
"""
