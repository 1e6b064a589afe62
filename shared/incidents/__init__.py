"""Incidents: the table rows, the one lifecycle state machine and the once-per-channel deliveries.

Depends on :mod:`shared.core`, :mod:`shared.clients` and :mod:`shared.notify`.
"""
