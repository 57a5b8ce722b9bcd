"""Typed arguments of the `MimecastAssociation` component, each declared as its stack setting.

Every field carries its stack setting (`metadata=setting(...)`): key, type, default, description,
example, how a stack's value becomes the argument and how it is checked. `SETTINGS` lists them;
nothing else declares a setting. Pure (no Pulumi), so what a caller passes can be checked before
anything is declared, by the stack program and by any other program that uses the component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Final

from association.adoption import Adoption, parse_adoption
from association.adoption_checks import adoption_notices, adoption_problems
from association.application_checks import (
    MAX_DISPLAY_NAME,
    MAX_EXPIRY_WARNING_DAYS,
    MAX_OWNERS,
    display_name_problems,
    expiry_days_problems,
    owner_problems,
    tenant_problems,
)
from association.certificate_checks import certificates_problems, expiry_warnings, pending_warnings
from association.certificate_entries import load_certificates
from association.certificates import Certificate
from association.ews import ews_notices, ews_problems
from association.exchange_setting import ExchangeSetting, exchange_notices, parse_exchange
from association.identifiers import DEFAULT_DISPLAY_NAME, TENANT_KEY
from association.mailbox_scope import MailboxScope, parse_scope, scope_notices, scope_problems
from association.problems import Notice, Problem
from association.setting import METADATA, Setting, setting


def _owners(
    entries: list[str], key: str, project_dir: Path
) -> tuple[tuple[str, ...] | None, list[Problem]]:
    return tuple(entries) or None, []


@dataclass(frozen=True)
class AssociationArgs:
    """What the component needs; each field is one stack setting, described where declared."""

    tenant_id: str = field(
        metadata=setting(
            TENANT_KEY,
            "string",
            "The tenant this stack manages (a GUID); one stack per tenant. Pulumi does not "
            "allow `Pulumi.yaml` to type or default another namespace's key, so each stack "
            "sets it.",
            "11111111-2222-3333-4444-555555555555",
            shown_type="GUID",
            check=lambda args, key, now: tenant_problems(args.tenant_id, key),
        )
    )
    # Declared second, so its warning comes first (warnings follow the order of the fields):
    # without it, Mimecast cannot sync at all. Keyword-only, so that it may precede the fields
    # without a default.
    exchange: ExchangeSetting = field(
        default=ExchangeSetting(),
        kw_only=True,
        metadata=setting(
            "exchange",
            "object",
            "The Exchange Online side: manage (true: pulumi up puts this app in the tenant's "
            "EWS allow list and, with mailboxScope, makes the scope and its role assignment; "
            "the deploy identity needs Exchange rights), cloud (global, usgovernment, dod "
            "or china) and changeOtherApps (true: pulumi up may add this app where that changes "
            "EWS for other apps: starting the allow list where EWS is not restricted by app, or "
            "switching EWS back on for the apps already listed; false: it refuses and changes "
            "nothing). Empty: not managed; paste the exchangeOnline outputs instead.",
            "{manage: true}",
            {},
            shown_type="map",
            shown_default="`{}`: not managed, global cloud",
            convert=parse_exchange,
            warn=lambda args, key, now: exchange_notices(args.exchange, key, now),
        ),
    )
    certificates: Sequence[Certificate] = field(
        metadata=setting(
            "certificates",
            "array",
            "Mimecast public certificates: paths relative to the project (PEM or DER) or inline "
            "PEM. List two while rotating.",
            "[certs/mimecast-2026.pem]",
            ["certs/mimecast.pem"],
            shown_type="list of strings",
            convert=load_certificates,
            check=lambda args, key, now: certificates_problems(args.certificates, key, now),
            # A warning period out of range is refused (expiryWarningDays); none is given.
            warn=lambda args, key, now: [
                *pending_warnings(args.certificates, now),
                *(
                    expiry_warnings(args.certificates, now, args.expiry_warning_days)
                    if 0 <= args.expiry_warning_days <= MAX_EXPIRY_WARNING_DAYS
                    else []
                ),
            ],
        )
    )
    display_name: str = field(
        default=DEFAULT_DISPLAY_NAME,
        metadata=setting(
            "displayName",
            "string",
            "Display name of the Entra ID application, as in Mimecast's guide; at most "
            f"{MAX_DISPLAY_NAME} characters on one line.",
            "Mimecast Sync (Contoso)",
            DEFAULT_DISPLAY_NAME,
            check=lambda args, key, now: display_name_problems(args.display_name, key),
        ),
    )
    owners: Sequence[str] | None = field(
        default=None,
        metadata=setting(
            "owners",
            "array",
            "Object IDs of the owners of the application and service principal (at most "
            f"{MAX_OWNERS}). Empty: the deploying identity. Set: exactly these; list the "
            "pipeline identity so that deploys by different people never flip the owners.",
            "[<pipeline object id>, <admin object id>]",
            [],
            shown_type="list of GUIDs",
            shown_default="`[]`: the deploying identity",
            convert=_owners,
            check=lambda args, key, now: owner_problems(args.owners or (), key),
        ),
    )
    expiry_warning_days: int = field(
        default=30,
        metadata=setting(
            "expiryWarningDays",
            "integer",
            f"Warn when a certificate expires within this many days (0-{MAX_EXPIRY_WARNING_DAYS}).",
            "60",
            30,
            shown_type=f"int 0-{MAX_EXPIRY_WARNING_DAYS}",
            check=lambda args, key, now: expiry_days_problems(args.expiry_warning_days, key),
        ),
    )
    protect: bool = field(
        default=True,
        metadata=setting(
            "protect",
            "boolean",
            "Protect the application and its service principal from deletion and replacement, "
            "and keep them in the tenant when the engine deletes them (retain_on_delete; an "
            "adopted one is always kept).",
            "false",
            True,
            shown_type="bool",
        ),
    )
    adopt: Adoption | None = field(
        default=None,
        metadata=setting(
            "adopt",
            "object",
            "Take over the application made by hand from Mimecast's guide: "
            "applicationObjectId, servicePrincipalObjectId (GUIDs, or /applications/<id> and "
            "/servicePrincipals/<id> as Entra shows them), appRoleAssignmentId (the 43-character "
            "id of its full_access_as_app consent), keyIds (each key credential made by hand: "
            "its thumbprint, hex or base64, to its keyId; left as it is, never imported) and, "
            "with mailboxScope.enforce, removeConsent (true once a deploy has imported the "
            "consent: the next deletes it); consentImported (true once a deploy has imported "
            "the consent: it is declared without import, so one deleted in the portal is "
            "recreated). Empty: create a new application.",
            "{applicationObjectId: <GUID>, servicePrincipalObjectId: <GUID>, "
            "appRoleAssignmentId: <id>}",
            {},
            shown_type="map",
            shown_default="`{}`: create a new application",
            convert=parse_adoption,
            check=lambda args, key, now: adoption_problems(args.adopt, args.scope_enforced, key),
            warn=lambda args, key, now: adoption_notices(
                args.adopt, args.certificates, args.scope_enforced, key
            ),
        ),
    )
    allow_after_ews_shutdown: bool = field(
        default=False,
        metadata=setting(
            "allowAfterEwsShutdown",
            "boolean",
            "Declare the association even after EWS in Exchange Online is shut down "
            "(2027-04-01), for the case Microsoft moves the date.",
            "true",
            False,
            shown_type="bool",
            check=lambda args, key, now: ews_problems(now, args.allow_after_ews_shutdown, key),
            warn=lambda args, key, now: ews_notices(now, args.allow_after_ews_shutdown, key),
        ),
    )
    mailbox_scope: MailboxScope | None = field(
        default=None,
        metadata=setting(
            "mailboxScope",
            "object",
            "Limit Mimecast to one group's mailboxes with RBAC for Applications: group (the "
            "mail-enabled security group) and enforce (true: no tenant-wide consent in Entra "
            "ID). Empty: every mailbox.",
            "{group: mimecast-sync@contoso.com, enforce: true}",
            {},
            shown_type="map",
            shown_default="`{}`: every mailbox",
            convert=parse_scope,
            check=lambda args, key, now: scope_problems(args.mailbox_scope, key),
            warn=lambda args, key, now: scope_notices(
                args.mailbox_scope, key, args.exchange.manage
            ),
        ),
    )

    @property
    def scope_enforced(self) -> bool:
        """Mailbox scoping replaces the tenant-wide consent (`mailboxScope.enforce`)."""
        return self.mailbox_scope is not None and self.mailbox_scope.enforce

    @property
    def tenant_wide_consent(self) -> bool:
        """False once mailbox scoping is enforced: then Entra grants nothing tenant-wide."""
        return not self.scope_enforced

    @property
    def consent_declared(self) -> bool:
        """The stack declares full_access_as_app's consent (and requests the permission): it
        grants it tenant-wide, or it still holds an adopted one not yet to be removed."""
        return self.tenant_wide_consent or (
            self.adopt is not None and not self.adopt.remove_consent
        )

    def problems(self, now: datetime) -> list[Problem]:
        """Everything that must be fixed before anything is declared, each with its fix."""
        return [problem for s in SETTINGS for problem in s.check(self, s.key, now)]

    def warnings(self, now: datetime) -> list[Notice]:
        """What deserves a warning, not a refusal: EWS's end, expiring certificates, scoping."""
        return [notice for s in SETTINGS for notice in s.warn(self, s.key, now)]


SETTINGS: Final[tuple[Setting, ...]] = tuple(
    replace(f.metadata[METADATA], attribute=f.name) for f in fields(AssociationArgs)
)
"""Every stack setting, in the order of `AssociationArgs`."""

_BY_NAME: Final = {s.name: s for s in SETTINGS}


def settings_key(name: str) -> str:
    """The full config key of the setting declared as `name` (KeyError for an unknown one)."""
    return _BY_NAME[name].key
