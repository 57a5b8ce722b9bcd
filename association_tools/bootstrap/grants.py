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
from association_tools.bootstrap.directory import TenantView, by_app_id, checked, ok, refusal
from association_tools.bootstrap.discover import Owned
from association_tools.bootstrap.needs import AppRole, Role

GRAPH_OBJECTS: Final = "https://graph.microsoft.com/v1.0/directoryObjects/"
ALREADY: Final = ("already exist", "MultipleObjectsWithSameKeyValue")
"""How Graph says a write was made already (community-observed texts: not documented)."""
REPLICATION_WAITS: Final = (2.0, 4.0, 8.0)
"""Seconds between reads of what was just made: Entra ID may not show a new service
principal everywhere at once (Graph's appRoleAssignedTo page warns of replication delays)."""
AGAIN: Final = (
    "Entra ID may take a minute to show it everywhere: run the bootstrap again (--resume)"
)


@dataclass
class Written:
    """What one tenant's writes did: each change said, each refusal named."""

    changes: list[str] = field(default_factory=list)
    refused: list[tuple[str, AppRole]] = field(default_factory=list)
    """Permissions the administrator may not grant, each with the app it was for."""
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
    """A service principal for each pipeline app that has none (`POST /servicePrincipals`).
    Graph answering that one exists already (a read that did not see it yet: replication, or
    another run) is taken for done, and it is read again until it shows."""
    for role, principal in view.pipeline.items():
        if principal is not None:
            written.principals[role] = principal.id
    absent = [role for role in apps if role not in written.principals]
    answers = client.get_all(
        [Request(role, "/servicePrincipals", "POST", {"appId": apps[role]}) for role in absent]
    )
    for role in absent:
        doing = f"creating the {role} app's service principal"
        if _done(answers[role]) and not 200 <= answers[role].status < 300:
            written.principals[role] = _read_again(client, apps[role], doing)
            continue
        written.principals[role] = checked(ok(answers[role], doing), "id")
        written.created.add(role)
        written.changes.append(f"created the {role} app's service principal")


def _read_again(client: GraphClient, app_id: str, doing: str) -> str:
    for wait in (*REPLICATION_WAITS, None):
        answer = client.get_all([Request("sp", by_app_id(app_id))])["sp"]
        if answer.status != 404:
            return checked(ok(answer, doing), "id")
        if wait is not None:
            client.sleep(wait)
    raise GraphError(f"{doing}: Graph says it exists but does not show it yet; {AGAIN}", 404)


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
    waits = iter(REPLICATION_WAITS)
    while requests:
        failed = []
        for key, answer in client.get_all(requests).items():
            role, need = named[key]
            what = f"{need.api} / {need.name} to the {role} app"
            if _done(answer):
                written.changes.append(f"granted {what}")
            elif answer.status == 403:
                written.refused.append((role, need))
            elif role in written.created and answer.status in (400, 404):
                failed.append((key, answer, what))  # the new principal not seen here yet
            else:
                raise GraphError(refusal(answer, f"granting {what}"), answer.status)
        if not failed:
            return
        wait = next(waits, None)
        if wait is None:
            key, answer, what = failed[0]
            raise GraphError(f"{refusal(answer, f'granting {what}')}; {AGAIN}", answer.status)
        client.sleep(wait)
        requests = [r for r in requests if r.id in {key for key, _, _ in failed}]


def ensure_owners(
    client: GraphClient, owners: Sequence[str], owned: Owned, dry_run: bool, written: Written
) -> None:
    """Each of `owners` owns the adopted application and its service principal (`POST
    .../owners/$ref`): a deploy identity with Application.ReadWrite.OwnedBy may then update
    what it adopts, and it cannot add owners itself (docs/adoption.md)."""
    missing = [
        (kind, object_id, owner)
        for kind, object_id, present in (
            ("applications", owned.application, owned.application_owners),
            ("servicePrincipals", owned.service_principal, owned.service_principal_owners),
        )
        for owner in owners
        if owner not in present
    ]
    said = {kind: f"the adopted {kind[:-1].replace('P', ' p')}" for kind, _, _ in missing}
    if dry_run:
        written.changes += [f"would make {owner} an owner of {said[k]}" for k, _, owner in missing]
        return
    requests = [
        Request(
            f"{n}", f"/{kind}/{object_id}/owners/$ref", "POST", {"@odata.id": GRAPH_OBJECTS + owner}
        )
        for n, (kind, object_id, owner) in enumerate(missing)
    ]
    for key, answer in client.get_all(requests).items():
        kind, _, owner = missing[int(key)]
        if not _done(answer):
            raise GraphError(
                refusal(answer, f"making {owner} an owner of {said[kind]}"), answer.status
            )
        written.changes.append(f"made {owner} an owner of {said[kind]}")


def _done(answer: Response) -> bool:
    if 200 <= answer.status < 300:
        return True
    return answer.status == 400 and any(marker in refusal(answer, "") for marker in ALREADY)
