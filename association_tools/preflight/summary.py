"""The fleet at a glance: what every stack shares, what sets a stack apart, what expires first.

Until 2027-04-01 every stack carries the EWS notices; shown per stack they hide the warnings
that matter (a certificate expiring in 19 days among 300 stacks). So the notices every stack
gets alike are told once, and each stack is judged by what is its own: its errors, then its
own warnings (`StackReport.own_status`, the JSON's `ownStatus`). A stack's `status` (and the
exit status) stay as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from association.problems import Notice, Problem
from association_tools.preflight.report import (
    FLEET_WIDE_CODES,
    RANK,
    CertificateReport,
    StackReport,
    Status,
)

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
    """By each stack's `own_status`: a stack whose only warnings are fleet-wide counts as ok."""
    fleet_wide: tuple[FleetNotice, ...]
    soonest_expiries: tuple[Expiry, ...]


def soonest(report: StackReport) -> CertificateReport | None:
    """The stack's certificate that expires first, if it lists one that could be read."""
    return min(report.certificates, key=lambda cert: cert.days_left, default=None)


def worst(report: StackReport) -> tuple[Problem | Notice, ...]:
    """The stack's errors, else its own warnings: the first is the one to show."""
    return report.errors or report.own_warnings


def fleet_order(reports: Sequence[StackReport]) -> list[StackReport]:
    """Errors first, then own warnings, then ok; within each, the soonest expiry first."""

    def key(report: StackReport) -> tuple[int, int, str]:
        cert = soonest(report)
        return (RANK[report.own_status], cert.days_left if cert else 2**31, report.stack)

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
        _counts(report.own_status for report in reports),
        tuple(FleetNotice(*entry, count) for entry, count in shared.items()),
        tuple(expiries[:SOONEST]),
    )


def _counts(statuses: Iterable[Status]) -> dict[Status, int]:
    seen = list(statuses)
    return {status: seen.count(status) for status in RANK}
