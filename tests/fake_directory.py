"""A fake Microsoft Graph v1.0 directory on 127.0.0.1 for many tenants at once (the bootstrap's).

One administrator signs in once and works in every tenant: the bearer token `token-<tenantId>`
acts in that tenant as its signed-in administrator, whose Entra roles are the tenant's
`admin_roles`; any other token is a 401 `InvalidAuthenticationToken`. A world registry of
multi-tenant apps (`FakeDirectory.apps`) is what `POST /servicePrincipals {"appId"}` creates a
service principal from; applications themselves exist only in the tenant that made them.

Requests come one by one (`GET/POST /v1.0/...`) or in a JSON batch (`POST /v1.0/$batch`,
learn.microsoft.com/graph/json-batching: 1 to 20 requests, each `{id, method, url, body?,
headers?, dependsOn?}`, ids unique, a `Content-Type` header whenever there is a body, each
answered `{id, status, headers, body}`), and both go through the same code. As strict as the
docs, never more lenient: a `$select` of a property the type does not have is a 400, a
`$filter` is honoured only in the forms the resource's reference documents (others are
Graph's `Request_UnsupportedQuery`), a query option the fake does not know is a 400, and the
Entra role each write needs (from the API pages' role lists) is checked. A key credential's
`key` comes back only when `keyCredentials` is selected on one object (keycredential.md).

Where Microsoft documents no error, the fake answers what public clients observe, and says so
beside it. Knobs: `page_size`, `latency` per HTTP request, `replication_lag` (a new service
principal stays invisible to reads by appId, as the API pages warn), `throttle` (429 with
Retry-After for a tenant's next requests), `reverse_responses` (a batch answered in another
order, which the docs allow). `calls` records every request. Served as the fake Graph is
(`fakegraph.serve_handler`).

Not modelled (answered 400 or 405, never faked as success): PATCH/DELETE (so no
`Prefer: create-if-missing` upsert and no removal), directory roles and
`roleManagement/directory/roleAssignments`, `$expand`, `$count`, `$orderby`, `$search`,
users and groups beyond the signed-in admin, delegated scopes in the token (only the admin's
Entra roles are checked), and replication lag on writes (a grant to a service principal made
a moment ago succeeds at once).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from cryptography import x509
from fakegraph import JSON_TYPE, QuietHandler, serve_handler
from fakegraph import PROPERTIES as GRAPH_PROPERTIES

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
"""The tenant Microsoft's first-party apps are registered in (their appOwnerOrganizationId)."""

GRAPH_ROLES: dict[str, str] = {
    "Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "Domain.Read.All": "dbb9058a-0e50-45d7-ae91-66909b5d4664",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "Policy.Read.All": "246dd0d5-5bd0-4def-940b-0421030a5b68",
    "RoleManagement.Read.Directory": "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "Mail.Read": "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
}
"""Microsoft Graph's application permissions (app roles) by value (permissions-ids.md)."""
FULL_ACCESS_AS_APP = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
MANAGE_AS_APP = "dc50a0fb-09a3-484d-be87-e023b12c6440"
EXCHANGE_ROLES: dict[str, str] = {
    "full_access_as_app": FULL_ACCESS_AS_APP,
    "Exchange.ManageAsApp": MANAGE_AS_APP,
}

GLOBAL_ADMINISTRATOR = "Global Administrator"
PRIVILEGED_ROLE_ADMINISTRATOR = "Privileged Role Administrator"
CLOUD_APPLICATION_ADMINISTRATOR = "Cloud Application Administrator"
APPLICATION_ADMINISTRATOR = "Application Administrator"
EXCHANGE_ADMINISTRATOR = "Exchange Administrator"
WITHOUT_PRIVILEGED_ROLE: frozenset[str] = frozenset(
    {CLOUD_APPLICATION_ADMINISTRATOR, EXCHANGE_ADMINISTRATOR}
)
"""An administrator who may create service principals and grant Exchange's app roles, but
not Microsoft Graph's (grant-admin-consent.md): the "consent refused" tenant."""

CREATE_SERVICE_PRINCIPAL: frozenset[str] = frozenset(
    {GLOBAL_ADMINISTRATOR, APPLICATION_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR}
)
"""serviceprincipal-post-serviceprincipals.md: for a multi-tenant app the caller must also be
an Application Administrator or Cloud Application Administrator."""
GRANT_GRAPH_ROLE: frozenset[str] = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})
"""rbac-approleassignments-apis-write.md: Privileged Role Administrator is "the least
privileged role supported for Microsoft Graph and Azure AD Graph app roles"."""
GRANT_OTHER_ROLE: frozenset[str] = GRANT_GRAPH_ROLE | {
    CLOUD_APPLICATION_ADMINISTRATOR,
    APPLICATION_ADMINISTRATOR,
}
"""grant-admin-consent.md: Cloud Application / Application Administrator may consent to any
API's application permissions except Microsoft Graph's."""
ADD_OWNER: frozenset[str] = CREATE_SERVICE_PRINCIPAL
"""application-post-owners.md / serviceprincipal-post-owners.md (their Hybrid Identity
Administrator is left out: stricter, never more lenient)."""

