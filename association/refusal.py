"""How the program stops or warns under Pulumi: one `Refusal` with every problem, typed notices.

A `Refusal` is a `pulumi.RunError`, which Pulumi prints without a Python traceback; it keeps
its problems as data for callers (the offline preflight) that run the program in-process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import pulumi

from association.problems import Notice, Problem, refusal_text


class Refusal(pulumi.RunError):
    """Nothing was declared: every problem, numbered, each with its fix."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(refusal_text(pulumi.get_stack(), self.problems))


_notices: ContextVar[list[Notice] | None] = ContextVar("association_notices", default=None)


def warn(notice: Notice, resource: pulumi.Resource | None = None) -> None:
    """Warn through Pulumi, and hand the notice to whoever collects them (the preflight)."""
    pulumi.log.warn(notice.message, resource=resource)
    collected = _notices.get()
    if collected is not None:
        collected.append(notice)


@contextmanager
def collecting_notices() -> Iterator[list[Notice]]:
    """Inside the block, every notice the program warns about is also appended to the list."""
    collected: list[Notice] = []
    token = _notices.set(collected)
    try:
        yield collected
    finally:
        _notices.reset(token)
