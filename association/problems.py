"""What stands in the way of a deploy, and what deserves a warning: as data, not text.

Pure (no Pulumi). A `Problem` or a `Notice` carries a stable `code` (kebab-case, for tools and
tests to tell them apart), the setting it concerns and the message a person reads; JSON writes
the three as `{code, setting, message}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """Something that must be fixed before anything is declared; `message` says how."""

    code: str
    """What kind of problem, stable across wording changes: e.g. `certificate-expired`."""
    setting: str | None
    """The config key it concerns (e.g. `mimecast-association:certificates[0]`), or None for
    the tenant or the signed-in identity."""
    message: str


@dataclass(frozen=True)
class Notice:
    """A warning: the deploy goes ahead, but someone should act."""

    code: str
    """What it is about, for tools that treat some notices apart: `certificate-expiry`,
    `deployer-not-owner`, ..."""
    setting: str | None
    message: str


def refusal_text(stack: str, problems: Sequence[Problem]) -> str:
    """What Pulumi prints when the program refuses: a heading, then the problems numbered.

    Nothing here imports the tools: the drift report, which may import the product, parses
    this text back out of Pulumi's output, and tests/test_drift.py keeps its reader in step
    with this writer."""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return "\n".join(
        [
            f"mimecast-association: stack {stack!r} was not deployed; nothing was created or "
            f"changed in the tenant. Fix {count}:",
            *(f"  {number}. {problem.message}" for number, problem in enumerate(problems, 1)),
        ]
    )