HAND_MADE_NAME = "Mimecast Cloud Synchronization"
"""The display name Mimecast's guide gives the app made by hand."""
PIPELINE_APPS: dict[str, str] = {
    "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b": "Mimecast association deploy",
    "7b2a1d3f-4c5e-4f6a-9b0c-1d2e3f4a5b6c": "Mimecast association preview",
    "8c3b2e4a-5d6f-4a7b-8c1d-2e3f4a5b6c7d": "Mimecast association audit",
}
"""Example appIds of the three multi-tenant pipeline apps (docs/pipelines.md step 1)."""

DIRECTORY_OBJECT_ID = "https://graph.microsoft.com/v1.0/directoryObjects/"
NOT_FOUND = (
    "Resource '{}' does not exist or one of its queried reference-property objects are not present."
)
DENIED = "Insufficient privileges to complete the operation."
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BY_APP_ID = re.compile(r"(servicePrincipals|applications)\(appId='([^']*)'\)")

_ORGANIZATION = (
    "id,displayName,verifiedDomains,tenantType,createdDateTime,countryLetterCode,city,"
    "businessPhones,technicalNotificationMails,assignedPlans,provisionedPlans,"
    "onPremisesSyncEnabled,preferredLanguage,privacyProfile,street,postalCode,state,"
    "country,deletedDateTime,securityComplianceNotificationMails"
)
PROPERTIES: dict[str, frozenset[str]] = {
    **GRAPH_PROPERTIES,
    "appRoleAssignment": GRAPH_PROPERTIES["appRoleAssignment"] | {"deletedDateTime"},
    "organization": frozenset(_ORGANIZATION.split(",")),
}
"""Properties of each resource type (Graph v1.0 reference), for `$select`."""

FILTERS: dict[str, list[re.Pattern[str]]] = {
    "appRoleAssignments": [re.compile(r"(resourceId) eq (" + GUID.pattern + ")")],
    "appRoleAssignedTo": [
        re.compile(r"(resourceId) eq (" + GUID.pattern + ")"),
        re.compile(r"(principalDisplayName) eq '((?:[^']|'')*)'"),
    ],
    "servicePrincipals": [re.compile(r"(appId) eq '(" + GUID.pattern + ")'")],
}
"""The `$filter` forms honoured, by list. appRoleAssignment.md documents `resourceId` (`eq`,
a Guid: unquoted) and `principalDisplayName` (`eq`, `startswith`) only; `principalId` is not
documented, so it is refused, though third-party code uses it. servicePrincipal.md: `appId`
supports `eq`."""


class GraphError(Exception):
    """An error answer: HTTP status, Graph error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(code: str, message: str) -> dict[str, Any]:
    """Graph's error body (the fake Graph's shape)."""
    inner = {
        "date": "2026-11-26T12:00:00",
        "request-id": "5c1f2d3e-0000-4000-8000-000000000002",
        "client-request-id": "5c1f2d3e-0000-4000-8000-000000000002",
    }
    return {"error": {"code": code, "message": message, "innerError": inner}}


def _not_found(name: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound", NOT_FOUND.format(name))


def _bad(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def app_role(role_id: str, value: str) -> dict[str, Any]:
    """An application permission as a resource service principal lists it in `appRoles`."""
    return {
        "allowedMemberTypes": ["Application"],
        "description": value,
        "displayName": value,
        "id": role_id,
        "isEnabled": True,
        "origin": "Application",
        "value": value,
    }


@dataclass
class WorldApp:
    """A multi-tenant app any tenant may make a service principal of."""

    app_id: str
    display_name: str
    home_tenant: str
    app_roles: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeTenant:
    """One tenant's directory: what Graph returns for it, and the signed-in admin's roles."""

    tenant_id: str
    name: str
    """The initial domain is `<name>.onmicrosoft.com`."""
    admin_roles: set[str] = field(default_factory=lambda: {GLOBAL_ADMINISTRATOR})
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)
    """Only applications made in this tenant (single- or multi-tenant)."""
    assignments: list[dict[str, Any]] = field(default_factory=list)
    """App role assignments: principalId (a service principal) -> resourceId's appRoleId."""
    owners: dict[str, set[str]] = field(default_factory=dict)
    """Application or service principal object ID -> its owners' object IDs."""
    admin_id: str = ""
    """The signed-in administrator's user object ID (a directory object that may own apps)."""
    users: set[str] = field(default_factory=set)
    hidden: dict[str, int] = field(default_factory=dict)
    """Service principal object ID -> how many more requests it is invisible to by appId."""

    def __post_init__(self) -> None:
        if not self.admin_id:
            self.admin_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"admin@{self.tenant_id}"))
        self.users.add(self.admin_id)

    @property
    def domain(self) -> str:
        return f"{self.name}.onmicrosoft.com"

    def organization(self) -> dict[str, Any]:
        domain = {
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": True,
            "isInitial": True,
            "name": self.domain,
            "type": "Managed",
        }
        return {
            "id": self.tenant_id,
            "displayName": self.name,
            "tenantType": "AAD",
            "verifiedDomains": [domain],
        }

    def service_principal(self, app_id: str) -> dict[str, Any] | None:
        """The service principal of `app_id`, replication lag or not."""
        return next((s for s in self.service_principals if s["appId"] == app_id), None)

    def application(self, app_id: str) -> dict[str, Any] | None:
        return next((a for a in self.applications if a["appId"] == app_id), None)

    def object(self, object_id: str) -> tuple[str, dict[str, Any] | None] | None:
        """A directory object's type (`servicePrincipal`, `application`, `user`) and entity."""
        wanted = object_id.lower()
        for kind, items in (
            ("servicePrincipal", self.service_principals),
            ("application", self.applications),
        ):
            found = next((i for i in items if i["id"] == wanted), None)
            if found is not None:
                return kind, found
        return ("user", None) if wanted in self.users else None


