"""Reading property values as the engine sends them, unknowns included.

The engine marks a value not known yet with one of the `UNKNOWN_VALUES` strings; a
missing output property (e.g. a service principal's `objectId` before it exists)
counts as unknown too. These readers let a rule skip exactly the unknown parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

UNKNOWN_VALUES: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string (what the engine sends for any)
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
"""The engine's markers of a value not known yet (as in `pulumi_policy.proxy`)."""

UNKNOWN: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The marker the engine sends for an unknown value of any type."""


def is_unknown(value: object) -> bool:
    return isinstance(value, str) and value in UNKNOWN_VALUES


def known_text(value: object) -> str | None:
    """A known, non-empty string; None when missing, unknown or not a string."""
    if isinstance(value, str) and value and not is_unknown(value):
        return value
    return None


def items(value: object) -> list[Any] | None:
    """The elements of a known list property; None when unknown; [] when missing."""
    if value is None:
        return []
    if is_unknown(value) or isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return None
    return list(value)
