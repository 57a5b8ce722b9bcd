"""What goes wrong in Exchange Online, as exceptions the resources and the audit tell apart."""

from __future__ import annotations


class ExchangeError(Exception):
    """Exchange Online did not do what was asked; the message names the tenant and the fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Throttled(ExchangeError):
    """Exchange turned a write away for now (HTTP 429 or 503): run the operation again from its
    first read (`Patience.retrying`), never the same write, whose body came from a read that
    may be stale by then."""

    def __init__(self, message: str, status: int, retry_after: object) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after
        """The answer's `Retry-After` as sent (seconds, an HTTP date, or None)."""
