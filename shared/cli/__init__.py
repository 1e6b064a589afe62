"""``python -m shared.cli classify|render|check|demo``: the command line (docs/contracts.md)."""
