"""What the bootstrap writes in Graph: the pipeline apps' service principals, their admin
consent (app role assignments) and, for an adopted app, the deploy app as its owner.

Each write is made only when a read said it is missing, in one batch per kind. Graph's
answers decide what happened, per request: 201/204 done; "already exists" (a write raced by
another run) done too; 403 refused, which for Microsoft Graph's app roles means the signed-in
administrator is no Privileged Role Administrator (Entra, "Grant tenant-wide admin consent to
an application"): the tenant then waits for one, named, and nothing else is undone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from association_tools.audit.graph import GraphClient, GraphError, Request, Response
from association_tools.bootstrap.directory import TenantView, guid, ok, refusal
from association_tools.bootstrap.needs import AppRole, Role

GRAPH_OBJECTS: Final = "https://graph.microsoft.com/v1.0/directoryObjects/"
ALREADY: Final = ("already exist", "MultipleObjectsWithSameKeyValue")
"""How Graph says a write was made already (community-observed texts: not documented)."""


@dataclass
class Written:
    """What one tenant's writes did: each change said, each refusal named."""

    changes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Graph permissions a more privileged administrator must grant."""
    principals: dict[Role, str] = field(default_factory=dict)
    """Each pipeline app's service principal object ID, made now or before."""
    created: set[Role] = field(default_factory=set)
    """Those made by this run: Entra ID may not show them everywhere yet (replication)."""


def missing_grants(
    view: TenantView, needs: Mapping[Role, Sequence[AppRole]]
) -> dict[Role, list[AppRole]]:
    """Per present-or-to-be pipeline app, the permissions it does not hold yet."""
    missing: dict[Role, list[AppRole]] = {}
    for role, wanted in needs.items():
        held = view.held.get(role, frozenset())
        absent = [
            need
            for need in wanted
            if (resource := view.resource(need.resource)) is None
            or (resource.id, need.id) not in held
        ]
        if absent:
            missing[role] = absent
    return missing


def ensure_principals(
    client: GraphClient, view: TenantView, apps: Mapping[Role, str], written: Written
) -> None:
    """A service principal for each pipeline app that has none (`POST /servicePrincipals`)."""
    for role, principal in view.pipeline.items():
        if principal is not None:
            written.principals[role] = principal.id
    absent = [role for role in apps if role not in written.principals]
    answers = client.get_all(
        [Request(role, "/servicePrincipals", "POST", {"appId": apps[role]}) for role in absent]
    )
    for role in absent:
        body = ok(answers[role], f"creating the {role} app's service principal")
        written.principals[role] = guid(body, "id")
        written.created.add(role)
        written.changes.append(f"created the {role} app's service principal")


def ensure_grants(
    client: GraphClient,
    view: TenantView,
    missing: Mapping[Role, Sequence[AppRole]],
    written: Written,
) -> None:
    """Admin consent: each missing permission as an app role assignment of the app's own
    service principal (`POST /servicePrincipals/{id}/appRoleAssignments`)."""
    requests, named = [], {}
    for role, needs in missing.items():
        for n, need in enumerate(needs):
            resource = view.resource(need.resource)
            if resource is None:
                raise GraphError(f"the tenant has no service principal for {need.api}")
            if need.id not in resource.app_roles:
                raise GraphError(
                    f"{need.api} in this tenant offers no app role {need.id} ({need.name}): "
                    "nothing granted until this is understood"
                )
            principal = written.principals[role]
            body = {"principalId": principal, "resourceId": resource.id, "appRoleId": need.id}
            url = f"/servicePrincipals/{principal}/appRoleAssignments"
            requests.append(Request(f"{role}-{n}", url, "POST", body))
            named[f"{role}-{n}"] = (role, need)
    for key, answer in client.get_all(requests).items():
        role, need = named[key]
        what = f"{need.api} / {need.name} to the {role} app"
        if _done(answer):
            written.changes.append(f"granted {what}")
        elif answer.status == 403:
            written.refused.append(what)
        else:
            later = (
                "; its service principal was created a moment ago and Entra ID may not show it "
                "everywhere yet: run the bootstrap again in a minute (--resume)"
                if role in written.created
                else ""
            )
            raise GraphError(refusal(answer, f"granting {what}") + later, answer.status)


def ensure_owner(
    client: GraphClient,
    owner: str,
    application: tuple[str, frozenset[str]],
    service_principal: tuple[str, frozenset[str]],
    written: Written,
) -> None:
    """`owner` owns the application and its service principal (`POST .../owners/$ref`), so a
    deploy identity with Application.ReadWrite.OwnedBy may update what it adopts."""
    requests = [
        Request(
            kind, f"/{kind}/{object_id}/owners/$ref", "POST", {"@odata.id": GRAPH_OBJECTS + owner}
        )
        for kind, (object_id, owners) in (
            ("applications", application),
            ("servicePrincipals", service_principal),
        )
        if owner not in owners
    ]
    for kind, answer in client.get_all(requests).items():
        if not _done(answer):
            raise GraphError(
                refusal(answer, f"making the deploy app an owner of the adopted {kind}"),
                answer.status,
            )
        written.changes.append(f"made the deploy app an owner of the adopted {kind[:-1]}")


def _done(answer: Response) -> bool:
    if 200 <= answer.status < 300:
        return True
    return answer.status == 400 and any(marker in refusal(answer, "") for marker in ALREADY)