@dataclass
class Call:
    """One Graph request as the fake received it (a batch's requests each count)."""

    tenant: str
    method: str
    path: str
    """Relative to /v1.0, percent-decoded, with a leading `/` and without the query."""
    body: Any
    query: dict[str, str] = field(default_factory=dict)
    batched: bool = False


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _microsoft_apps() -> dict[str, WorldApp]:
    graph = [app_role(role_id, value) for value, role_id in GRAPH_ROLES.items()]
    exchange = [app_role(role_id, value) for value, role_id in EXCHANGE_ROLES.items()]
    return {
        GRAPH_APP_ID: WorldApp(GRAPH_APP_ID, "Microsoft Graph", MICROSOFT_TENANT, graph),
        EXCHANGE_APP_ID: WorldApp(
            EXCHANGE_APP_ID, "Office 365 Exchange Online", MICROSOFT_TENANT, exchange
        ),
    }


@dataclass
class FakeDirectory:
    """The server's state: every tenant, the world's multi-tenant apps, knobs and calls."""

    tenants: dict[str, FakeTenant] = field(default_factory=dict)
    apps: dict[str, WorldApp] = field(default_factory=_microsoft_apps)
    """The world registry: appId -> the multi-tenant app (Microsoft Graph and Exchange Online
    are there from the start)."""
    page_size: int = 100
    latency: float = 0.0
    """Seconds each HTTP request waits (outside the lock) before it is answered."""
    replication_lag: int = 0
    """A service principal just made is invisible to reads by appId (`(appId='…')` and
    `$filter=appId eq …`) for this many of its tenant's next requests."""
    throttle: dict[str, int] = field(default_factory=dict)
    """Tenant ID -> this many of its next requests are answered 429 (and not run)."""
    retry_after: str = "1"
    reverse_responses: bool = False
    """Answer a batch's requests in reverse order (json-batching: "in any order")."""
    calls: list[Call] = field(default_factory=list)
    batches: int = 0
    http_requests: int = 0
    seed: int = 0
    """Object IDs come from a random generator with this seed: the same run, the same IDs."""
    base: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    # State and builders' helpers.

    def new_id(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def add(self, tenant: FakeTenant) -> FakeTenant:
        with self.lock:
            self.tenants[tenant.tenant_id] = tenant
        return tenant

    def register(
        self,
        app_id: str,
        display_name: str,
        home_tenant: str,
        app_roles: Iterable[dict[str, Any]] = (),
    ) -> WorldApp:
        """Make `app_id` a multi-tenant app of `home_tenant` that other tenants may install."""
        with self.lock:
            made = WorldApp(app_id, display_name, home_tenant, list(app_roles))
            self.apps[app_id] = made
            return made

    def install(self, tenant: FakeTenant, app_id: str) -> dict[str, Any]:
        """Put the service principal of a world app (or of the tenant's own app) in `tenant`,
        as consent or `POST /servicePrincipals` leaves it; no role is checked."""
        with self.lock:
            world = self.apps.get(app_id)
            own = tenant.application(app_id)
            if world is None and own is None:
                raise _bad(
                    f"The appId '{app_id}' of the service principal does not reference a "
                    "valid application object."
                )
            if own is not None:
                name, home, roles = own["displayName"], tenant.tenant_id, own.get("appRoles", [])
            else:
                assert world is not None
                name, home, roles = world.display_name, world.home_tenant, world.app_roles
            made = {
                "id": self.new_id(),
                "appId": app_id,
                "displayName": name,
                "appDisplayName": name,
                "accountEnabled": True,
                "appOwnerOrganizationId": home,
                "appRoleAssignmentRequired": False,
                "appRoles": [dict(role) for role in roles],
                "keyCredentials": [],
                "passwordCredentials": [],
                "servicePrincipalNames": [app_id],
                "servicePrincipalType": "Application",
                "signInAudience": "AzureADMyOrg" if own and not world else "AzureADMultipleOrgs",
                "tags": [],
            }
            tenant.service_principals.append(made)
            return made

    def grant(
        self, tenant: FakeTenant, principal: dict[str, Any], app_role_id: str
    ) -> dict[str, Any]:
        """An app role assignment of `app_role_id` to `principal`, on whichever service
        principal of the tenant defines that app role; no role is checked."""
        with self.lock:
            for resource in tenant.service_principals:
                if any(r["id"] == app_role_id for r in resource.get("appRoles", [])):
                    return self._assign(tenant, principal, resource, app_role_id)
            raise KeyError(f"no service principal of {tenant.name} defines app role {app_role_id}")

    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.method != "GET"]

    def _assign(
        self,
        tenant: FakeTenant,
        principal: dict[str, Any],
        resource: dict[str, Any],
        app_role_id: str,
    ) -> dict[str, Any]:
        tail = bytes(self._random.getrandbits(8) for _ in range(16))
        raw = uuid.UUID(principal["id"]).bytes_le + tail
        made = {
            "id": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "appRoleId": app_role_id,
            "createdDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "deletedDateTime": None,
            "principalDisplayName": principal["displayName"],
            "principalId": principal["id"],
            "principalType": "ServicePrincipal",
            "resourceDisplayName": resource["displayName"],
            "resourceId": resource["id"],
        }
        tenant.assignments.append(made)
        return made

    # The wire.

    def _tenant(self, authorization: str) -> FakeTenant | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith("token-"):
            return None
        return self.tenants.get(token.removeprefix("token-"))

    def answer(
        self, authorization: str, method: str, url: str, raw: bytes, content_type: str
    ) -> Answer:
        """One request sent directly: `url` relative to /v1.0."""
        with self.lock:
            self.http_requests += 1
            tenant = self._tenant(authorization)
            if tenant is None:
                return _unauthorized()
            body: Any = None
            if raw:
                if not content_type.lower().startswith("application/json"):
                    return _answer_of(_bad("A request body needs Content-Type application/json."))
                try:
                    body = json.loads(raw)
                except ValueError:
                    return _answer_of(_bad("Unable to read JSON request payload.", "BadRequest"))
            return self._one(tenant, method, url, body, batched=False)

    def answer_batch(self, authorization: str, raw: bytes) -> Answer:
        """`POST /v1.0/$batch`: the whole batch is a 400 when its format is wrong."""
        with self.lock:
            self.http_requests += 1
            self.batches += 1
            tenant = self._tenant(authorization)
            if tenant is None:
                return _unauthorized()
            try:
                requests = _batch_requests(raw)
            except GraphError as refused:
                return _answer_of(refused)
            done: dict[str, dict[str, Any]] = {}
            for request in requests:
                key = request["id"].lower()
                failed = [
                    d for d in request.get("dependsOn", []) if done[d.lower()]["status"] >= 400
                ]
                if failed:
                    answer = _answer_of(GraphError(424, "FailedDependency", "Dependency failed."))
                else:
                    answer = self._one(
                        tenant,
                        request["method"].upper(),
                        request["url"],
                        request.get("body"),
                        batched=True,
                    )
                item: dict[str, Any] = {
                    "id": request["id"],
                    "status": answer.status,
                    "headers": answer.headers,
                    "body": answer.body,
                }
                done[key] = item
            responses = [done[r["id"].lower()] for r in requests]
            if self.reverse_responses:
                responses.reverse()
            return Answer(200, {"responses": responses}, {"Content-Type": JSON_TYPE})

    def _one(self, tenant: FakeTenant, method: str, url: str, body: Any, batched: bool) -> Answer:
        parts = urlsplit(url)
        path = "/" + unquote(parts.path).strip("/")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = dict(pairs)
        self.calls.append(Call(tenant.tenant_id, method, path, body, query, batched))
        if self.throttle.get(tenant.tenant_id):
            self.throttle[tenant.tenant_id] -= 1
            refused = GraphError(429, "TooManyRequests", "Too many requests.")
            return _answer_of(refused, {"Retry-After": self.retry_after})
        hidden = {i for i, left in tenant.hidden.items() if left > 0}
        tenant.hidden = {i: left - 1 for i, left in tenant.hidden.items() if left > 1}
        try:
            if parts.scheme or parts.netloc:
                raise _bad("Invalid request URL: a batch request's url is relative.", "BadRequest")
            if len(pairs) != len(query):
                raise _bad("A query option is given more than once.", "BadRequest")
            status, answered = _Request(self, tenant, method, path, query, body, hidden).route()
        except GraphError as refused:
            return _answer_of(refused)
        headers = {} if answered is None else {"Content-Type": JSON_TYPE}
        return Answer(status, answered, headers)


