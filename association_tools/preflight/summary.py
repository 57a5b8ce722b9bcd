"""The fleet at a glance: what every stack shares, what sets a stack apart, what expires first.

Until 2027-04-01 every stack carries the EWS notices; shown per stack they hide the warnings
that matter (a certificate expiring in 19 days among 300 stacks). So the notices every stack
gets alike are told once, and each stack is judged by what is its own: its errors, then its
own warnings. A stack's `status` (and the exit status) stay as they were; only the view
changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from association.ews import EWS_CODES
from association.problems import Notice, Problem
from association_tools.preflight.report import RANK, CertificateReport, StackReport, Status

FLEET_WIDE_CODES: Final = frozenset({*EWS_CODES, "ews-allow-list-manual"})
"""Notices that say the same on every stack they reach: the dates of EWS's end
(`association.ews`) and the allow-list step of an unmanaged tenant
(`association.exchange_setting.exchange_notices`)."""

SOONEST: Final = 10
"""How many of the soonest certificate expiries the summary names."""


@dataclass(frozen=True)
class FleetNotice:
    """A notice every stack gets alike, told once, with how many stacks carry it."""

    code: str
    setting: str | None
    message: str
    stacks: int


@dataclass(frozen=True)
class Expiry:
    """A stack's certificate that expires first."""

    stack: str
    thumbprint: str
    not_after: str
    days_left: int


@dataclass(frozen=True)
class Summary:
    """What the JSON document opens with, and the text and Markdown views start from."""

    stacks: int
    counts: Mapping[Status, int]
    """By each stack's `status`, as in `stacks[].status`."""
    counts_besides_fleet_wide: Mapping[Status, int]
    """By `standing`: a stack whose only warnings are fleet-wide counts as ok."""
    fleet_wide: tuple[FleetNotice, ...]
    soonest_expiries: tuple[Expiry, ...]


def own_warnings(report: StackReport) -> tuple[Notice, ...]:
    """The stack's warnings that set it apart: all but the fleet-wide notices."""
    return tuple(notice for notice in report.warnings if notice.code not in FLEET_WIDE_CODES)


def standing(report: StackReport) -> Status:
    """The stack's status leaving out the fleet-wide notices: what a reader must act on."""
    return "errors" if report.errors else "warnings" if own_warnings(report) else "ok"


def soonest(report: StackReport) -> CertificateReport | None:
    """The stack's certificate that expires first, if it lists one that could be read."""
    return min(report.certificates, key=lambda cert: cert.days_left, default=None)


def worst(report: StackReport) -> tuple[Problem | Notice, ...]:
    """The stack's errors, else its own warnings: the first is the one to show."""
    return report.errors or own_warnings(report)


def fleet_order(reports: Sequence[StackReport]) -> list[StackReport]:
    """Errors first, then own warnings, then ok; within each, the soonest expiry first."""

    def key(report: StackReport) -> tuple[int, int, str]:
        cert = soonest(report)
        return (RANK[standing(report)], cert.days_left if cert else 2**31, report.stack)

    return sorted(reports, key=key)


def summarize(reports: Sequence[StackReport]) -> Summary:
    shared: dict[tuple[str, str | None, str], int] = {}
    for report in reports:
        for notice in dict.fromkeys(report.warnings):
            if notice.code in FLEET_WIDE_CODES:
                entry = (notice.code, notice.setting, notice.message)
                shared[entry] = shared.get(entry, 0) + 1
    expiries = sorted(
        (
            Expiry(report.stack, cert.thumbprint, cert.not_after, cert.days_left)
            for report in reports
            if (cert := soonest(report)) is not None
        ),
        key=lambda expiry: (expiry.days_left, expiry.stack),
    )
    return Summary(
        len(reports),
        _counts(report.status for report in reports),
        _counts(standing(report) for report in reports),
        tuple(FleetNotice(*entry, count) for entry, count in shared.items()),
        tuple(expiries[:SOONEST]),
    )


def _counts(statuses: Iterable[Status]) -> dict[Status, int]:
    seen = list(statuses)
    return {status: seen.count(status) for status in RANK}
