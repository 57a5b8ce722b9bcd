"""Ways to reach or pass for the app without a credential of its own: findings, each rated.

Pure. The stack sets none of these properties, so what `pulumi up` leaves is the provider's
default (off, empty) and anything else was set outside Pulumi: public client flows, the
implicit grant, pre-authorized and known client applications, an exposed API or app roles,
a rename, an unlocked multi-tenant app, reply URLs, `HideApp`, a changed assignment
requirement, directory roles and groups of the service principal, token and claims
policies, and service principals named like ours. Severities as `compare` states them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Literal

from association.identifiers import SINGLE_TENANT_AUDIENCE
from association_tools.audit.inputs import Declared
from association_tools.audit.tenant import LiveTenant

Severity = Literal["high", "medium", "low"]
SEVERITIES: Final[tuple[Severity, ...]] = ("high", "medium", "low")

Rated = tuple[Severity, str, str]
"""(severity, code, message) of one finding; `compare` adds the target."""

HIDDEN_TAG: Final = "HideApp"
"""The service principal tag that hides an app from users' My Apps (Graph's tags docs)."""


def application_exposure(declared: Declared, live: LiveTenant) -> Iterator[Rated]:
    app, exposure = live.application, live.application.exposure
    if app.display_name != declared.display_name:
        yield (
            "medium",
            "renamed",
            f"is named {app.display_name!r}, not {declared.display_name!r} as the stack declares",
        )
    if exposure.fallback_public_client:
        yield (
            "medium",
            "fallback-public-client",
            "isFallbackPublicClient is true: public client flows (device code, username and "
            "password) get tokens for it without any credential",
        )
    if exposure.implicit_grant:
        yield (
            "medium",
            "implicit-grant",
            f"the implicit grant issues {' and '.join(exposure.implicit_grant)}s "
            "(web.implicitGrantSettings) to its redirect URIs",
        )
    for app_id in exposure.pre_authorized:
        yield (
            "medium",
            "pre-authorized-application",
            f"application {app_id} is pre-authorized for its API (api.preAuthorizedApplications):"
            " it gets delegated tokens for it without anyone's consent",
        )
    for app_id in exposure.known_clients:
        yield (
            "medium",
            "known-client-application",
            f"application {app_id} is a known client (api.knownClientApplications): consenting "
            "to it consents to this app too",
        )
    for scope in exposure.scopes:
        yield "medium", "exposed-scope", f"its API exposes the delegated permission {scope!r}"
    for role in exposure.app_roles:
        yield (
            "medium",
            "app-role-defined",
            f"defines the app role {role!r}: the stack defines none",
        )
    if app.sign_in_audience != SINGLE_TENANT_AUDIENCE and not exposure.instance_lock:
        yield (
            "medium",
            "instance-lock-off",
            "servicePrincipalLockConfiguration does not lock its service principals' "
            "credentials, so the app's service principals in other tenants can be given some",
        )


def principal_exposure(declared: Declared, live: LiveTenant) -> Iterator[Rated]:
    sp, app = live.service_principal, live.application
    if sp.display_name and sp.display_name != declared.display_name:
        yield (
            "medium",
            "renamed",
            f"is named {sp.display_name!r}, not {declared.display_name!r} as the stack declares",
        )
    app_uris = {uri for _, uri in app.redirect_uris}
    for url in sp.reply_urls:
        if url not in app_uris:  # the application's own are named there already
            yield "medium", "reply-url", f"reply URL {url}: the stack sets none"
    if HIDDEN_TAG in sp.tags:
        yield (
            "medium",
            "hidden",
            f"is tagged {HIDDEN_TAG}: hidden from users' My Apps, as a backdoor would be",
        )
    if sp.assignment_required:
        yield (
            "medium",
            "assignment-required",
            "appRoleAssignmentRequired is true, set outside Pulumi (the stack leaves it false)",
        )
    roles = [member for member in sp.member_of if member.kind == "directoryRole"]
    for role in roles:
        yield (
            "high",
            "directory-role",
            f"holds the directory role {role.name!r} ({role.id}): it can act on the directory "
            "with that role's rights",
        )
    for assignment in sp.role_assignments:
        if assignment.kind != "/" or not roles:  # tenant-wide built-in ones are named above
            yield (
                "high",
                "directory-role",
                f"is assigned the directory role definition {assignment.name} at scope "
                f"{assignment.kind or '(none)'} (assignment {assignment.id})",
            )
    for group in (member for member in sp.member_of if member.kind == "group"):
        yield (
            "medium",
            "group-member",
            f"is a member of group {group.name!r} ({group.id}): it has whatever that group is "
            "granted",
        )
    for policy in live.policies:
        yield (
            "medium",
            "token-policy",
            f"the {policy.kind} {policy.name!r} ({policy.id}) applies to it or its application:"
            " its tokens are shaped by a policy the stack does not declare",
        )
    namesakes = {app_id.lower() for _, app_id in live.namesakes}
    for other in live.look_alikes:
        if other.app_id.lower() in namesakes and not other.mail_access:
            continue  # its application is named already (`found-twice`)
        owner = f", registered in tenant {other.owner_tenant}" if other.owner_tenant else ""
        if other.mail_access:
            yield (
                "high",
                "look-alike",
                f"another service principal is named {other.principal.name!r} (object "
                f"{other.principal.id}, appId {other.app_id}{owner}) and holds Exchange Online "
                "full_access_as_app: it can read every mailbox",
            )
        else:
            yield (
                "medium",
                "look-alike",
                f"another service principal is named {other.principal.name!r} (object "
                f"{other.principal.id}, appId {other.app_id}{owner}): a look-alike, or a "
                "leftover",
            )
