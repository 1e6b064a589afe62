"""Checks: whether Webex directory sync can work, each a verdict with evidence.

A check returns its verdict; it never notifies and never moves an incident. Depends on
:mod:`shared.core`, :mod:`shared.detect` and :mod:`shared.clients`.
"""
