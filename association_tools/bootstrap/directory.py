"""What the bootstrap reads of one tenant in Microsoft Graph, typed: two batches.

First the service principals by appId (the pipeline apps', Microsoft Graph's and Exchange
Online's: Graph's `GET /servicePrincipals(appId='...')`, 404 when absent), then what each
pipeline app holds (`/appRoleAssignments`) and who holds Exchange Online's roles
(`/appRoleAssignedTo`: an app made by hand from Mimecast's guide holds full_access_as_app).
Graph's answers are hostile input: every field is type-checked, a missing one is empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from association.identifiers import EXCHANGE_ONLINE_APP_ID, is_guid
from association.text import visible
from association_tools.audit.graph import GraphClient, GraphError, Request, Response, error_code
from association_tools.bootstrap.needs import GRAPH_APP_ID, Role

PRINCIPAL_SELECT: Final = "id,appId,displayName,appRoles"


@dataclass(frozen=True)
class Principal:
    """A service principal as the bootstrap needs it."""

    id: str
    app_id: str
    display_name: str
    app_roles: frozenset[str]
    """The IDs of the app roles it offers (an API's: Graph's, Exchange Online's)."""


@dataclass(frozen=True)
class Assignment:
    id: str
    principal_id: str
    resource_id: str
    app_role_id: str


@dataclass(frozen=True)
class TenantView:
    """The tenant's APIs, our pipeline apps and what they hold, and Exchange's role holders."""

    graph: Principal | None
    exchange: Principal | None
    pipeline: Mapping[Role, Principal | None]
    held: Mapping[Role, frozenset[tuple[str, str]]]
    """Each present pipeline app's grants: (resource service principal ID, app role ID)."""
    exchange_holders: tuple[Assignment, ...]
    """Every app role assignment of Exchange Online's service principal."""

    def resource(self, app_id: str) -> Principal | None:
        return self.graph if app_id == GRAPH_APP_ID else self.exchange


def by_app_id(app_id: str) -> str:
    return f"/servicePrincipals(appId='{quote(app_id, safe='-')}')?$select={PRINCIPAL_SELECT}"


def read_view(client: GraphClient, apps: Mapping[Role, str]) -> TenantView:
    """Both batches; GraphError when Graph refuses or breaks (the message names the cause)."""
    wanted: dict[str, str] = {"graph": GRAPH_APP_ID, "exchange": EXCHANGE_ONLINE_APP_ID}
    wanted.update(apps.items())
    first = client.get_all([Request(name, by_app_id(app_id)) for name, app_id in wanted.items()])
    found = {name: principal_of(name, first[name]) for name in wanted}
    pipeline: dict[Role, Principal | None] = {role: found[role] for role in apps}
    second = [
        Request(role, f"/servicePrincipals/{principal.id}/appRoleAssignments")
        for role, principal in pipeline.items()
        if principal is not None
    ]
    exchange = found["exchange"]
    if exchange is not None:
        second.append(Request("holders", f"/servicePrincipals/{exchange.id}/appRoleAssignedTo"))
    answers = client.get_all(second) if second else {}
    held = {
        role: frozenset((a.resource_id, a.app_role_id) for a in assignments(answers[role], role))
        for role in pipeline
        if role in answers
    }
    holders = assignments(answers["holders"], "holders") if "holders" in answers else ()
    return TenantView(found["graph"], exchange, pipeline, held, holders)


def principal_of(name: str, response: Response) -> Principal | None:
    """The service principal answered, None for Graph's 404, GraphError for anything else."""
    if response.status == 404:
        return None
    body = ok(response, f"reading the service principal of {name}")
    return Principal(
        checked(body, "id"),
        checked(body, "appId"),
        text(body, "displayName"),
        frozenset(
            guid(role, "id")
            for role in listed(body.get("appRoles"))
            if role.get("allowedMemberTypes") is None
            or "Application" in listed_text(role.get("allowedMemberTypes"))
        ),
    )


def assignments(response: Response, what: str) -> tuple[Assignment, ...]:
    body = ok(response, f"reading the app role assignments ({what})")
    return tuple(
        Assignment(
            text(item, "id"),  # base64url: its letter case matters
            checked(item, "principalId"),
            guid(item, "resourceId"),
            guid(item, "appRoleId"),
        )
        for item in listed(body.get("value"))
    )


def ok(response: Response, doing: str) -> Mapping[str, Any]:
    """The body of a 2xx answer; GraphError naming what was being done otherwise."""
    if 200 <= response.status < 300:
        return response.body
    raise GraphError(refusal(response, doing), response.status)


def refusal(response: Response, doing: str) -> str:
    code = error_code(response.body)
    error = response.body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    said = " ".join(part for part in (code, message) if isinstance(part, str) and part)
    return f"{doing}: Graph answered {response.status}" + (f" ({said})" if said else "")


def text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def guid(item: Mapping[str, Any], key: str) -> str:
    """An ID as Graph writes it, in lower case (so IDs compare whatever case came back)."""
    return text(item, key).lower()


def checked(item: Mapping[str, Any], key: str) -> str:
    """An ID that goes into a URL or a stack file: a GUID, or GraphError (Graph's answers are
    hostile input too)."""
    value = guid(item, key)
    if not is_guid(value):
        raise GraphError(f"Graph answered a {key} that is no GUID: {visible(value)[:60]!r}")
    return value


def listed(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def listed_text(value: object) -> Sequence[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
