"""The guardrails of the mimecast-association stack, as plain functions over properties.

Each rule takes what the Pulumi engine hands a policy pack (a resource's type and its
camelCase properties, or every resource of the stack) and returns violation messages.
Nothing here imports `pulumi_policy`: `__main__.py` wraps every rule in a
`ResourceValidationPolicy` or `StackValidationPolicy`, and the project's tests call the
rules directly in the program's own environment (protobuf 6, no pulumi-policy).

Unknown values (during `pulumi preview`, outputs of resources not created yet) never
cause a violation: a rule checks what is known and skips what is not. The engine marks
an unknown value with one of the `UNKNOWN_VALUES` strings; a missing output property
(e.g. a service principal's `objectId` before it exists) counts as unknown too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from cryptography import x509

# Microsoft identifiers (the same values as association/identifiers.py, which the pack
# cannot import: it runs in its own virtualenv, without the program's dependencies).
EXCHANGE_ONLINE_APP_ID: Final = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS_AS_APP: Final = "full_access_as_app"
FULL_ACCESS_AS_APP_ROLE_ID: Final = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
APP_ROLE_TYPE: Final = "Role"
SCOPE_TYPE: Final = "Scope"
SINGLE_TENANT_AUDIENCE: Final = "AzureADMyOrg"
KEY_CREDENTIAL_TYPE: Final = "AsymmetricX509Cert"

# Resource types, as in the pulumi-azuread schema.
APPLICATION: Final = "azuread:index/application:Application"
APPLICATION_API_ACCESS: Final = "azuread:index/applicationApiAccess:ApplicationApiAccess"
APPLICATION_REGISTRATION: Final = "azuread:index/applicationRegistration:ApplicationRegistration"
APPLICATION_CERTIFICATE: Final = "azuread:index/applicationCertificate:ApplicationCertificate"
APPLICATION_PASSWORD: Final = "azuread:index/applicationPassword:ApplicationPassword"
SERVICE_PRINCIPAL: Final = "azuread:index/servicePrincipal:ServicePrincipal"
SERVICE_PRINCIPAL_PASSWORD: Final = (
    "azuread:index/servicePrincipalPassword:ServicePrincipalPassword"
)
APP_ROLE_ASSIGNMENT: Final = "azuread:index/appRoleAssignment:AppRoleAssignment"

UNKNOWN_VALUES: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string (what the engine sends for any)
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
"""The engine's markers of a value not known yet (as in `pulumi_policy.proxy`)."""

UNKNOWN: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The marker the engine sends for an unknown value of any type."""

ALLOWED_PERMISSIONS_KEY: Final = "allowedPermissions"
"""Config key of policy `exchange-full-access-only`: extra permissions an app may request."""


def is_unknown(value: object) -> bool:
    return isinstance(value, str) and value in UNKNOWN_VALUES


def _known_text(value: object) -> str | None:
    """A known, non-empty string; None when missing, unknown or not a string."""
    if isinstance(value, str) and value and not is_unknown(value):
        return value
    return None


def _items(value: object) -> list[Any] | None:
    """The elements of a known list property; None when unknown; [] when missing."""
    if value is None:
        return []
    if is_unknown(value) or isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return None
    return list(value)


class Permission(NamedTuple):
    """One requested permission: API appId, app role or scope id, `Role` or `Scope`."""

    resource_app_id: str
    id: str
    type: str

    @classmethod
    def of(cls, resource_app_id: str, id_: str, type_: str) -> Permission:
        return cls(resource_app_id.lower(), id_.lower(), type_)

    def __str__(self) -> str:
        return f"{self.resource_app_id} / {self.id} ({self.type})"


FULL_ACCESS_PERMISSION: Final = Permission.of(
    EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID, APP_ROLE_TYPE
)


class PolicyConfigError(ValueError):
    """The policy pack's configuration does not have the documented shape."""


