"""A fake Microsoft Graph v1.0 on 127.0.0.1, for the audit's tests and benchmark.

It answers `POST /v1.0/$batch` as Graph does (learn.microsoft.com/graph/json-batching): each
request's `{id, status, headers, body}`, bodies shaped like Graph's v1.0 responses (an
`@odata.context`, lists under `value`, `@odata.nextLink` pages, errors as `{error: {code,
message, innerError}}`). It honours `$select` (only the properties asked for come back, and
one the resource type does not have is a 400, as Graph answers) and the `$filter` forms the
audit sends (anything else is a 400), so a property read but not asked for fails a test.
Like Graph, it returns a key credential's `key` only when `keyCredentials` is selected on
one object. A tenant is found by the object IDs in the request URLs. Knobs: page size,
throttling (429 with Retry-After in seconds or as an HTTP date, for the batch or one
request), a status per request (401/403), a list whose nextLink points back at itself,
latency per HTTP request, and a broken transport per tenant (`sabotage`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS_AS_APP = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MAIL_READ = "810c84a8-4a9e-49e6-bf7d-12d183f40d01"
"""Microsoft Graph's Mail.Read application permission (app role)."""
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake.token"
EXCHANGE_SP = "0f3b057d-2a9e-4c61-95d8-e7b1c4a0055e"
"""Exchange Online's service principal in every fake tenant."""

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"

_DIRECTORY_OBJECT = "id,displayName,deletedDateTime,roleTemplateId,description,mail"
PROPERTIES: dict[str, frozenset[str]] = {
    kind: frozenset(names.split(","))
    for kind, names in {
        "application": "id,appId,displayName,signInAudience,identifierUris,web,spa,"
        "publicClient,requiredResourceAccess,keyCredentials,passwordCredentials,"
        "isFallbackPublicClient,api,appRoles,servicePrincipalLockConfiguration,tags,notes,"
        "info,optionalClaims,createdDateTime,description,groupMembershipClaims,publisherDomain,"
        "parentalControlSettings,tokenEncryptionKeyId,uniqueName,verifiedPublisher",
        "servicePrincipal": "id,appId,displayName,accountEnabled,keyCredentials,"
        "passwordCredentials,replyUrls,tags,appRoleAssignmentRequired,appOwnerOrganizationId,"
        "servicePrincipalType,appRoles,oauth2PermissionScopes,servicePrincipalNames,notes,"
        "preferredSingleSignOnMode,signInAudience,alternativeNames,description,homepage,"
        "loginUrl,logoutUrl,appDisplayName,info,tokenEncryptionKeyId,verifiedPublisher",
        "directoryObject": _DIRECTORY_OBJECT,
        "federatedIdentityCredential": "id,name,issuer,subject,audiences,description",
        "appRoleAssignment": "id,appRoleId,resourceId,resourceDisplayName,principalId,"
        "principalDisplayName,principalType,createdDateTime",
        "oAuth2PermissionGrant": "id,clientId,consentType,principalId,resourceId,scope",
        "unifiedRoleAssignment": "id,roleDefinitionId,principalId,directoryScopeId,appScopeId",
        "policy": "id,displayName,definition,isOrganizationDefault,description",
    }.items()
}
"""Properties of each resource type (Graph v1.0 reference), for `$select`."""

LISTS = {
    "owners": "directoryObject",
    "memberOf": "directoryObject",
    "appliesTo": "directoryObject",
    "federatedIdentityCredentials": "federatedIdentityCredential",
    "appRoleAssignments": "appRoleAssignment",
    "oauth2PermissionGrants": "oAuth2PermissionGrant",
}
POLICY_KINDS = ("tokenLifetimePolicies", "tokenIssuancePolicies", "claimsMappingPolicies")
FILTERS = {
    "applications": re.compile(r"(displayName) eq '((?:[^']|'')*)'"),
    "servicePrincipals": re.compile(r"startswith\((displayName),'((?:[^']|'')*)'\)"),
    "roleManagement/directory/roleAssignments": re.compile(r"(principalId) eq '([0-9a-f-]{36})'"),
}
"""The `$filter` forms the audit sends, by collection; (property, literal)."""


