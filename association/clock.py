"""The instant certificates are judged against: now, unless a test or `preflight --now` says.

Kept apart so the Pulumi program itself takes no clock argument: `__main__.py` reads
`current_time()`, and the offline tools wrap a run in `evaluated_at(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_override: ContextVar[datetime | None] = ContextVar("association_now", default=None)


def current_time() -> datetime:
    """The evaluation instant, timezone-aware in UTC."""
    return _override.get() or datetime.now(UTC)


@contextmanager
def evaluated_at(moment: datetime) -> Iterator[None]:
    """Judge certificates at `moment` instead of now, inside the `with` block."""
    if moment.tzinfo is None:
        raise ValueError("evaluated_at needs a timezone-aware datetime")
    token = _override.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _override.reset(token)
