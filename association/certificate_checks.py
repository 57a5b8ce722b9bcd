"""What Entra ID or Mimecast would refuse about well-formed certificates, and their expiry.

Pure (no Pulumi). Entra ID rejects an expired key credential (KeyCredentialsInvalidEndDate);
Mimecast's certificate is RSA of 2048 bits or more; one certificate listed twice would declare
two key credentials with one keyId.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from association.certificates import FIX_GET_CURRENT, Certificate
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
    startDateTime), so Mimecast's successor can be added before its first day."""
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
