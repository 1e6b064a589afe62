"""The bounded retry policy (shared/clients/credentials.py) is one class, and its instances share
one set of retried status codes: every per-tenant credential holds two policies (provider mode),
and azure-core builds an ~8 KB set per instance otherwise (16 MB for a thousand tenants)."""

from __future__ import annotations

from shared.clients.credentials import bounded_retry_policy_class


def test_one_class_and_one_set_of_codes_for_every_instance() -> None:
    policy = bounded_retry_policy_class()
    assert bounded_retry_policy_class() is policy
    first, second = policy(), policy(retry_total=2)
    assert first._retry_on_status_codes is second._retry_on_status_codes
    assert 503 in first._retry_on_status_codes and 404 not in first._retry_on_status_codes
    other = policy(retry_on_status_codes=[404])  # a different set of codes is its own
    assert 404 in other._retry_on_status_codes and 404 not in first._retry_on_status_codes
