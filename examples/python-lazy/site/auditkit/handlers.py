"""Handlers for the audit trail, meant to be named in a logging configuration."""
import logging


class MemoryTrail(logging.Handler):
    """Keeps the trail's records in memory (a test double of a real trail)."""

    def __init__(self):
        super().__init__()
        self.records = []

    @property
    def count(self):
        return len(self.records)

    def emit(self, record):
        self.records.append(self.format(record))
