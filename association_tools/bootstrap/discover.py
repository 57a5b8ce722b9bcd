"""An app made by hand from Mimecast's guide, found in the tenant: what `adopt` needs of it.

Every principal that holds full_access_as_app on Exchange Online but is none of ours is read
(its service principal and owners; then its application, which exists only in the tenant that
made it: an app of another tenant, such as Mimecast's own connectors, answers 404 and is left
to the audit). One made here is a candidate when it carries the guide's display name or a key
credential of one of the stack's certificates (or the guide's own, expired one). Its key
credentials become `adopt.keyIds` (thumbprint -> keyId, as the stack then leaves them).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from association.identifiers import (
    DEFAULT_DISPLAY_NAME,
    FULL_ACCESS_AS_APP_ROLE_ID,
    GUIDE_CERTIFICATE_THUMBPRINT,
    KEY_CREDENTIAL_TYPE,
)
from association.text import visible
from association_tools.audit.graph import GraphClient, Request
from association_tools.bootstrap.directory import (
    Assignment,
    TenantView,
    checked,
    guid,
    listed,
    ok,
    text,
)

APP_SELECT: Final = "id,appId,displayName,keyCredentials,notes"
MANAGED: Final = "Managed by Pulumi project mimecast-association"
"""How a stack's own application's `notes` begin (association.component): never adopted."""
MAX_HOLDERS: Final = 50
"""Holders of full_access_as_app read per tenant (in batches of 20); a tenant with more is
left to a person: the bootstrap adopts nothing there."""


@dataclass(frozen=True)
class Owned:
    """An adopted application and its service principal, and who owns each now."""

    application: str
    service_principal: str
    application_owners: frozenset[str]
    service_principal_owners: frozenset[str]


@dataclass(frozen=True)
class HandMade:
    """The objects `adopt` names, and who owns them now."""

    owned: Owned
    app_id: str
    display_name: str
    assignment_id: str
    key_ids: Mapping[str, str]
    """SHA-1 thumbprint (upper-case hex) -> keyId, of each certificate on the application."""
    why: str
    """What made it a candidate: its name, or a certificate."""


@dataclass(frozen=True)
class Found:
    candidates: tuple[HandMade, ...]
    notes: tuple[str, ...] = field(default=())
    undecided: bool = False
    """Not every holder was read: what to adopt is for a person to say."""


def find_hand_made(client: GraphClient, view: TenantView, thumbprints: frozenset[str]) -> Found:
    """The candidates among full_access_as_app's holders, and a note for each other holder."""
    ours = {p.id for p in view.pipeline.values() if p is not None}
    holders = [
        a
        for a in view.exchange_holders
        if a.app_role_id == FULL_ACCESS_AS_APP_ROLE_ID and a.principal_id not in ours
    ]
    if len(holders) > MAX_HOLDERS:
        return Found(
            (),
            (
                f"{len(holders)} apps hold full_access_as_app, more than the {MAX_HOLDERS} the "
                "bootstrap reads: none adopted; look at them (the audit lists them)",
            ),
            undecided=True,
        )
    if not holders:
        return Found(())
    notes: list[str] = []
    principals = client.get_all(
        [
            request
            for n, a in enumerate(holders)
            for request in (
                Request(
                    f"sp{n}", f"/servicePrincipals/{a.principal_id}?$select=id,appId,displayName"
                ),
                Request(f"spo{n}", f"/servicePrincipals/{a.principal_id}/owners?$select=id"),
            )
        ]
    )
    gone = [n for n in range(len(holders)) if principals[f"sp{n}"].status == 404]
    notes += [
        f"an app role assignment ({holders[n].id}) names principal {holders[n].principal_id}, "
        "which no longer exists: left alone"
        for n in gone
    ]
    app_ids = {
        n: checked(ok(principals[f"sp{n}"], "reading a holder of full_access_as_app"), "appId")
        for n in range(len(holders))
        if n not in gone
    }
    apps = client.get_all(
        [
            request
            for n, app_id in app_ids.items()
            for request in (
                Request(f"app{n}", f"/applications(appId='{app_id}')?$select={APP_SELECT}"),
                Request(f"appo{n}", f"/applications(appId='{app_id}')/owners?$select=id"),
            )
        ]
    )
    candidates = []
    wanted = thumbprints | {GUIDE_CERTIFICATE_THUMBPRINT}
    for n, holder in enumerate(holders):
        if n in gone:
            continue
        name = text(principals[f"sp{n}"].body, "displayName")
        if apps[f"app{n}"].status == 404:
            notes.append(
                f"{visible(name)!r} (appId {app_ids[n]}) holds full_access_as_app but was not made "
                "in this tenant: not adopted (the audit reports it)"
            )
            continue
        app = ok(apps[f"app{n}"], "reading the application of a holder of full_access_as_app")
        if text(app, "notes").startswith(MANAGED):
            continue  # a stack's own: deployed already, by this or another stack
        key_ids = _key_ids(app)
        why = (
            "its name is the guide's"
            if text(app, "displayName") == DEFAULT_DISPLAY_NAME
            else "it carries the stack's certificate"
            if wanted & set(key_ids)
            else ""
        )
        if not why:
            notes.append(
                f"{visible(name)!r} (appId {app_ids[n]}) holds full_access_as_app but has neither "
                "the guide's name nor the stack's certificate: not adopted"
            )
            continue
        candidates.append(
            _hand_made(holder, app, key_ids, principals[f"spo{n}"].body, apps[f"appo{n}"].body, why)
        )
    return Found(tuple(candidates), tuple(notes))


def _hand_made(
    holder: Assignment,
    app: Mapping[str, object],
    key_ids: Mapping[str, str],
    sp_owners: Mapping[str, object],
    app_owners: Mapping[str, object],
    why: str,
) -> HandMade:
    owned = Owned(checked(app, "id"), holder.principal_id, _ids(app_owners), _ids(sp_owners))
    return HandMade(owned, checked(app, "appId"), text(app, "displayName"), holder.id, key_ids, why)


def read_owned(client: GraphClient, application: str, service_principal: str) -> Owned:
    """The owners of an application and service principal a stack file adopts already."""
    answers = client.get_all(
        [
            Request("app", f"/applications/{application}/owners?$select=id"),
            Request("sp", f"/servicePrincipals/{service_principal}/owners?$select=id"),
        ]
    )
    doing = "reading the owners of the application the stack file adopts"
    return Owned(
        application,
        service_principal,
        _ids(ok(answers["app"], doing)),
        _ids(ok(answers["sp"], doing)),
    )


def _ids(owners: Mapping[str, object]) -> frozenset[str]:
    return frozenset(guid(owner, "id") for owner in listed(owners.get("value")))


def _key_ids(app: Mapping[str, object]) -> dict[str, str]:
    """Thumbprint -> keyId of each certificate credential; `customKeyIdentifier` is the SHA-1
    thumbprint in base64 unless someone set it otherwise (then it is left out)."""
    found = {}
    for credential in listed(app.get("keyCredentials")):
        if text(credential, "type") != KEY_CREDENTIAL_TYPE:
            continue
        try:
            digest = base64.b64decode(text(credential, "customKeyIdentifier"), validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(digest) == 20 and guid(credential, "keyId"):
            found[digest.hex().upper()] = guid(credential, "keyId")
    return found
