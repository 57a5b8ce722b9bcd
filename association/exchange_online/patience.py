"""How long one tenant's Exchange work may take: the deadline, throttling, waiting for writes.

One `Patience` per client: everything it does (requests, pages, bodies, Retry-After waits and
the polls after a write) ends at one deadline, and the throttling waits share one budget.
Exchange may answer a read from a copy that has not seen a write yet (Microsoft365DSC's
MSFT_EXOManagementRoleAssignment polls its change for up to 2 minutes before it trusts it), so a
write is checked by reading until it shows (`settle`), never by one read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from association.exchange_online.errors import ExchangeError, Throttled
from association.exchange_online.retry import retry_after_seconds

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """How much a hostile or struggling endpoint may cost one tenant."""

    max_body: int = 4 * 1024 * 1024
    max_total: int | None = None
    """Bytes of every answer together (the audit's per-tenant budget); None: no total."""
    max_pages: int = 50
    deadline: float = 300.0
    """Seconds for everything one client does: requests, pages, bodies and every wait."""
    attempts: int = 5
    total_wait: float = 120.0
    """Seconds of Retry-After waits in all."""
    default_wait: float = 2.0
    """When no usable `Retry-After` comes, doubled on each attempt."""
    timeout: float = 30.0
    """Seconds one socket operation may block."""
    settle: float = 120.0
    """Seconds of waits, in all, for one write to show in reads."""
    settle_wait: float = 2.0
    """The first wait between those reads, doubled each time up to `settle_max_wait`."""
    settle_max_wait: float = 30.0


class Patience:
    """The deadline and the waiting budget of one client."""

    def __init__(
        self,
        limits: Limits,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        now: Callable[[], datetime],
    ) -> None:
        """`clock` is monotonic, for the deadline; `now` the wall clock, for a `Retry-After`
        given as an HTTP date."""
        self.limits = limits
        self._sleep, self.clock, self.now = sleep, clock, now
        self.ends = clock() + limits.deadline
        self._waited = 0.0

    def remaining(self) -> float:
        return self.ends - self.clock()

    def may_wait(self, wait: float, attempt: int) -> bool:
        """Another attempt after `wait` seconds fits the attempts, the budget and the deadline."""
        return (
            attempt + 1 < self.limits.attempts
            and self._waited + wait <= self.limits.total_wait
            and self.clock() + wait <= self.ends
        )

    def pause(self, wait: float) -> None:
        self._sleep(wait)
        self._waited += wait

    def retrying(self, operation: Callable[[], T]) -> T:
        """`operation` (reads, then the writes made from them), run again from its start when
        Exchange turns one of its writes away, within the same budget as reads."""
        attempt = 0
        while True:
            try:
                return operation()
            except Throttled as error:
                wait = retry_after_seconds(
                    error.retry_after, attempt, self.limits.default_wait, self.now()
                )
                if not self.may_wait(wait, attempt):
                    raise ExchangeError(
                        f"{error}{throttled_out(error.status or 429, attempt + 1)}", error.status
                    ) from None
                self.pause(wait)
                attempt += 1

    def settle(self, read: Callable[[], T], done: Callable[[T], bool]) -> T:
        """`read()` until `done` says the write shows, waiting longer each time within
        `limits.settle` and the deadline: the last read, shown or not (the caller decides)."""
        result = read()
        wait, spent = self.limits.settle_wait, 0.0
        while (
            not done(result)
            and spent + wait <= self.limits.settle
            and self.clock() + wait < self.ends
        ):
            self._sleep(wait)
            spent += wait
            wait = min(wait * 2, self.limits.settle_max_wait)
            result = read()
        return result


def throttled_out(status: int, attempts: int) -> str:
    return (
        f"still throttled or unavailable (HTTP {status}) after {attempts} attempt"
        f"{'s' if attempts != 1 else ''}; run `pulumi up` again later"
    )
