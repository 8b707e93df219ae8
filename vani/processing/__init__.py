"""Turning stored inbound events into prospects, meetings, notes, messages and notifications.

``events`` holds the ``events`` lane (claim a batch, map each event in its own savepoint, write
the batch's outbound events, notes and notifications together, record every outcome) and
replay; ``context`` is what a provider's mapper is handed.
"""
