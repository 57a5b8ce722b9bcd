"""Reading a key credential's dates and certificate, as the azuread provider takes them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from cryptography import x509


def parse_date(text: str) -> datetime:
    """An RFC3339 date-time with an offset (`Z` or `+hh:mm`), as the provider takes."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_not_after(value: str, encoding: str) -> datetime:
    """NotAfter of the certificate in a key credential's `value`, per its `encoding`."""
    if encoding == "pem":
        certificate = x509.load_pem_x509_certificate(value.encode("ascii"))
    elif encoding == "base64":
        certificate = x509.load_der_x509_certificate(
            base64.b64decode("".join(value.split()), validate=True)
        )
    elif encoding == "hex":
        certificate = x509.load_der_x509_certificate(bytes.fromhex("".join(value.split())))
    else:
        raise ValueError(f"encoding must be pem, base64 or hex, not {encoding!r}")
    return certificate.not_valid_after_utc
