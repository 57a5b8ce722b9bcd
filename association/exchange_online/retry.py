"""How long a throttled caller waits: `Retry-After` read as Microsoft's services send it.

Pure, and shaped so any client of a Microsoft endpoint can use it: the Exchange admin client
and the audit's Graph client (`association_tools/audit/graph.py`) both do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: object, attempt: int, default_wait: float, now: datetime) -> float:
    """`Retry-After` as seconds or an HTTP date (RFC 9110), never below 0; without a usable
    one, `default_wait` doubled on each attempt (0, 1, ...)."""
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds == seconds:  # not NaN, which no wait is
            return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return float(default_wait * 2**attempt)
    if when.tzinfo is None:  # `-0000`: UTC, by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