def _unauthorized() -> Answer:
    refused = GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
    return _answer_of(refused)


def _answer_of(refused: GraphError, extra: dict[str, str] | None = None) -> Answer:
    headers = {"Content-Type": JSON_TYPE, **(extra or {})}
    return Answer(refused.status, error(refused.code, refused.message), headers)


def _batch_requests(raw: bytes) -> list[dict[str, Any]]:
    """A batch's requests, checked as json-batching.md describes them."""
    invalid = _bad("Invalid batch payload format.", "BadRequest")
    try:
        document = json.loads(raw)
    except ValueError:
        raise invalid from None
    requests = document.get("requests") if isinstance(document, dict) else None
    if not isinstance(requests, list) or not requests:
        raise invalid
    if len(requests) > 20:
        # json-batching.md: "currently limited to 20 individual requests"; the message
        # Graph answers with is not documented.
        raise _bad("The batch exceeds the limit of 20 requests.", "BadRequest")
    seen: set[str] = set()
    for request in requests:
        if not isinstance(request, dict):
            raise invalid
        if not all(isinstance(request.get(k), str) for k in ("id", "method", "url")):
            raise invalid
        key = request["id"].lower()  # "case insensitive", "must be unique within the batch"
        if key in seen:
            raise _bad(f"Request id '{request['id']}' is not unique in the batch.", "BadRequest")
        depends = request.get("dependsOn", [])
        if not isinstance(depends, list) or not all(
            isinstance(d, str) and d.lower() in seen for d in depends
        ):
            raise _bad("dependsOn names a request not earlier in the batch.", "BadRequest")
        seen.add(key)
        if "body" in request:
            headers = request.get("headers")
            names = {k.lower(): v for k, v in headers.items()} if isinstance(headers, dict) else {}
            # "If a body is included with the request, the headers object must contain a
            # value for Content-Type."
            if not str(names.get("content-type", "")).lower().startswith("application/json"):
                raise _bad("A request with a body needs a Content-Type header.", "BadRequest")
    return requests


