"""Rule `certificate-credentials-valid`: key credentials are certificates, valid now and later.

Each key credential on its own. Whether the list as a whole keeps Mimecast signed in (one
certificate valid now, no gap later) is the program's check, made before anything is
registered (`certificates-none-valid-now`, `certificate-gap`). The pack cannot repeat it: an
adopted app's hand-made certificate (`adopt.keyIds`) is listed but is no resource of the
stack, so a rotation that keeps it beside a successor not yet valid would look uncovered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .certificates import certificate_not_after, parse_date, rfc3339
from .identifiers import KEY_CREDENTIAL_TYPE
from .model import ResourceRule, RuleContext, Violation
from .resource_types import APPLICATION_CERTIFICATE
from .values import is_unknown

CODE: Final = "certificate-credentials-valid"


def _type(props: Mapping[str, Any]) -> list[Violation]:
    kind = props.get("type")
    if is_unknown(kind) or kind == KEY_CREDENTIAL_TYPE:
        return []
    shown = "not set" if kind is None else repr(kind)
    return [
        Violation(
            CODE,
            "not-a-certificate",
            f"type is {shown}; it must be {KEY_CREDENTIAL_TYPE!r}: Mimecast's key credential is "
            "its public X.509 certificate (a Symmetric key is a shared secret).",
            {"type": kind},
        )
    ]


def _end_date(props: Mapping[str, Any], context: RuleContext) -> list[Violation]:
    end_text = props.get("endDate")
    if is_unknown(end_text):
        return []
    if not isinstance(end_text, str) or not end_text:
        return [
            Violation(
                CODE,
                "end-date-missing",
                "endDate is not set: Entra ID would pick one (about two years on), which may be "
                "after the certificate's own NotAfter. Set endDate to the certificate's NotAfter "
                "(endDateRelative is deprecated and cannot be checked).",
                {"endDate": end_text},
            )
        ]
    try:
        end = parse_date(end_text)
    except ValueError:
        return [
            Violation(
                CODE,
                "end-date-unreadable",
                f"endDate {end_text!r} is not an RFC3339 date (e.g. 2027-08-04T15:07:00Z).",
                {"endDate": end_text},
            )
        ]
    violations = []
    if end <= context.now:
        checked_at = rfc3339(context.now)
        violations.append(
            Violation(
                CODE,
                "end-date-past",
                f"endDate {end_text} is not in the future (checked at {checked_at}): the key "
                "credential would be expired. Get the current certificate from Mimecast.",
                {"endDate": end_text, "checkedAt": checked_at},
            )
        )
    value = props.get("value")
    encoding = props.get("encoding") or "pem"
    if is_unknown(value) or is_unknown(encoding):
        return violations
    if not isinstance(value, str) or not isinstance(encoding, str):
        return [
            *violations,
            Violation(
                CODE,
                "value-missing",
                "value does not hold a certificate; the end date cannot be checked.",
            ),
        ]
    try:
        not_after = certificate_not_after(value, encoding)
    except ValueError as error:
        return [
            *violations,
            Violation(
                CODE,
                "value-unreadable",
                f"value cannot be read as an X.509 certificate in {encoding!r} encoding "
                f"({error}); its NotAfter cannot be compared with endDate.",
                {"encoding": encoding},
            ),
        ]
    if end > not_after:
        violations.append(
            Violation(
                CODE,
                "end-date-after-not-after",
                f"endDate {end_text} is after the certificate's NotAfter {rfc3339(not_after)}: "
                "Entra ID refuses it (KeyCredentialsInvalidEndDate). Set endDate to the "
                "certificate's NotAfter or earlier.",
                {"endDate": end_text, "notAfter": rfc3339(not_after)},
            )
        )
    return violations


def check(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[Violation]:
    """Key credentials are X.509 certificates, valid now, ending no later than the certificate."""
    if resource_type != APPLICATION_CERTIFICATE:
        return []
    return [*_type(props), *_end_date(props, context)]


RULE: Final = ResourceRule(
    CODE,
    "Every ApplicationCertificate is an AsymmetricX509Cert whose endDate is in the future "
    "and not later than the certificate's own NotAfter.",
    check,
)
