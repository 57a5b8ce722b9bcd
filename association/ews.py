"""The end of Exchange Web Services in Exchange Online: the dates, and what they mean here.

`full_access_as_app` is an Exchange Web Services permission. Since 2026-10-01 Exchange Online
lets an app use EWS only with `EwsEnabled $true` and the app's ID in `EwsAllowedAppIDs`; on
2027-04-01 EWS is shut down for good (Microsoft message center MC1227454; Set-OrganizationConfig
reference). The dates live here and only here.

Pure (no Pulumi).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from association.problems import Notice, Problem

EWS_SHUTDOWN: Final = datetime(2027, 4, 1, tzinfo=UTC)
"""EWS in Exchange Online is shut down for good on this day."""

EWS_CODES: Final = frozenset({"ews-retirement", "ews-shutdown"})
"""The codes of the notices this module gives about EWS's end."""


def ews_notices(now: datetime, allow_after_shutdown: bool, key: str) -> list[Notice]:
    """Before the shutdown, one warning with the date, the days left and what the tenant needs."""
    if now >= EWS_SHUTDOWN:
        if not allow_after_shutdown:
            return []
        return [
            Notice(
                "ews-shutdown",
                key,
                f"Exchange Web Services in Exchange Online was shut down on {_day(EWS_SHUTDOWN)}; "
                f"{key} is true, so the association is declared anyway. "
                "Mimecast cannot use it unless Microsoft has moved the date.",
            )
        ]
    days = (EWS_SHUTDOWN - now).days
    return [
        Notice(
            "ews-retirement",
            None,
            f"Exchange Web Services, which full_access_as_app grants, is shut down in Exchange "
            f"Online on {_day(EWS_SHUTDOWN)} ({days} days left). Until then Mimecast can use this "
            "app only if the tenant has EwsEnabled $true and the app's client ID in "
            "EwsAllowedAppIDs (stack output exchangeOnline.ewsAllowList adds it, keeping the "
            "other apps). Plan the move to Mimecast's own connector app before that date.",
        )
    ]


def ews_problems(now: datetime, allow_after_shutdown: bool, key: str) -> list[Problem]:
    """From the shutdown on, nothing is declared unless the stack says otherwise."""
    if now < EWS_SHUTDOWN or allow_after_shutdown:
        return []
    return [
        Problem(
            "ews-shut-down",
            key,
            f"Exchange Web Services in Exchange Online was shut down on {_day(EWS_SHUTDOWN)}, so "
            "Mimecast can no longer use full_access_as_app: nothing is declared. Retire the "
            "association (docs/retirement.md). Only if Microsoft has moved the date, set "
            f"`pulumi config set {key} true`.",
        )
    ]


def _day(moment: datetime) -> str:
    return moment.date().isoformat()
