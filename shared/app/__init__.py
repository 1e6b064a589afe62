"""Use cases: what the triggers and the CLI call (intake, verification, the timer's sweep, poison).

The only layer that wires detection, clients, incidents, notices and checks together.
"""
