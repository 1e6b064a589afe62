"""Clients of the services the app talks to: Graph, Log Analytics, Webex, Storage tables and queues.

They return answers and raise typed errors; they never classify and never notify. Depends only on
:mod:`shared.core`.
"""
