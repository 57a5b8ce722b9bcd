"""A fake Microsoft Graph v1.0 on 127.0.0.1, for the audit's tests and benchmark.

It answers `POST /v1.0/$batch` as Graph does (learn.microsoft.com/graph/json-batching): each
request's `{id, status, headers, body}`, bodies shaped like Graph's v1.0 responses (an
`@odata.context`, lists under `value`, `@odata.nextLink` pages, errors as `{error: {code,
message, innerError}}`). A tenant is found by the object IDs in the request URLs. Knobs: page
size, throttling (429 with Retry-After in seconds or as an HTTP date, for the batch or one
request), a status per request (401/403), a list whose nextLink points back at itself, latency
per HTTP request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS_AS_APP = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MAIL_READ = "810c84a8-4a9e-49e6-bf7d-12d183f40d01"
"""Microsoft Graph's Mail.Read application permission (app role)."""
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake.token"
EXCHANGE_SP = "0f3b057d-2a9e-4c61-95d8-e7b1c4a0055e"
"""Exchange Online's service principal in every fake tenant."""

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"


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


@dataclass
class FakeGraph:
    """The server's state; tests change it between runs."""

    tenants: dict[str, FakeTenant] = field(default_factory=dict)
    """By application object ID and service principal object ID."""
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
    batches: int = 0
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, tenant: FakeTenant) -> None:
        self.tenants[tenant.application["id"]] = tenant
        self.tenants[tenant.service_principal["id"]] = tenant

    def answer_batch(self, token: str, requests: list[dict[str, Any]]) -> tuple[int, Any]:
        with self.lock:
            self.batches += 1
            if token != f"Bearer {self.token}":
                return 401, _error("InvalidAuthenticationToken", "Access token validation failure.")
            if self.throttle_batches:
                self.throttle_batches -= 1
                return 429, _error("TooManyRequests", "Too many requests.")
            tenant = next(
                (
                    self.tenants[found]
                    for request in requests
                    for found in re.findall(r"[0-9a-f-]{36}", request["url"])
                    if found in self.tenants
                ),
                None,
            )
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
        status, body = self._route(tenant, unquote(request["url"]))
        if rid in self.self_linked:
            body["@odata.nextLink"] = f"{self.base}{request['url']}"
        return {"id": rid, "status": status, "headers": headers, "body": body}

    def _route(self, tenant: FakeTenant | None, url: str) -> tuple[int, dict[str, Any]]:
        path, _, query = url.partition("?")
        skip = int(match.group(1)) if (match := re.search(r"\$skiptoken=(\d+)", query)) else 0
        if tenant is None:
            return 404, _error("Request_ResourceNotFound", "Resource does not exist.")
        lists = {
            "applications/owners": [_owner(o) for o in tenant.application_owners],
            "applications/federatedIdentityCredentials": tenant.federated,
            "servicePrincipals/owners": [_owner(o) for o in tenant.service_principal_owners],
            "servicePrincipals/appRoleAssignments": tenant.assignments,
            "servicePrincipals/oauth2PermissionGrants": tenant.grants,
        }
        if path.startswith("/servicePrincipals(appId="):
            return 200, {
                "@odata.context": f"{self.base}/$metadata#servicePrincipals(id)/$entity",
                "id": tenant.exchange_id,
            }
        if path == "/applications":
            return 200, {
                "@odata.context": f"{self.base}/$metadata#applications(id,appId)",
                "value": tenant.namesakes,
            }
        collection, object_id, *rest = path.strip("/").split("/")
        if rest:
            items = lists[f"{collection}/{rest[0]}"]
            page = items[skip : skip + self.page_size]
            body: dict[str, Any] = {
                "@odata.context": f"{self.base}/$metadata#{rest[0]}",
                "value": page,
            }
            if skip + self.page_size < len(items):
                body["@odata.nextLink"] = f"{self.base}{path}?$skiptoken={skip + self.page_size}"
            return 200, body
        entity = tenant.application if collection == "applications" else tenant.service_principal
        if entity["id"] != object_id:
            return 404, _error(
                "Request_ResourceNotFound", f"Resource '{object_id}' does not exist."
            )
        return 200, {"@odata.context": f"{self.base}/$metadata#{collection}/$entity", **entity}


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
    }
    service_principal = {
        "id": sp,
        "appId": client,
        "accountEnabled": True,
        "keyCredentials": [],
        "passwordCredentials": [],
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
        namesakes=[{"id": app, "appId": client}],
    )


def _owner(object_id: str) -> dict[str, str]:
    return {"@odata.type": "#microsoft.graph.user", "id": object_id}


def _error(code: str, message: str) -> dict[str, Any]:
    inner = {"date": "2026-11-26T12:00:00", "request-id": "5c1f2d3e-0000-4000-8000-000000000001"}
    return {"error": {"code": code, "message": message, "innerError": inner}}


@contextmanager
def serve(graph: FakeGraph) -> Iterator[str]:
    """Run `graph` on 127.0.0.1 (a free port) in a thread; yields its endpoint URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            document = json.loads(self.rfile.read(length))
            if graph.latency:
                time.sleep(graph.latency)
            status, body = (
                graph.answer_batch(self.headers.get("Authorization", ""), document["requests"])
                if self.path == "/v1.0/$batch"
                else (404, _error("BadRequest", "Unsupported segment."))
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", graph.retry_after)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            """Quiet: the tests read results, not an access log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    graph.base = f"{endpoint}/v1.0"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
