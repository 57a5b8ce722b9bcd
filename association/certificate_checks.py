"""What Entra ID or Mimecast would refuse about well-formed certificates, and their expiry.

Pure (no Pulumi). Entra ID rejects an expired key credential (KeyCredentialsInvalidEndDate);
Mimecast's certificate is RSA of 2048 bits or more; one certificate listed twice would declare
two key credentials with one keyId. A certificate removed from the list is deleted from the
app, so the list must also keep Mimecast signed in: one certificate valid now, no gap later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from association.certificates import FIX_GET_CURRENT, Certificate, rfc3339
from association.problems import Notice, Problem

MIN_RSA_BITS: Final = 2048
MAX_CERTIFICATES: Final = 10
"""Key credentials this stack declares; rotating Mimecast's certificate needs two at a time."""


def certificates_problems(
    certificates: Sequence[Certificate], key: str, now: datetime
) -> list[Problem]:
    """The `certificates` setting as a whole, then each certificate."""
    if not certificates:
        return [
            Problem(
                "certificates-empty",
                key,
                f"{key} lists no certificate. Add the path of Mimecast's current certificate "
                "(for example certs/mimecast.pem) or paste it as inline PEM.",
            )
        ]
    if len(certificates) > MAX_CERTIFICATES:
        return [
            Problem(
                "certificates-too-many",
                key,
                f"{key} lists {len(certificates)} certificates; this stack declares at most "
                f"{MAX_CERTIFICATES} (rotating Mimecast's certificate needs two at a time: the "
                "current one and its successor). Remove the ones Mimecast retired.",
            )
        ]
    problems = [problem for cert in certificates for problem in validity_problems(cert, now)]
    problems.extend(duplicate_problems(certificates))
    # With no certificate Entra ID accepts, each has its own error, whose fix is the same as
    # "none valid now" would give: say it once.
    if any(not validity_problems(cert, now) for cert in certificates):
        problems.extend(coverage_problems(certificates, key, now))
    return problems


def validity_problems(cert: Certificate, now: datetime) -> list[Problem]:
    """What Entra ID or Mimecast would reject about a well-formed certificate."""
    problems: list[Problem] = []
    if cert.not_after <= now:
        problems.append(
            cert.problem(
                "certificate-expired",
                f"{cert.describe()} expired on {cert.end_date}. Entra ID rejects an expired key "
                f"credential (KeyCredentialsInvalidEndDate). {FIX_GET_CURRENT}",
            )
        )
    if cert.key_type != "RSA":
        problems.append(
            cert.problem(
                "certificate-key-type",
                f"{cert.describe()} has a key of type {cert.key_type}; Mimecast's certificate is "
                f"RSA. {FIX_GET_CURRENT}",
            )
        )
    elif cert.key_bits < MIN_RSA_BITS:
        problems.append(
            cert.problem(
                "certificate-weak-key",
                f"{cert.describe()} has a {cert.key_bits}-bit RSA key; at least {MIN_RSA_BITS} "
                f"bits are required. {FIX_GET_CURRENT}",
            )
        )
    return problems


def expiry_warnings(
    certificates: Sequence[Certificate], now: datetime, warning_days: int
) -> list[Notice]:
    """A warning for each certificate valid now but within `warning_days` of NotAfter."""
    return [
        Notice(
            "certificate-expiry",
            cert.key,
            f"{cert.describe()} expires on {cert.end_date} ({cert.days_left(now)} days left). "
            "Ask Mimecast for its successor and list it in `certificates` beside this one.",
        )
        for cert in certificates
        if now < cert.not_after <= now + timedelta(days=warning_days)
    ]


def pending_warnings(certificates: Sequence[Certificate], now: datetime) -> list[Notice]:
    """A certificate not valid yet is declared with its own dates (Graph accepts a future
    startDateTime), so Mimecast's successor can be added before its first day. With none
    valid now, that is `certificates-none-valid-now`, an error, instead."""
    if not any(valid_now(cert, now) for cert in certificates):
        return []
    return [
        Notice(
            "certificate-not-yet-valid",
            cert.key,
            f"{cert.describe()} is not valid until {cert.start_date}: Entra ID gets it now, with "
            "that start date, and Mimecast can use it from then. Keep the current certificate "
            "listed until Mimecast has switched.",
        )
        for cert in certificates
        if cert.not_before > now
    ]