@dataclass
class _Request:
    """One Graph request routed in one tenant."""

    directory: FakeDirectory
    tenant: FakeTenant
    method: str
    path: str
    query: dict[str, str]
    body: Any
    hidden: set[str]

    def route(self) -> tuple[int, Any]:
        segments = self.path.strip("/").split("/")
        if segments == ["organization"]:
            self._allow("GET")
            return 200, self._list([self.tenant.organization()], "organization", "organization")
        if segments == ["servicePrincipals"]:
            self._allow("GET", "POST")
            if self.method == "POST":
                return 201, self._create_service_principal()
            return 200, self._list_service_principals()
        by_app_id = _BY_APP_ID.fullmatch(segments[0])
        collection = by_app_id.group(1) if by_app_id else segments[0]
        if collection not in ("servicePrincipals", "applications") or (
            by_app_id is None and len(segments) < 2
        ):
            raise _bad(f"Resource not found for the segment '{segments[0]}'.", "BadRequest")
        if by_app_id is not None:
            entity, rest = self._by_app_id(collection, by_app_id.group(2)), segments[1:]
        else:
            entity, rest = self._by_id(collection, segments[1]), segments[2:]
        kind = collection[:-1]
        context = f"{collection}('{entity['id']}')"
        if not rest:
            self._allow("GET")
            self._options({"$select"})
            body = {"@odata.context": f"{self.directory.base}/$metadata#{collection}/$entity"}
            return 200, {**body, **_selected(entity, kind, self.query, single=True)}
        if rest == ["owners"]:
            self._allow("GET")
            owners = sorted(self.tenant.owners.get(entity["id"], set()))
            items = [self._directory_object(o) for o in owners]
            return 200, self._list(items, "directoryObject", "directoryObjects")
        if rest == ["owners", "$ref"]:
            self._allow("POST")
            self._add_owner(entity)
            return 204, None
        if kind == "servicePrincipal" and rest[0] in ("appRoleAssignments", "appRoleAssignedTo"):
            relation = rest[0]
            if len(rest) > 1:
                raise _bad(f"Resource not found for the segment '{rest[1]}'.", "BadRequest")
            self._allow("GET", "POST")
            if self.method == "POST":
                return 201, self._assign(entity, relation, context)
            side = "principalId" if relation == "appRoleAssignments" else "resourceId"
            items = [a for a in self.tenant.assignments if a[side] == entity["id"]]
            return 200, self._list(items, "appRoleAssignment", f"{context}/{relation}", relation)
        raise _bad(f"Resource not found for the segment '{rest[0]}'.", "BadRequest")

    def _allow(self, *methods: str) -> None:
        if self.method not in methods:
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request uri.",
            )
        if self.method == "GET" and self.body is not None:
            raise _bad("A GET request has no body.", "BadRequest")

    def _options(self, allowed: set[str]) -> None:
        for name in self.query:
            if name not in allowed:
                raise _bad(f"Query option '{name}' is not allowed.", "BadRequest")

    def _by_id(self, collection: str, object_id: str) -> dict[str, Any]:
        if not GUID.fullmatch(object_id):
            raise _bad(f"Invalid object identifier '{object_id}'.")
        items = (
            self.tenant.service_principals
            if collection == "servicePrincipals"
            else (self.tenant.applications)
        )
        found = next((i for i in items if i["id"] == object_id.lower()), None)
        if found is None:
            raise _not_found(object_id)
        return found

    def _by_app_id(self, collection: str, app_id: str) -> dict[str, Any]:
        if collection == "applications":
            found = self.tenant.application(app_id.lower())
        else:
            found = self.tenant.service_principal(app_id.lower())
            if found is not None and found["id"] in self.hidden:
                found = None  # replication delay: not yet on the replica that answers
        if found is None:
            raise _not_found(app_id)
        return found

    def _directory_object(self, object_id: str) -> dict[str, Any]:
        known = self.tenant.object(object_id)
        kind = known[0] if known else "directoryObject"
        return {"@odata.type": f"#microsoft.graph.{kind}", "id": object_id}

    def _list(
        self,
        items: list[dict[str, Any]],
        kind: str,
        context: str,
        filters: str | None = None,
    ) -> dict[str, Any]:
        self._options({"$select", "$filter", "$top", "$skiptoken"})
        items = self._filtered(items, kind, filters)
        size = self.directory.page_size
        if "$top" in self.query:
            top = self.query["$top"]
            if not top.isdigit() or not 1 <= int(top) <= 999:
                raise _bad(f"Invalid page size specified: '{top}'.", "BadRequest")
            size = int(top)
        token = self.query.get("$skiptoken", "0")
        if not token.isdigit():
            raise _bad(f"Invalid skiptoken '{token}'.", "BadRequest")
        skip = int(token)
        page = [_selected(i, kind, self.query, single=False) for i in items[skip : skip + size]]
        base = self.directory.base
        body: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{context}", "value": page}
        if skip + size < len(items):
            rest = {k: v for k, v in self.query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(skip + size)
            link = urlencode(rest, quote_via=quote, safe="$'(),")
            path = quote(self.path, safe="/()'=$")
            body["@odata.nextLink"] = f"{base}{path}?{link}"
        return body

    def _filtered(
        self, items: list[dict[str, Any]], kind: str, filters: str | None
    ) -> list[dict[str, Any]]:
        clause = self.query.get("$filter")
        if clause is None:
            return items
        for form in FILTERS.get(filters or "", []):
            match = form.fullmatch(clause.strip())
            if match is not None:
                name, literal = match.group(1), match.group(2).replace("''", "'")
                return [i for i in items if str(i.get(name, "")).lower() == literal.lower()]
        named = re.match(r"\s*(?:startswith\()?\s*(\w+)", clause)
        prop = named.group(1) if named else clause
        raise _bad(
            f"Unsupported or invalid query filter clause specified for property '{prop}' of "
            f"resource '{kind[0].upper()}{kind[1:]}'.",
            "Request_UnsupportedQuery",
        )

    def _list_service_principals(self) -> dict[str, Any]:
        clause = self.query.get("$filter", "")
        items = self.tenant.service_principals
        if clause:
            items = [s for s in items if s["id"] not in self.hidden]
        return self._list(items, "servicePrincipal", "servicePrincipals", "servicePrincipals")

    def _fields(self, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
        self._options(set())
        if not isinstance(self.body, dict):
            raise _bad("The request body must be a JSON object.", "BadRequest")
        for name in self.body:
            if name not in required + optional:
                # Graph takes other writable properties; the fake refuses them (stricter).
                raise _bad(f"Invalid property '{name}'.")
        for name in required:
            if not isinstance(self.body.get(name), str) or not self.body[name]:
                raise _bad(f"The request body must contain {name}.")
        return self.body

    def _need(self, roles: frozenset[str]) -> None:
        if not self.tenant.admin_roles & roles:
            raise GraphError(403, "Authorization_RequestDenied", DENIED)

    def _create_service_principal(self) -> dict[str, Any]:
        app_id = self._fields(("appId",))["appId"].lower()
        self._need(CREATE_SERVICE_PRINCIPAL)
        if self.tenant.service_principal(app_id) is not None:
            # Not documented (bootstrap.md §2b); what the directory answers for a second
            # service principal of an app, as public clients report it.
            raise _bad(
                "Another object with the same value for property servicePrincipalNames "
                "already exists.",
                "Request_MultipleObjectsWithSameKeyValue",
            )
        made = self.directory.install(self.tenant, app_id)
        if self.directory.replication_lag:
            self.tenant.hidden[made["id"]] = self.directory.replication_lag
        base = self.directory.base
        return {"@odata.context": f"{base}/$metadata#servicePrincipals/$entity", **made}

    def _assign(self, entity: dict[str, Any], relation: str, context: str) -> dict[str, Any]:
        body = self._fields(("principalId", "resourceId", "appRoleId"))
        for name in ("principalId", "resourceId", "appRoleId"):
            if not GUID.fullmatch(body[name]):
                raise _bad(f"Invalid value for {name}: '{body[name]}' is not a Guid.")
        principal_id, resource_id = body["principalId"].lower(), body["resourceId"].lower()
        role_id = body["appRoleId"].lower()
        side = principal_id if relation == "appRoleAssignments" else resource_id
        if entity["id"] != side:
            # The docs post a client's grant on its own appRoleAssignments or on the
            # resource's appRoleAssignedTo; CIPP posts appRoleAssignedTo on the client and
            # gets a 201. The fake refuses the mix (stricter, never more lenient).
            which = "principalId" if relation == "appRoleAssignments" else "resourceId"
            raise _bad(f"The {which} in the body is not the service principal of the URL.")
        principal = self._service_principal(principal_id)
        resource = self._service_principal(resource_id)
        graph = resource["appId"] == GRAPH_APP_ID
        self._need(GRANT_GRAPH_ROLE if graph else GRANT_OTHER_ROLE)
        if not any(r["id"] == role_id for r in resource.get("appRoles", [])):
            raise _bad(
                f"Permission being assigned was not found on application '{resource['appId']}'."
            )
        if any(
            (a["principalId"], a["resourceId"], a["appRoleId"])
            == (principal_id, resource_id, role_id)
            for a in self.tenant.assignments
        ):
            # Not documented: what public scripts see for a grant already there.
            raise _bad("Permission being assigned already exists on the object")
        made = self.directory._assign(self.tenant, principal, resource, role_id)
        base = self.directory.base
        return {"@odata.context": f"{base}/$metadata#{context}/{relation}/$entity", **made}

    def _service_principal(self, object_id: str) -> dict[str, Any]:
        found = next((s for s in self.tenant.service_principals if s["id"] == object_id), None)
        if found is None:
            raise _not_found(object_id)
        return found

    def _add_owner(self, entity: dict[str, Any]) -> None:
        reference = self._fields(("@odata.id",))["@odata.id"]
        if not reference.lower().startswith(DIRECTORY_OBJECT_ID.lower()):
            raise _bad(f"Invalid reference '{reference}': not a directoryObjects URL.")
        owner = reference[len(DIRECTORY_OBJECT_ID) :]
        if not GUID.fullmatch(owner):
            raise _bad(f"Invalid object identifier '{owner}'.")
        self._need(ADD_OWNER)
        known = self.tenant.object(owner)
        if known is None:
            raise _not_found(owner)
        if known[0] not in ("user", "servicePrincipal"):
            # "Owners can be individual users, the associated service principal, or another
            # service principal" (application-post-owners.md).
            raise _bad(f"An object of type '{known[0]}' cannot be an owner.")
        owners = self.tenant.owners.setdefault(entity["id"], set())
        if owner.lower() in owners:
            # The directory's generic answer to a duplicate reference; for owners UNCONFIRMED.
            raise _bad(
                "One or more added object references already exist for the following modified "
                "properties: 'owners'."
            )
        owners.add(owner.lower())


def _selected(
    item: dict[str, Any], kind: str, query: dict[str, str], single: bool
) -> dict[str, Any]:
    """`item` as `$select` shapes it; Graph's 400 for a property its type does not have."""
    wanted = [name.strip() for name in query.get("$select", "").split(",") if name.strip()]
    for name in wanted:
        if name not in PROPERTIES[kind]:
            raise _bad(
                f"Could not find a property named '{name}' on type 'microsoft.graph.{kind}'.",
                "BadRequest",
            )
    chosen = {k: v for k, v in item.items() if not wanted or k in wanted or k == "@odata.type"}
    if "keyCredentials" in chosen and not (single and "keyCredentials" in wanted):
        chosen["keyCredentials"] = [{**key, "key": None} for key in chosen["keyCredentials"]]
    return chosen


# Builders.


def fresh_tenant(
    directory: FakeDirectory,
    *,
    tenant_id: str | None = None,
    name: str | None = None,
    admin_roles: Iterable[str] = (GLOBAL_ADMINISTRATOR,),
    exchange: bool = True,
) -> FakeTenant:
    """A tenant with only Microsoft Graph's and (unless `exchange=False`) Exchange Online's
    service principals, added to `directory`."""
    tenant_id = tenant_id or directory.new_id()
    tenant = FakeTenant(tenant_id, name or f"tenant-{tenant_id[:8]}", set(admin_roles))
    directory.install(tenant, GRAPH_APP_ID)
    if exchange:
        directory.install(tenant, EXCHANGE_APP_ID)
    return directory.add(tenant)


def consented_tenant(
    directory: FakeDirectory,
    grants: Mapping[str, Iterable[str]],
    *,
    tenant_id: str | None = None,
    name: str | None = None,
    admin_roles: Iterable[str] = (GLOBAL_ADMINISTRATOR,),
    exchange: bool = True,
) -> FakeTenant:
    """A tenant where each app of `grants` (appId -> the app role IDs it holds, of Graph or
    Exchange) is consented already: its service principal and those assignments."""
    tenant = fresh_tenant(
        directory, tenant_id=tenant_id, name=name, admin_roles=admin_roles, exchange=exchange
    )
    for app_id, role_ids in grants.items():
        principal = directory.install(tenant, app_id)
        for role_id in role_ids:
            directory.grant(tenant, principal, role_id)
    return tenant


def key_credential(cert_der: bytes, key_id: str) -> dict[str, Any]:
    """The keyCredential the portal makes when a certificate is uploaded to an app."""
    cert = x509.load_der_x509_certificate(cert_der)
    return {
        "customKeyIdentifier": base64.b64encode(hashlib.sha1(cert_der).digest()).decode(),
        "displayName": cert.subject.rfc4514_string(),
        "endDateTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key": base64.b64encode(cert_der).decode(),
        "keyId": key_id,
        "startDateTime": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


def add_hand_made_app(
    directory: FakeDirectory, tenant: FakeTenant, cert_der: bytes
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The app Mimecast's guide has an admin make by hand: single-tenant, a certificate,
    full_access_as_app consented (needs Exchange's service principal). Returns the
    application, its service principal and the assignment; the admin owns both objects."""
    with directory.lock:
        app_id = directory.new_id()
        application: dict[str, Any] = {
            "id": directory.new_id(),
            "appId": app_id,
            "displayName": HAND_MADE_NAME,
            "signInAudience": "AzureADMyOrg",
            "keyCredentials": [key_credential(cert_der, directory.new_id())],
            "passwordCredentials": [],
            "identifierUris": [],
            "appRoles": [],
            "publisherDomain": tenant.domain,
            "requiredResourceAccess": [
                {
                    "resourceAppId": EXCHANGE_APP_ID,
                    "resourceAccess": [{"id": FULL_ACCESS_AS_APP, "type": "Role"}],
                }
            ],
        }
        tenant.applications.append(application)
        principal = directory.install(tenant, app_id)
        consent = directory.grant(tenant, principal, FULL_ACCESS_AS_APP)
        tenant.owners[application["id"]] = {tenant.admin_id}
        tenant.owners[principal["id"]] = {tenant.admin_id}
        return application, principal, consent


def hand_made_tenant(
    directory: FakeDirectory,
    cert_der: bytes,
    *,
    tenant_id: str | None = None,
    name: str | None = None,
    grants: Mapping[str, Iterable[str]] | None = None,
    admin_roles: Iterable[str] = (GLOBAL_ADMINISTRATOR,),
) -> FakeTenant:
    """A tenant holding the hand-made app (`add_hand_made_app`), and the pipeline apps of
    `grants` consented when given."""
    tenant = consented_tenant(
        directory, grants or {}, tenant_id=tenant_id, name=name, admin_roles=admin_roles
    )
    add_hand_made_app(directory, tenant, cert_der)
    return tenant


def publisher_tenant(
    directory: FakeDirectory,
    apps: Mapping[str, str] = PIPELINE_APPS,
    *,
    tenant_id: str | None = None,
    name: str = "publisher",
) -> FakeTenant:
    """The home tenant of the pipeline apps (appId -> display name): their application
    objects (multi-tenant) and service principals there, registered in the world."""
    tenant = fresh_tenant(directory, tenant_id=tenant_id, name=name)
    for app_id, display_name in apps.items():
        tenant.applications.append(
            {
                "id": directory.new_id(),
                "appId": app_id,
                "displayName": display_name,
                "signInAudience": "AzureADMultipleOrgs",
                "keyCredentials": [],
                "passwordCredentials": [],
                "appRoles": [],
            }
        )
        directory.register(app_id, display_name, tenant.tenant_id)
        directory.install(tenant, app_id)
    return tenant


@contextmanager
def serve(directory: FakeDirectory) -> Iterator[str]:
    """Run `directory` on 127.0.0.1 (a free port) in a thread; yields its endpoint URL (the
    API is under `<endpoint>/v1.0`)."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            if directory.latency:
                time.sleep(directory.latency)
            authorization = self.headers.get("Authorization", "")
            path = unquote(urlsplit(self.path).path)
            if method == "POST" and path == "/v1.0/$batch":
                answer = directory.answer_batch(authorization, raw)
            elif self.path.startswith("/v1.0/"):
                content_type = self.headers.get("Content-Type", "")
                url = self.path.removeprefix("/v1.0")
                answer = directory.answer(authorization, method, url, raw, content_type)
            else:
                refused = _bad(f"Invalid version: {self.path.split('/')[1]}", "BadRequest")
                answer = _answer_of(refused)
            data = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serve_handler(Handler) as endpoint:
        directory.base = f"{endpoint}/v1.0"
        yield endpoint
