"""`EwsAllowedAppIDs` as data: parse what Exchange returns, add or remove one app, keep the rest.

Pure. Exchange's JSON for the list is not documented (FACTS: one string or a list, not
confirmed), so both are accepted; each entry is kept exactly as written, in its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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


def joined(ids: Sequence[str]) -> str:
    """The one comma-separated string `Set-OrganizationConfig -EwsAllowedAppIDs` takes."""
    return ",".join(ids)
