"""The core: records, the Webex app catalogue, errors, time, settings and log hygiene.

No I/O and no other layer: every other package may import from here, this package imports from
none of them (docs/architecture.md).
"""