def duplicate_problems(certificates: Sequence[Certificate]) -> list[Problem]:
    """The same certificate listed twice would declare two key credentials with one keyId."""
    first_seen: dict[str, Certificate] = {}
    problems = []
    for cert in certificates:
        earlier = first_seen.setdefault(cert.thumbprint, cert)
        if earlier is not cert:
            problems.append(
                cert.problem(
                    "certificate-duplicate",
                    f"{cert.source} is the same certificate as {earlier.source} (thumbprint "
                    f"{cert.thumbprint}). List each certificate once.",
                )
            )
    return problems


@dataclass(frozen=True)
class Gap:
    """A span after now in which no listed certificate is valid: Mimecast cannot sign in."""

    before: Certificate
    """The certificate whose NotAfter opens the gap: of those starting earlier, the last to end."""
    after: Certificate
    """The certificate whose NotBefore closes it."""

    @property
    def days(self) -> int:
        """Its length in days, rounded up: an hour without a certificate is no zero-day gap."""
        return _days(self.after.not_before - self.before.not_after)


def valid_now(cert: Certificate, now: datetime) -> bool:
    """Mimecast can sign in with it at `now`: started, not expired, a key Entra ID takes."""
    return cert.not_before <= now and not validity_problems(cert, now)


def coverage_gaps(certificates: Sequence[Certificate], now: datetime) -> list[Gap]:
    """The gaps between the certificates Entra ID would accept, in date order.

    A certificate is valid from NotBefore up to, not including, NotAfter (expired at NotAfter,
    as `validity_problems` says), so a successor that starts the instant the old one ends
    leaves no gap; overlapping certificates extend each other; the list's order does not
    matter. Expired ones cover nothing from now on. The span before the first one starts is no
    gap: when it includes now, it is `certificates-none-valid-now`.
    """
    accepted = sorted(
        (cert for cert in certificates if not validity_problems(cert, now)),
        key=lambda cert: (cert.not_before, cert.not_after),
    )
    gaps: list[Gap] = []
    reach: Certificate | None = None
    for cert in accepted:
        if reach is not None and reach.not_after < cert.not_before:
            gaps.append(Gap(reach, cert))
        if reach is None or cert.not_after > reach.not_after:
            reach = cert
    return gaps


def coverage_problems(
    certificates: Sequence[Certificate], key: str, now: datetime
) -> list[Problem]:
    """Whether the list keeps Mimecast signed in from now on: a certificate valid now, no gap.

    The rule of the `certificates` setting and of `scripts/rotate.py retire` alike.
    """
    problems = (
        []
        if any(valid_now(c, now) for c in certificates)
        else [_none_valid_now(certificates, key, now)]
    )
    problems.extend(_gap_problem(gap, key) for gap in coverage_gaps(certificates, now))
    return problems


def _none_valid_now(certificates: Sequence[Certificate], key: str, now: datetime) -> Problem:
    upcoming = [cert for cert in certificates if not validity_problems(cert, now)]
    if not upcoming:
        return Problem(
            "certificates-none-valid-now",
            key,
            f"{key} lists no certificate valid now ({rfc3339(now)}), so Mimecast could not "
            f"sign in. {FIX_GET_CURRENT}",
        )
    first = min(upcoming, key=lambda cert: cert.not_before)
    wait = _day_count(_days(first.not_before - now))
    return Problem(
        "certificates-none-valid-now",
        key,
        f"{key} lists no certificate valid now ({rfc3339(now)}): the first to start, "
        f"{first.describe()}, is valid from {first.start_date} (in {wait}). Deployed like this, "
        "the app would have no key credential Mimecast can sign in with until then (the stack "
        "deletes those it no longer lists). List Mimecast's current certificate beside it, or "
        f"deploy no earlier than {first.start_date}.",
    )


def _gap_problem(gap: Gap, key: str) -> Problem:
    start, end = gap.before.end_date, gap.after.start_date
    return Problem(
        "certificate-gap",
        key,
        f"{key} leaves a gap of {_day_count(gap.days)}, from {start} to {end}, in which no listed "
        f"certificate is valid and Mimecast cannot sign in: {gap.before.describe()} expires on "
        f"{start} and the next, {gap.after.describe()}, starts on {end}. Ask Mimecast for a "
        f"successor that starts before {start} and list it, or keep listing a certificate "
        f"valid from {start} to {end}.",
    )


def _days(span: timedelta) -> int:
    return math.ceil(span / timedelta(days=1))


def _day_count(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"
