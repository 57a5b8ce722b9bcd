"""`EwsAllowedAppIDs` as data: parse what Exchange returns, add or remove one app, keep the rest.

Pure. Exchange's JSON for the list is not documented (one string or a list, not confirmed; every
tool read handles both: CIPP-API's EWS standard, M365Permissions), so both are accepted; each
entry is kept exactly as written, in its place.

What the switch and the list mean (Set-OrganizationConfig reference, MicrosoftDocs/
office-docs-powershell exchange/exchange-ps/ExchangePowerShell/Set-OrganizationConfig.md,
`-EwsAllowedAppIDs` and `-EwsEnabled`): with `EwsEnabled $true` only the listed apps reach EWS,
and a `$null` list "stops restricting access by app ID"; with `$false` every EWS request is
blocked "regardless of this parameter"; with `$null` (not configured) the list "has no effect".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class EwsState:
    """The org-wide EWS switch and allow list, as one read of Get-OrganizationConfig saw them."""

    enabled: bool | None
    """`EwsEnabled`: None when never set (blocked since 2026-10-01 like $false)."""
    ids: tuple[str, ...]

    def lists(self, app_id: str) -> bool:
        return any(entry.lower() == app_id.lower() for entry in self.ids)

    def grants(self, app_id: str) -> bool:
        """EWS is on and the app is listed: what the association needs."""
        return self.enabled is True and self.lists(app_id)


def parse_ids(value: object) -> tuple[str, ...]:
    """The entries of `EwsAllowedAppIDs`: None, one comma-separated string, or a list of
    strings (each possibly comma-separated); ValueError for anything else."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = [part for item in value for part in item.split(",")]
    else:
        raise ValueError("EwsAllowedAppIDs is neither a string nor a list of strings")
    return tuple(part.strip() for part in parts if part.strip())


def with_app(ids: Sequence[str], app_id: str) -> tuple[str, ...]:
    """`ids` with `app_id` added at the end, once; every other entry as it was."""
    if any(entry.lower() == app_id.lower() for entry in ids):
        return tuple(ids)
    return (*ids, app_id)


def without_app(ids: Sequence[str], app_id: str) -> tuple[str, ...]:
    """`ids` without `app_id` (in any letter case); every other entry as it was."""
    return tuple(entry for entry in ids if entry.lower() != app_id.lower())


MAX_SHOWN: Final = 20
"""Entries named in a message; the rest are counted."""


def shown_ids(ids: Sequence[str]) -> str:
    """Entries for a message: the first `MAX_SHOWN`, then how many more."""
    more = len(ids) - MAX_SHOWN
    return ", ".join(ids[:MAX_SHOWN]) + (f" and {more} more" if more > 0 else "")


def joined(ids: Sequence[str]) -> str:
    """The one comma-separated string `Set-OrganizationConfig -EwsAllowedAppIDs` takes."""
    return ",".join(ids)


def restricts_others(seen: EwsState) -> bool:
    """Writing `EwsEnabled $true` with a list would take EWS from apps that have it today: the
    switch is not configured (the list has no effect), or on with no list (not restricted)."""
    return seen.enabled is None or (seen.enabled is True and not seen.ids)


def let_in(seen: EwsState, app_id: str) -> tuple[str, ...]:
    """The apps that turning EWS on gives EWS back to: those listed while it was off."""
    return without_app(seen.ids, app_id) if seen.enabled is False else ()


def lost(before: EwsState, after: EwsState, kept: Sequence[str]) -> tuple[str, ...]:
    """The entries of `before` that `kept` holds but `after` does not: removed by someone else
    between this run's write and its read."""
    return tuple(entry for entry in before.ids if entry in kept and not after.lists(entry))