@dataclass(frozen=True)
class RuleContext:
    """What a rule may depend on besides properties: its policy config and the clock."""

    config: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack as a stack policy sees it (outputs, after the engine's steps)."""

    type: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Input property name -> URNs of the resources its value came from."""


@dataclass(frozen=True)
class StackViolation:
    message: str
    urn: str | None = None


ResourceCheck = Callable[[str, Mapping[str, Any], RuleContext], list[str]]
StackCheck = Callable[[Sequence[StackResource], RuleContext], list[StackViolation]]


@dataclass(frozen=True)
class ResourceRule:
    name: str
    description: str
    check: ResourceCheck
    config_schema: Mapping[str, Mapping[str, Any]] | None = None
    """JSON-schema `properties` of the policy's config (None: the policy takes no config)."""


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    check: StackCheck
    config_schema: Mapping[str, Mapping[str, Any]] | None = None


# --- requested permissions ---------------------------------------------------------------

ALLOWED_PERMISSIONS_SCHEMA: Final[Mapping[str, Mapping[str, Any]]] = {
    ALLOWED_PERMISSIONS_KEY: {
        "type": "array",
        "description": (
            "Permissions an application of this stack may request besides Office 365 Exchange "
            "Online / full_access_as_app: objects with resourceAppId (the API's appId), id (the "
            "app role or scope id) and type (Role or Scope)."
        ),
        "items": {
            "type": "object",
            "properties": {
                "resourceAppId": {"type": "string"},
                "id": {"type": "string"},
                "type": {"type": "string", "enum": [APP_ROLE_TYPE, SCOPE_TYPE]},
            },
            "required": ["resourceAppId", "id", "type"],
            "additionalProperties": False,
        },
        "default": [],
    }
}


_PERMISSION = ("resourceAppId", "id", "type")


def allowed_permissions(config: Mapping[str, Any]) -> frozenset[Permission]:
    """The permissions the policy config allows on top of full_access_as_app."""
    entries = config.get(ALLOWED_PERMISSIONS_KEY) or []
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise PolicyConfigError(f"{ALLOWED_PERMISSIONS_KEY} must be a list, not {entries!r}")
    allowed = set()
    for index, entry in enumerate(entries):
        values = [entry.get(key) for key in _PERMISSION] if isinstance(entry, Mapping) else []
        texts = [value for value in values if isinstance(value, str) and value]
        if len(texts) != len(_PERMISSION):
            raise PolicyConfigError(
                f"{ALLOWED_PERMISSIONS_KEY}[{index}] must be an object with string "
                f"resourceAppId, id and type, not {entry!r}"
            )
        app_id, role_or_scope, kind = texts
        if kind not in (APP_ROLE_TYPE, SCOPE_TYPE):
            raise PolicyConfigError(
                f"{ALLOWED_PERMISSIONS_KEY}[{index}].type must be Role or Scope, not {kind!r}"
            )
        allowed.add(Permission.of(app_id, role_or_scope, kind))
    return frozenset(allowed)


def _requested(props: Mapping[str, Any]) -> tuple[list[Permission], bool] | None:
    """An Application's requested permissions, and whether some of them are unknown.

    None when the whole list is unknown.
    """
    blocks = _items(props.get("requiredResourceAccesses"))
    if blocks is None:
        return None
    requested: list[Permission] = []
    partial = False
    for block in blocks:
        if not isinstance(block, Mapping):
            partial = True
            continue
        app_id = _known_text(block.get("resourceAppId"))
        accesses = _items(block.get("resourceAccesses"))
        if app_id is None or accesses is None:
            partial = True
            continue
        for access in accesses:
            if not isinstance(access, Mapping):
                partial = True
                continue
            role_or_scope = _known_text(access.get("id"))
            kind = _known_text(access.get("type"))
            if role_or_scope is None or kind is None:
                partial = True
                continue
            requested.append(Permission.of(app_id, role_or_scope, kind))
    return requested, partial


def _api_access(props: Mapping[str, Any]) -> list[Permission]:
    """The permissions an ApplicationApiAccess resource adds to an application (known ones)."""
    api = _known_text(props.get("apiClientId"))
    if api is None:
        return []
    granted = []
    for key, kind in (("roleIds", APP_ROLE_TYPE), ("scopeIds", SCOPE_TYPE)):
        for value in _items(props.get(key)) or []:
            if (text := _known_text(value)) is not None:
                granted.append(Permission.of(api, text, kind))
    return granted


def check_permissions(
    resource_type: str, props: Mapping[str, Any], context: RuleContext
) -> list[str]:
    """Applications request Exchange Online's full_access_as_app (Role) and nothing else."""
    allowed = allowed_permissions(context.config)
    how_to_allow = (
        f"Remove it, or allow it in the policy pack's config (`{ALLOWED_PERMISSIONS_KEY}` of "
        "policy exchange-full-access-only)."
    )
    if resource_type == APPLICATION_API_ACCESS:
        return [
            f"ApplicationApiAccess grants {permission}, which is not {FULL_ACCESS_AS_APP}. "
            + how_to_allow
            for permission in _api_access(props)
            if permission != FULL_ACCESS_PERMISSION and permission not in allowed
        ]
    if resource_type != APPLICATION:
        return []
    found = _requested(props)
    if found is None:
        return []
    requested, partial = found
    messages = []
    # Requesting nothing at all is the other accepted shape (mailboxScope.enforce), which the
    # stack rule scoped-consent-shape checks against the stack's assignments.
    if requested and FULL_ACCESS_PERMISSION not in requested and not partial:
        messages.append(
            "The application does not request Office 365 Exchange Online "
            f"({EXCHANGE_ONLINE_APP_ID}) / {FULL_ACCESS_AS_APP} ({FULL_ACCESS_AS_APP_ROLE_ID}, "
            "type Role), the one permission Mimecast's server connection needs."
        )
    for permission in dict.fromkeys(requested):
        if permission == FULL_ACCESS_PERMISSION or permission in allowed:
            continue
        what = (
            f"{FULL_ACCESS_AS_APP} as a delegated Scope instead of an application Role"
            if permission[:2] == FULL_ACCESS_PERMISSION[:2]
            else "a permission other than Exchange Online's full_access_as_app"
        )
        messages.append(f"The application requests {permission}: {what}. {how_to_allow}")
    return messages


# --- sign-in audience ----------------------------------------------------------------------


def check_audience(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[str]:
    """Applications are single tenant (signInAudience AzureADMyOrg), set explicitly."""
    if resource_type not in (APPLICATION, APPLICATION_REGISTRATION):
        return []
    audience = props.get("signInAudience")
    if is_unknown(audience) or audience == SINGLE_TENANT_AUDIENCE:
        return []
    shown = "not set" if audience is None else repr(audience)
    return [
        f"signInAudience is {shown}; it must be {SINGLE_TENANT_AUDIENCE!r} (this tenant only), "
        "set explicitly: Mimecast's application must not accept sign-ins from other tenants or "
        "personal Microsoft accounts."
    ]


# --- owners --------------------------------------------------------------------------------


def check_owners(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[str]:
    """Applications and service principals have at least one owner."""
    kinds = {APPLICATION: "application", SERVICE_PRINCIPAL: "service principal"}
    if resource_type not in kinds:
        return []
    owners = _items(props.get("owners"))
    if owners is None:
        return []
    if any(is_unknown(owner) or _known_text(owner) for owner in owners):
        return []
    return [
        f"The {kinds[resource_type]} has no owners. Set owners (the `owners` stack setting, "
        "or leave it unset for the deploying identity): without an owner only directory "
        "administrators can manage it, and an identity with Application.ReadWrite.OwnedBy "
        "loses access."
    ]


# --- password credentials ------------------------------------------------------------------


def check_no_passwords(
    resource_type: str, props: Mapping[str, Any], context: RuleContext
) -> list[str]:
    """No client secrets: Mimecast authenticates with its certificate only."""
    why = "Mimecast authenticates with its certificate; a client secret is only a leak risk."
    if resource_type == APPLICATION_PASSWORD:
        return [f"ApplicationPassword creates a client secret on the application. {why}"]
    if resource_type == SERVICE_PRINCIPAL_PASSWORD:
        return [f"ServicePrincipalPassword creates a client secret on the service principal. {why}"]
    if resource_type == APPLICATION and props.get("password") not in (None, {}):
        return [f"The application declares a `password` block, i.e. a client secret. {why}"]
    return []


# --- key credentials -----------------------------------------------------------------------


def parse_date(text: str) -> datetime:
    """An RFC3339 date-time with an offset (`Z` or `+hh:mm`), as the provider takes."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


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


def check_certificate(
    resource_type: str, props: Mapping[str, Any], context: RuleContext
) -> list[str]:
    """Key credentials are X.509 certificates, valid now, ending no later than the certificate."""
    if resource_type != APPLICATION_CERTIFICATE:
        return []
    messages = []
    kind = props.get("type")
    if not is_unknown(kind) and kind != KEY_CREDENTIAL_TYPE:
        shown = "not set" if kind is None else repr(kind)
        messages.append(
            f"type is {shown}; it must be {KEY_CREDENTIAL_TYPE!r}: Mimecast's key credential is "
            "its public X.509 certificate (a Symmetric key is a shared secret)."
        )
    end_text = props.get("endDate")
    if is_unknown(end_text):
        return messages
    if not isinstance(end_text, str) or not end_text:
        return [
            *messages,
            "endDate is not set: Entra ID would pick one (about two years on), which may be "
            "after the certificate's own NotAfter. Set endDate to the certificate's NotAfter "
            "(endDateRelative is deprecated and cannot be checked).",
        ]
    try:
        end = parse_date(end_text)
    except ValueError:
        return [
            *messages,
            f"endDate {end_text!r} is not an RFC3339 date (e.g. 2027-08-04T15:07:00Z).",
        ]
    if end <= context.now:
        messages.append(
            f"endDate {end_text} is not in the future (checked at {_rfc3339(context.now)}): the "
            "key credential would be expired. Get the current certificate from Mimecast."
        )
    value = props.get("value")
    encoding = props.get("encoding") or "pem"
    if is_unknown(value) or is_unknown(encoding):
        return messages
    if not isinstance(value, str) or not isinstance(encoding, str):
        return [*messages, "value does not hold a certificate; the end date cannot be checked."]
    try:
        not_after = certificate_not_after(value, encoding)
    except ValueError as error:
        return [
            *messages,
            f"value cannot be read as an X.509 certificate in {encoding!r} encoding ({error}); "
            "its NotAfter cannot be compared with endDate.",
        ]
    if end > not_after:
        messages.append(
            f"endDate {end_text} is after the certificate's NotAfter {_rfc3339(not_after)}: Entra "
            "ID refuses it (KeyCredentialsInvalidEndDate). Set endDate to the certificate's "
            "NotAfter or earlier."
        )
    return messages


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- app role assignments ------------------------------------------------------------------


def check_assignment(
    resource_type: str, props: Mapping[str, Any], context: RuleContext
) -> list[str]:
    """An AppRoleAssignment grants full_access_as_app and nothing else, not to itself."""
    if resource_type != APP_ROLE_ASSIGNMENT:
        return []
    messages = []
    role = props.get("appRoleId")
    if not is_unknown(role) and (
        not isinstance(role, str) or role.lower() != FULL_ACCESS_AS_APP_ROLE_ID
    ):
        messages.append(
            f"The assignment grants app role {role!r}, not {FULL_ACCESS_AS_APP} "
            f"({FULL_ACCESS_AS_APP_ROLE_ID}); this stack grants nothing else."
        )
    principal = _known_text(props.get("principalObjectId"))
    resource = _known_text(props.get("resourceObjectId"))
    if principal is not None and principal.lower() == (resource or "").lower():
        messages.append(
            f"The assignment's principal and resource are the same object ({principal}); the "
            "resource must be Exchange Online's service principal."
        )
    return messages


def check_assignment_targets(
    resources: Sequence[StackResource], context: RuleContext
) -> list[StackViolation]:
    """Assignments go to this stack's service principal, on Exchange Online's (looked up)."""
    principals = [r for r in resources if r.type == SERVICE_PRINCIPAL]
    violations = [
        StackViolation(
            "The stack manages a service principal for Office 365 Exchange Online "
            f"({EXCHANGE_ONLINE_APP_ID}). Look it up (get_service_principal) instead: a managed "
            "one is deleted from the tenant on `pulumi destroy`.",
            sp.urn,
        )
        for sp in principals
        if (_known_text(sp.props.get("clientId")) or "").lower() == EXCHANGE_ONLINE_APP_ID
    ]
    own_urns = {sp.urn for sp in principals}
    object_ids = [_known_text(sp.props.get("objectId")) for sp in principals]
    known_ids = {object_id.lower() for object_id in object_ids if object_id is not None}
    all_known = None not in object_ids
    stack_urns = {r.urn for r in resources}
    for assignment in (r for r in resources if r.type == APP_ROLE_ASSIGNMENT):
        principal = _known_text(assignment.props.get("principalObjectId"))
        sources = list(assignment.property_dependencies.get("principalObjectId", ()))
        if principal is not None:
            if principal.lower() not in known_ids and all_known:
                violations.append(
                    StackViolation(
                        f"The assignment grants to principal {principal}, which is not this "
                        "project's service principal"
                        + (f" ({', '.join(sorted(known_ids))})." if known_ids else " (none).")
                        + " Grant full_access_as_app to the service principal of this stack only.",
                        assignment.urn,
                    )
                )
        elif sources and not own_urns.intersection(sources):
            violations.append(
                StackViolation(
                    "The assignment's principalObjectId comes from "
                    f"{', '.join(sorted(sources))}, not from this project's service principal.",
                    assignment.urn,
                )
            )
        resource = _known_text(assignment.props.get("resourceObjectId"))
        resource_sources = sorted(
            stack_urns.intersection(assignment.property_dependencies.get("resourceObjectId", ()))
        )
        if (resource is not None and resource.lower() in known_ids) or (
            resource is None and resource_sources
        ):
            violations.append(
                StackViolation(
                    "The assignment's resource is a service principal of this stack "
                    f"({resource or ', '.join(resource_sources)}); it must be Office 365 Exchange "
                    "Online's existing service principal, looked up by appId "
                    f"{EXCHANGE_ONLINE_APP_ID}.",
                    assignment.urn,
                )
            )
    return violations


def check_scoped_shape(
    resources: Sequence[StackResource], context: RuleContext
) -> list[StackViolation]:
    """An application that requests nothing (mailbox scoping enforced) comes with no consent."""
    assignments = [r for r in resources if r.type == APP_ROLE_ASSIGNMENT]
    violations = []
    for app in (r for r in resources if r.type == APPLICATION):
        found = _requested(app.props)
        if found is None or found[0] or found[1] or not assignments:
            continue
        violations.append(
            StackViolation(
                "The application requests no permission (the shape of mailboxScope.enforce), "
                f"but the stack declares {len(assignments)} AppRoleAssignment(s): a tenant-wide "
                "consent nobody requested. Either request Office 365 Exchange Online / "
                f"{FULL_ACCESS_AS_APP} with its consent, or neither.",
                app.urn,
            )
        )
    return violations


# --- the pack ------------------------------------------------------------------------------

RESOURCE_RULES: Final = (
    ResourceRule(
        "exchange-full-access-only",
        "An application of this stack requests exactly Office 365 Exchange Online / "
        "full_access_as_app (application permission, type Role), plus only what the policy "
        "config's allowedPermissions lists; or nothing (see scoped-consent-shape).",
        check_permissions,
        ALLOWED_PERMISSIONS_SCHEMA,
    ),
    ResourceRule(
        "single-tenant-audience",
        "An application of this stack is single tenant: signInAudience is AzureADMyOrg.",
        check_audience,
    ),
    ResourceRule(
        "owners-required",
        "The application and its service principal have at least one owner.",
        check_owners,
    ),
    ResourceRule(
        "no-password-credentials",
        "No password credentials anywhere in the stack: no ApplicationPassword, no "
        "ServicePrincipalPassword, no password block on an application.",
        check_no_passwords,
    ),
    ResourceRule(
        "certificate-credentials-valid",
        "Every ApplicationCertificate is an AsymmetricX509Cert whose endDate is in the future "
        "and not later than the certificate's own NotAfter.",
        check_certificate,
    ),
    ResourceRule(
        "app-role-assignment-full-access-only",
        "Every AppRoleAssignment grants full_access_as_app and no other app role.",
        check_assignment,
    ),
)

STACK_RULES: Final = (
    StackRule(
        "app-role-assignment-targets",
        "Every AppRoleAssignment grants to this project's service principal, on Office 365 "
        "Exchange Online's service principal (looked up, never managed by the stack).",
        check_assignment_targets,
    ),
    StackRule(
        "scoped-consent-shape",
        "An application requests either exactly Office 365 Exchange Online / full_access_as_app "
        "with its consent, or nothing and no consent (mailbox scoping enforced).",
        check_scoped_shape,
    ),
)