@dataclass
class FakeTenant:
    """One tenant's app, service principal and what hangs off them, as Graph returns them."""

    application: dict[str, Any]
    service_principal: dict[str, Any]
    exchange_id: str
    application_owners: list[str] = field(default_factory=list)
    service_principal_owners: list[str] = field(default_factory=list)
    federated: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    namesakes: list[dict[str, Any]] = field(default_factory=list)
    """Other applications of the tenant (ours is listed by itself)."""
    member_of: list[dict[str, Any]] = field(default_factory=list)
    role_assignments: list[dict[str, Any]] = field(default_factory=list)
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    """The tenant's other service principals (ours is listed by itself)."""
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Policy kind -> policies, each with the object IDs it applies to under `appliesTo`."""
    other_assignments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Another service principal's object ID -> its app role assignments."""


@dataclass
class FakeGraph:
    """The server's state; tests change it between runs."""

    tenants: dict[str, FakeTenant] = field(default_factory=dict)
    """By the object IDs of the tenant's app, service principals and policies."""
    page_size: int = 100
    latency: float = 0.0
    token: str = TOKEN
    throttle_batches: int = 0
    """This many next batches get a 429 for the whole batch."""
    throttle_requests: dict[str, int] = field(default_factory=dict)
    """Request id -> how many times to answer it 429 inside a batch."""
    statuses: dict[str, int] = field(default_factory=dict)
    """Request id -> an error status to answer it with (401, 403, 404)."""
    retry_after: str = "7"
    """Seconds, or an HTTP date such as `Wed, 25 Nov 2026 12:00:30 GMT`."""
    self_linked: set[str] = field(default_factory=set)
    """Request ids answered with a nextLink to the very URL asked: a paging loop."""
    throttle_each_batch: int = 0
    """Every batch (by the URLs it asks) is answered 429 this many times, then answered."""
    seen: dict[tuple[str, ...], int] = field(default_factory=dict)
    sabotage: dict[str, str] = field(default_factory=dict)
    """Application object ID -> how that tenant's HTTP answers break: `trickle` (a byte a
    second), `chunked` (a chunked body cut off), `status` (no HTTP status line), `throttle`
    (429 forever), `deep` or `quotes` (1 MiB of `[[[...` or of `"\\"\\"...`)."""
    batches: int = 0
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, tenant: FakeTenant) -> None:
        ids = [tenant.application["id"], tenant.service_principal["id"]]
        ids += [sp["id"] for sp in tenant.service_principals]
        ids += [policy["id"] for policies in tenant.policies.values() for policy in policies]
        for object_id in ids:
            self.tenants[object_id] = tenant

    def tenant_of(self, requests: list[dict[str, Any]]) -> FakeTenant | None:
        found = (i for r in requests for i in re.findall(r"[0-9a-f-]{36}", r["url"]))
        return next((self.tenants[i] for i in found if i in self.tenants), None)

    def answer_batch(self, token: str, requests: list[dict[str, Any]]) -> tuple[int, Any]:
        with self.lock:
            self.batches += 1
            if token != f"Bearer {self.token}":
                return 401, _error("InvalidAuthenticationToken", "Access token validation failure.")
            asked = tuple(request["url"] for request in requests)
            self.seen[asked] = self.seen.get(asked, 0) + 1
            if self.throttle_batches or self.seen[asked] <= self.throttle_each_batch:
                self.throttle_batches = max(0, self.throttle_batches - 1)
                return 429, _error("TooManyRequests", "Too many requests.")
            tenant = self.tenant_of(requests)
            return 200, {"responses": [self._one(tenant, r) for r in requests]}

    def _one(self, tenant: FakeTenant | None, request: dict[str, Any]) -> dict[str, Any]:
        rid = request["id"]
        headers = {"Content-Type": JSON_TYPE}
        if self.throttle_requests.get(rid):
            self.throttle_requests[rid] -= 1
            body = _error("TooManyRequests", "Too many requests.")
            return {
                "id": rid,
                "status": 429,
                "headers": {"Retry-After": self.retry_after},
                "body": body,
            }
        if rid in self.statuses:
            status = self.statuses[rid]
            code = {401: "InvalidAuthenticationToken", 404: "Request_ResourceNotFound"}
            body = _error(
                code.get(status, "Authorization_RequestDenied"), "Insufficient privileges."
            )
            return {"id": rid, "status": status, "headers": headers, "body": body}
        try:
            status, body = self._route(tenant, request["url"])
        except _BadRequest as error:
            status, body = 400, _error("BadRequest", str(error))
        if rid in self.self_linked:
            body["@odata.nextLink"] = f"{self.base}{request['url']}"
        return {"id": rid, "status": status, "headers": headers, "body": body}

    def _route(self, tenant: FakeTenant | None, url: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = set(query) - {"$select", "$filter", "$top", "$skiptoken"}
        if unknown:
            raise _BadRequest(f"Query option '{sorted(unknown)[0]}' is not allowed.")
        path = parts.path.strip("/")
        if tenant is None:
            return 404, _error("Request_ResourceNotFound", "Resource does not exist.")
        if path.startswith("servicePrincipals(appId="):
            return 200, self._entity({"id": tenant.exchange_id}, "servicePrincipal", query, path)
        listed = self._list(tenant, path)
        if listed is not None:
            kind, items = listed
            return 200, self._page(_filtered(items, path, query), kind, query, path)
        collection, object_id = path.split("/")
        entity = tenant.application if collection == "applications" else tenant.service_principal
        if entity["id"] != object_id:
            return 404, _error(
                "Request_ResourceNotFound", f"Resource '{object_id}' does not exist."
            )
        return 200, self._entity(entity, collection[:-1], query, path)

    def _list(self, tenant: FakeTenant, path: str) -> tuple[str, list[dict[str, Any]]] | None:
        """The resource type and items of a list URL, or None for a single object."""
        segments = path.split("/")
        if path == "applications":
            return "application", [tenant.application, *tenant.namesakes]
        if path == "servicePrincipals":
            return "servicePrincipal", [tenant.service_principal, *tenant.service_principals]
        if path == "roleManagement/directory/roleAssignments":
            return "unifiedRoleAssignment", tenant.role_assignments
        if segments[0] == "policies" and segments[1] in POLICY_KINDS:
            policies = tenant.policies.get(segments[1], [])
            if len(segments) == 2:
                return "policy", [
                    {k: v for k, v in p.items() if k != "appliesTo"} for p in policies
                ]
            (policy,) = [p for p in policies if p["id"] == segments[2]]
            return "directoryObject", [_directory_object(i) for i in policy["appliesTo"]]
        if len(segments) == 3:
            collection, object_id, relation = segments
            if collection == "servicePrincipals" and object_id in tenant.other_assignments:
                return "appRoleAssignment", tenant.other_assignments[object_id]
            lists = {
                "applications/owners": [_directory_object(o) for o in tenant.application_owners],
                "applications/federatedIdentityCredentials": tenant.federated,
                "servicePrincipals/owners": [
                    _directory_object(o) for o in tenant.service_principal_owners
                ],
                "servicePrincipals/appRoleAssignments": tenant.assignments,
                "servicePrincipals/oauth2PermissionGrants": tenant.grants,
                "servicePrincipals/memberOf": tenant.member_of,
            }
            return LISTS[relation], lists[f"{collection}/{relation}"]
        return None

    def _page(
        self, items: list[dict[str, Any]], kind: str, query: dict[str, str], path: str
    ) -> dict[str, Any]:
        skip = int(query.get("$skiptoken", "0"))
        page = [
            _selected(item, kind, query, single=False) for item in items[skip:][: self.page_size]
        ]
        body: dict[str, Any] = {"@odata.context": f"{self.base}/$metadata#{path}", "value": page}
        if skip + self.page_size < len(items):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            link = "&".join(f"{k}={v}" for k, v in rest.items())
            body["@odata.nextLink"] = (
                f"{self.base}/{path}?{link}{'&' if link else ''}$skiptoken={skip + self.page_size}"
            )
        return body

    def _entity(
        self, entity: dict[str, Any], kind: str, query: dict[str, str], path: str
    ) -> dict[str, Any]:
        context = {"@odata.context": f"{self.base}/$metadata#{path}/$entity"}
        return {**context, **_selected(entity, kind, query, single=True)}


class _BadRequest(Exception):
    pass


def _selected(
    item: dict[str, Any], kind: str, query: dict[str, str], single: bool
) -> dict[str, Any]:
    """`item` as `$select` shapes it; Graph's 400 for a property its type does not have."""
    wanted = [name for name in query.get("$select", "").split(",") if name]
    for name in wanted:
        if name not in PROPERTIES[kind]:
            raise _BadRequest(
                f"Could not find a property named '{name}' on type 'microsoft.graph.{kind}'."
            )
    chosen = {k: v for k, v in item.items() if not wanted or k in wanted or k == "@odata.type"}
    if "keyCredentials" in chosen and not (single and "keyCredentials" in wanted):
        chosen["keyCredentials"] = [{**key, "key": None} for key in chosen["keyCredentials"]]
    return chosen


def _filtered(
    items: list[dict[str, Any]], path: str, query: dict[str, str]
) -> list[dict[str, Any]]:
    clause = query.get("$filter")
    if clause is None:
        return items
    form = FILTERS.get(path)
    match = form.fullmatch(clause) if form else None
    if match is None:
        raise _BadRequest(f"Invalid filter clause: {clause}")
    name, literal = match.group(1), match.group(2).replace("''", "'")
    if path == "servicePrincipals":
        return [i for i in items if str(i.get(name, "")).lower().startswith(literal.lower())]
    return [i for i in items if str(i.get(name, "")).lower() == literal.lower()]


def key_credential(cert_der: bytes, key_id: str, claimed: bytes | None = None) -> dict[str, object]:
    """A keyCredential as `GET /applications/{id}?$select=keyCredentials` returns it."""
    thumbprint = claimed or hashlib.sha1(cert_der).digest()
    return {
        "customKeyIdentifier": base64.b64encode(thumbprint).decode(),
        "displayName": "CN=Mimecast Test",
        "endDateTime": "2027-11-26T12:00:00Z",
        "key": base64.b64encode(cert_der).decode(),
        "keyId": key_id,
        "startDateTime": "2026-10-27T12:00:00Z",
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


def deployed_tenant(
    app: str, client: str, sp: str, owner: str, cert_der: bytes, display_name: str
) -> FakeTenant:
    """What `pulumi up` leaves in a tenant, nothing more, as Graph v1.0 returns it."""
    application = {
        "id": app,
        "appId": client,
        "displayName": display_name,
        "identifierUris": [],
        "signInAudience": "AzureADMyOrg",
        "isFallbackPublicClient": None,
        "keyCredentials": [key_credential(cert_der, "a2d4c31d-cca7-4262-9418-e1a9c1ee0492")],
        "passwordCredentials": [],
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [
            {
                "resourceAppId": EXCHANGE_APP_ID,
                "resourceAccess": [{"id": FULL_ACCESS_AS_APP, "type": "Role"}],
            }
        ],
        "spa": {"redirectUris": []},
        "web": {
            "homePageUrl": None,
            "logoutUrl": None,
            "redirectUris": [],
            "implicitGrantSettings": {
                "enableAccessTokenIssuance": False,
                "enableIdTokenIssuance": False,
            },
            "redirectUriSettings": [],
        },
        "api": {
            "acceptMappedClaims": None,
            "knownClientApplications": [],
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": [],
            "requestedAccessTokenVersion": None,
        },
        "appRoles": [],
        "servicePrincipalLockConfiguration": None,
        "notes": "Managed by Pulumi",
    }
    service_principal = {
        "id": sp,
        "appId": client,
        "displayName": display_name,
        "accountEnabled": True,
        "appOwnerOrganizationId": "00000000-0000-0000-0000-000000000000",
        "appRoleAssignmentRequired": False,
        "keyCredentials": [],
        "passwordCredentials": [],
        "replyUrls": [],
        "tags": [],
        "servicePrincipalType": "Application",
    }
    consent = {
        "id": "fDe2q0f9fUqvxB2Wcbp8EQ",
        "appRoleId": FULL_ACCESS_AS_APP,
        "resourceDisplayName": "Office 365 Exchange Online",
        "resourceId": EXCHANGE_SP,
    }
    return FakeTenant(
        application,
        service_principal,
        EXCHANGE_SP,
        application_owners=[owner],
        service_principal_owners=[owner],
        assignments=[consent],
    )


def _directory_object(object_id: str, kind: str = "user") -> dict[str, str]:
    return {"@odata.type": f"#microsoft.graph.{kind}", "id": object_id}


def _error(code: str, message: str) -> dict[str, Any]:
    inner = {"date": "2026-11-26T12:00:00", "request-id": "5c1f2d3e-0000-4000-8000-000000000001"}
    return {"error": {"code": code, "message": message, "innerError": inner}}


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, a JSON request body, and no access log: what both fakes' handlers share."""

    protocol_version = "HTTP/1.1"

    def json_body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def log_message(self, *args: Any) -> None:
        """Quiet: the tests read results, not an access log."""


class _Server(ThreadingHTTPServer):
    """A backlog for a benchmark's hundreds of connections at once, and quiet when a client
    hangs up mid-answer (what the tests of oversized and slow answers make it do)."""

    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 (a free port) in a thread; yields the endpoint URL."""
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve(graph: FakeGraph) -> Iterator[str]:
    """Run `graph` on 127.0.0.1 (a free port) in a thread; yields its endpoint URL."""

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            document = self.json_body()
            if graph.latency:
                time.sleep(graph.latency)
            tenant = graph.tenant_of(document.get("requests", []))
            broken = graph.sabotage.get(tenant.application["id"]) if tenant else None
            if broken is not None and broken != "throttle":
                with suppress(OSError):
                    _break(self, broken)
                self.close_connection = True
                return
            if self.path != "/v1.0/$batch":
                status, body = 404, _error("BadRequest", "Unsupported segment.")
            elif broken == "throttle":
                status, body = 429, _error("TooManyRequests", "Too many requests.")
            else:
                authorization = self.headers.get("Authorization", "")
                status, body = graph.answer_batch(authorization, document["requests"])
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", graph.retry_after)
            self.end_headers()
            self.wfile.write(data)

    with serve_handler(Handler) as endpoint:
        graph.base = f"{endpoint}/v1.0"
        yield endpoint


def _break(handler: BaseHTTPRequestHandler, how: str) -> None:
    """Answer as a broken server would."""
    out = handler.wfile
    if how == "status":
        out.write(b"HELLO \x1b[2J not http\r\n\r\n")
    elif how == "chunked":
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        out.write(b'Transfer-Encoding: chunked\r\n\r\n40\r\n{"responses": [')
    elif how in ("deep", "quotes"):  # 1 MiB of what a quadratic or recursive reader chokes on
        body = b"[" * 2**20 if how == "deep" else b'"' + b'\\"' * (2**19 - 1) + b'"'
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        out.write(head.encode() + b"\r\n\r\n" + body)
    elif how == "trickle":
        out.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999\r\n\r\n"
        )
        for _ in range(60):  # a byte a second, for longer than any test waits
            out.write(b" ")
            out.flush()
            time.sleep(1)
