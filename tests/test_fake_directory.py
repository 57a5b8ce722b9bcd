"""The fake directory's own rules, over real HTTP (urllib), so the bootstrap's tests can trust
it: batching as json-batching.md describes it, each endpoint's answers and errors, the roles
each write needs, and the knobs. Also the role-group cmdlets added to the fake Exchange."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from certfactory import der, make_certificate
from fake_directory import (
    EXCHANGE_APP_ID,
    FULL_ACCESS_AS_APP,
    GRAPH_APP_ID,
    GRAPH_ROLES,
    HAND_MADE_NAME,
    MANAGE_AS_APP,
    MICROSOFT_TENANT,
    NOT_FOUND,
    PIPELINE_APPS,
    WITHOUT_PRIVILEGED_ROLE,
    FakeDirectory,
    FakeTenant,
    consented_tenant,
    fresh_tenant,
    hand_made_tenant,
    publisher_tenant,
    serve,
)
from fake_exchange import TOKEN as EXCHANGE_TOKEN
from fake_exchange import FakeExchange, FakeOrganization
from fake_exchange import serve as serve_exchange

DEPLOY, PREVIEW, AUDIT = PIPELINE_APPS
READ_ALL = GRAPH_ROLES["Application.Read.All"]
OWNED_BY = GRAPH_ROLES["Application.ReadWrite.OwnedBy"]
CERT = der(make_certificate())


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class World:
    directory: FakeDirectory
    endpoint: str
    publisher: FakeTenant

    def http(
        self,
        tenant: FakeTenant | str,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Reply:
        token = tenant if isinstance(tenant, str) else f"token-{tenant.tenant_id}"
        data = None if body is None else json.dumps(body).encode()
        url = path if path.startswith("http") else f"{self.endpoint}/v1.0{path}"
        request = urllib.request.Request(
            urllib.parse.quote(url, safe=":/?&=$'(),@%"),
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                raw, status, headers = answer.read(), answer.status, dict(answer.headers)
        except urllib.error.HTTPError as refused:
            raw, status, headers = refused.read(), refused.code, dict(refused.headers)
            refused.close()
        return Reply(status, headers, json.loads(raw) if raw else None)

    def get(self, tenant: FakeTenant | str, path: str) -> Reply:
        return self.http(tenant, "GET", path)

    def post(self, tenant: FakeTenant | str, path: str, body: Any) -> Reply:
        return self.http(tenant, "POST", path, body)

    def batch(self, tenant: FakeTenant | str, requests: list[dict[str, Any]]) -> Reply:
        return self.post(tenant, "/$batch", {"requests": requests})


@pytest.fixture(scope="module")
def served() -> Iterator[World]:
    """One server for the module (each test makes its own tenants): a server per test would
    cost 50 ms each."""
    directory = FakeDirectory()
    publisher = publisher_tenant(directory)
    with serve(directory) as endpoint:
        yield World(directory, endpoint, publisher)


@pytest.fixture
def world(served: World) -> Iterator[World]:
    directory = served.directory
    yield served
    directory.page_size, directory.replication_lag, directory.latency = 100, 0, 0.0
    directory.reverse_responses, directory.retry_after = False, "1"
    directory.throttle.clear()


def sp_of(world: World, tenant: FakeTenant, app_id: str) -> dict[str, Any]:
    found = tenant.service_principal(app_id)
    assert found is not None
    return found


def code(reply: Reply) -> tuple[int, str]:
    return reply.status, reply.body["error"]["code"]


# Tokens and batching.


def test_a_token_acts_in_its_tenant_and_any_other_is_401(world: World) -> None:
    one, two = fresh_tenant(world.directory), fresh_tenant(world.directory)
    path = f"/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id"

    assert world.get(one, path).body["id"] == sp_of(world, one, GRAPH_APP_ID)["id"]
    assert world.get(two, path).body["id"] == sp_of(world, two, GRAPH_APP_ID)["id"]
    assert code(world.get("token-" + str(uuid.uuid4()), path)) == (
        401,
        "InvalidAuthenticationToken",
    )
    assert code(world.batch("eyJ0eXAi", [{"id": "1", "method": "GET", "url": path}])) == (
        401,
        "InvalidAuthenticationToken",
    )


def test_a_batch_answers_each_request_as_the_direct_request_would(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    urls = [f"/servicePrincipals(appId='{GRAPH_APP_ID}')", "/organization", "/nothing"]

    reply = world.batch(
        tenant, [{"id": str(i), "method": "GET", "url": u} for i, u in enumerate(urls)]
    )

    assert reply.status == 200
    for i, item in enumerate(reply.body["responses"]):
        assert set(item) == {"id", "status", "headers", "body"}
        direct = world.get(tenant, urls[i])
        assert (item["id"], item["status"], item["body"]) == (str(i), direct.status, direct.body)
    assert reply.body["responses"][2]["status"] == 400


def test_a_batch_of_twenty_is_answered_and_of_twenty_one_refused(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    requests = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]

    assert len(world.batch(tenant, requests[:20]).body["responses"]) == 20
    assert code(world.batch(tenant, requests)) == (400, "BadRequest")
    assert code(world.batch(tenant, [])) == (400, "BadRequest")


def test_a_batch_needs_unique_ids_and_a_content_type_with_a_body(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    twice = [{"id": "a", "method": "GET", "url": "/organization"}] * 2
    twice[1] = {**twice[1], "id": "A"}  # ids are case-insensitive
    bare = {"id": "1", "method": "POST", "url": "/servicePrincipals", "body": {"appId": DEPLOY}}

    assert code(world.batch(tenant, twice)) == (400, "BadRequest")
    assert code(world.batch(tenant, [bare])) == (400, "BadRequest")
    assert tenant.service_principal(DEPLOY) is None
    typed = {**bare, "headers": {"content-type": "application/json"}}
    assert world.batch(tenant, [typed]).body["responses"][0]["status"] == 201


def test_depends_on_a_failed_request_is_424_and_an_absolute_url_is_refused(
    world: World,
) -> None:
    tenant = fresh_tenant(world.directory)
    requests: list[dict[str, Any]] = [
        {"id": "1", "method": "GET", "url": "/applications(appId='" + DEPLOY + "')"},
        {"id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": f"{world.directory.base}/organization"},
    ]

    statuses = [r["status"] for r in world.batch(tenant, requests).body["responses"]]

    assert statuses == [404, 424, 400]
    later = [{**requests[1], "dependsOn": ["9"]}]
    assert code(world.batch(tenant, later)) == (400, "BadRequest")


def test_responses_may_come_in_another_order(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    world.directory.reverse_responses = True
    requests = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(3)]

    assert [r["id"] for r in world.batch(tenant, requests).body["responses"]] == ["2", "1", "0"]


# Service principals.


def test_a_service_principal_by_app_id_or_id_and_select(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    graph = sp_of(world, tenant, GRAPH_APP_ID)

    by_app = world.get(tenant, f"/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appRoles")
    assert set(by_app.body) == {"@odata.context", "id", "appRoles"}
    assert {r["id"] for r in by_app.body["appRoles"]} >= set(GRAPH_ROLES.values())
    whole = world.get(tenant, f"/servicePrincipals/{graph['id']}").body
    assert whole["appOwnerOrganizationId"] == MICROSOFT_TENANT
    assert whole["servicePrincipalType"] == "Application"
    assert whole["displayName"] == "Microsoft Graph"
    exchange = world.get(tenant, f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").body
    assert {r["id"] for r in exchange["appRoles"]} == {FULL_ACCESS_AS_APP, MANAGE_AS_APP}


def test_unknown_ids_properties_and_options_are_refused(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    missing = str(uuid.uuid4())

    reply = world.get(tenant, f"/servicePrincipals/{missing}")
    assert code(reply) == (404, "Request_ResourceNotFound")
    assert reply.body["error"]["message"] == NOT_FOUND.format(missing)
    assert code(world.get(tenant, f"/servicePrincipals(appId='{DEPLOY}')")) == (
        404,
        "Request_ResourceNotFound",
    )
    assert code(world.get(tenant, "/servicePrincipals/not-a-guid"))[0] == 400
    graph = f"/servicePrincipals(appId='{GRAPH_APP_ID}')"
    assert code(world.get(tenant, f"{graph}?$select=id,nonsense")) == (400, "BadRequest")
    assert code(world.get(tenant, f"{graph}?$expand=owners")) == (400, "BadRequest")
    assert world.http(tenant, "PATCH", graph, {"tags": []}).status == 405


def test_the_service_principal_list_filters_by_app_id_only(world: World) -> None:
    tenant = fresh_tenant(world.directory)

    listed = world.get(tenant, f"/servicePrincipals?$filter=appId eq '{EXCHANGE_APP_ID}'")
    assert [s["appId"] for s in listed.body["value"]] == [EXCHANGE_APP_ID]
    by_name = world.get(tenant, "/servicePrincipals?$filter=displayName eq 'Microsoft Graph'")
    assert code(by_name) == (400, "Request_UnsupportedQuery")


def test_creating_a_service_principal_of_a_multi_tenant_app(world: World) -> None:
    tenant = fresh_tenant(world.directory)

    made = world.post(tenant, "/servicePrincipals", {"appId": DEPLOY})

    assert made.status == 201
    assert made.body["appOwnerOrganizationId"] == world.publisher.tenant_id
    assert made.body["displayName"] == PIPELINE_APPS[DEPLOY]
    assert world.get(tenant, f"/servicePrincipals(appId='{DEPLOY}')").body["id"] == made.body["id"]
    again = world.post(tenant, "/servicePrincipals", {"appId": DEPLOY})
    assert code(again) == (400, "Request_MultipleObjectsWithSameKeyValue")


def test_creating_a_service_principal_is_refused_when_it_cannot_be(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    exchange_admin = fresh_tenant(world.directory, admin_roles={"Exchange Administrator"})
    other = hand_made_tenant(world.directory, CERT)
    (single_tenant,) = other.applications

    assert code(world.post(exchange_admin, "/servicePrincipals", {"appId": DEPLOY})) == (
        403,
        "Authorization_RequestDenied",
    )
    unknown = world.post(tenant, "/servicePrincipals", {"appId": str(uuid.uuid4())})
    assert code(unknown) == (400, "Request_BadRequest")
    foreign = world.post(tenant, "/servicePrincipals", {"appId": single_tenant["appId"]})
    assert code(foreign) == (400, "Request_BadRequest")
    extra = world.post(tenant, "/servicePrincipals", {"appId": DEPLOY, "tags": []})
    assert code(extra) == (400, "Request_BadRequest")
    assert code(world.post(tenant, "/servicePrincipals", {})) == (400, "Request_BadRequest")
    assert world.directory.apps[DEPLOY].home_tenant == world.publisher.tenant_id
    assert tenant.service_principal(DEPLOY) is None


def test_a_new_service_principal_lags_for_reads_by_app_id(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    world.directory.replication_lag = 2
    made = world.post(tenant, "/servicePrincipals", {"appId": AUDIT}).body
    by_app = f"/servicePrincipals(appId='{AUDIT}')"

    assert world.get(tenant, by_app).status == 404
    assert world.get(tenant, f"/servicePrincipals?$filter=appId eq '{AUDIT}'").body["value"] == []
    assert world.get(tenant, by_app).status == 200
    assert world.get(tenant, f"/servicePrincipals/{made['id']}").status == 200


# App role assignments.


def grant_body(principal: dict[str, Any], resource: dict[str, Any], role: str) -> dict[str, str]:
    return {"principalId": principal["id"], "resourceId": resource["id"], "appRoleId": role}


def test_a_grant_on_the_resource_or_the_client_is_listed_on_both(world: World) -> None:
    tenant = consented_tenant(world.directory, {DEPLOY: []})
    client, graph = sp_of(world, tenant, DEPLOY), sp_of(world, tenant, GRAPH_APP_ID)
    exchange = sp_of(world, tenant, EXCHANGE_APP_ID)

    on_resource = world.post(
        tenant,
        f"/servicePrincipals/{graph['id']}/appRoleAssignedTo",
        grant_body(client, graph, OWNED_BY),
    )
    on_client = world.post(
        tenant,
        f"/servicePrincipals/{client['id']}/appRoleAssignments",
        grant_body(client, exchange, MANAGE_AS_APP),
    )

    assert (on_resource.status, on_client.status) == (201, 201)
    made = on_resource.body
    assert len(made["id"]) == 43
    assert str(uuid.UUID(bytes_le=base64.urlsafe_b64decode(made["id"] + "=")[:16])) == client["id"]
    assert made["principalType"] == "ServicePrincipal"
    assert made["principalDisplayName"] == PIPELINE_APPS[DEPLOY]
    assert made["resourceDisplayName"] == "Microsoft Graph"
    assert made["createdDateTime"].endswith("Z")
    held = world.get(tenant, f"/servicePrincipals/{client['id']}/appRoleAssignments").body
    assert {a["appRoleId"] for a in held["value"]} == {OWNED_BY, MANAGE_AS_APP}
    on_graph = world.get(tenant, f"/servicePrincipals/{graph['id']}/appRoleAssignedTo").body
    assert [a["id"] for a in on_graph["value"]] == [made["id"]]


def test_a_grant_is_refused_when_it_cannot_be(world: World) -> None:
    tenant = consented_tenant(world.directory, {DEPLOY: [READ_ALL]})
    client, graph = sp_of(world, tenant, DEPLOY), sp_of(world, tenant, GRAPH_APP_ID)
    to_graph = f"/servicePrincipals/{graph['id']}/appRoleAssignedTo"

    duplicate = world.post(tenant, to_graph, grant_body(client, graph, READ_ALL))
    assert code(duplicate) == (400, "Request_BadRequest")
    assert (
        duplicate.body["error"]["message"]
        == "Permission being assigned already exists on the object"
    )
    assert code(world.post(tenant, to_graph, grant_body(client, graph, MANAGE_AS_APP)))[0] == 400
    mixed = world.post(
        tenant,
        f"/servicePrincipals/{client['id']}/appRoleAssignedTo",
        grant_body(client, graph, OWNED_BY),
    )
    assert code(mixed)[0] == 400
    ghost = {"id": str(uuid.uuid4()), "displayName": "x"}
    assert world.post(tenant, to_graph, grant_body(ghost, graph, OWNED_BY)).status == 404
    assert len(tenant.assignments) == 1


def test_without_privileged_role_administrator_only_graph_roles_are_refused(
    world: World,
) -> None:
    tenant = consented_tenant(world.directory, {DEPLOY: []}, admin_roles=WITHOUT_PRIVILEGED_ROLE)
    client = sp_of(world, tenant, DEPLOY)
    graph, exchange = sp_of(world, tenant, GRAPH_APP_ID), sp_of(world, tenant, EXCHANGE_APP_ID)

    refused = world.post(
        tenant,
        f"/servicePrincipals/{graph['id']}/appRoleAssignedTo",
        grant_body(client, graph, OWNED_BY),
    )
    granted = world.post(
        tenant,
        f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo",
        grant_body(client, exchange, MANAGE_AS_APP),
    )

    assert code(refused) == (403, "Authorization_RequestDenied")
    assert refused.body["error"]["message"] == "Insufficient privileges to complete the operation."
    assert granted.status == 201
    assert world.post(tenant, "/servicePrincipals", {"appId": AUDIT}).status == 201


def test_assignment_lists_page_and_filter_as_documented(world: World) -> None:
    grants = {app: [READ_ALL, GRAPH_ROLES["Domain.Read.All"]] for app in PIPELINE_APPS}
    tenant = consented_tenant(world.directory, grants)
    world.directory.page_size = 2
    graph = sp_of(world, tenant, GRAPH_APP_ID)
    listed = f"/servicePrincipals/{graph['id']}/appRoleAssignedTo"

    seen: list[dict[str, Any]] = []
    url, pages = listed + "?$select=id,principalId", 0
    while url:
        page = world.get(tenant, url.removeprefix(world.directory.base)).body
        assert all(set(a) == {"id", "principalId"} for a in page["value"])
        seen += page["value"]
        url, pages = page.get("@odata.nextLink", ""), pages + 1
    assert (len(seen), pages) == (6, 3)
    assert len({a["id"] for a in seen}) == 6
    name = PIPELINE_APPS[AUDIT]
    by_name = world.get(tenant, f"{listed}?$filter=principalDisplayName eq '{name}'").body
    assert {a["principalDisplayName"] for a in by_name["value"]} == {name}
    client = sp_of(world, tenant, AUDIT)
    held = f"/servicePrincipals/{client['id']}/appRoleAssignments"
    by_resource = world.get(tenant, f"{held}?$filter=resourceId eq {graph['id']}").body["value"]
    assert len(by_resource) == 2
    assert len(world.get(tenant, f"{held}?$top=1").body["value"]) == 1
    for refused in (
        f"{listed}?$filter=principalId eq {client['id']}",  # not documented
        f"{held}?$filter=resourceId eq '{graph['id']}'",  # a Guid is not quoted
        f"{held}?$filter=principalDisplayName eq '{name}'",
    ):
        assert code(world.get(tenant, refused)) == (400, "Request_UnsupportedQuery"), refused


# Applications.


def test_an_application_exists_only_in_its_tenant_and_shows_its_key_when_selected(
    world: World,
) -> None:
    tenant = hand_made_tenant(world.directory, CERT)
    (application,) = tenant.applications
    by_app = f"/applications(appId='{application['appId']}')"

    plain = world.get(tenant, by_app).body
    assert plain["displayName"] == HAND_MADE_NAME
    assert plain["signInAudience"] == "AzureADMyOrg"
    (key,) = plain["keyCredentials"]
    assert key["key"] is None
    assert key["customKeyIdentifier"] == base64.b64encode(hashlib.sha1(CERT).digest()).decode()
    assert (key["type"], key["usage"]) == ("AsymmetricX509Cert", "Verify")
    assert {"keyId", "displayName", "startDateTime", "endDateTime"} <= set(key)
    selected = world.get(tenant, f"/applications/{application['id']}?$select=id,keyCredentials")
    assert base64.b64decode(selected.body["keyCredentials"][0]["key"]) == CERT
    assert world.get(fresh_tenant(world.directory), by_app).status == 404
    assert world.get(tenant, f"/applications(appId='{DEPLOY}')").status == 404
    assert world.get(world.publisher, f"/applications(appId='{DEPLOY}')").status == 200


def test_the_hand_made_app_is_found_by_its_full_access_as_app_grant(world: World) -> None:
    tenant = hand_made_tenant(world.directory, CERT, grants={DEPLOY: [OWNED_BY]})
    exchange = sp_of(world, tenant, EXCHANGE_APP_ID)

    found = world.get(
        tenant,
        f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo?$select=principalId,appRoleId",
    ).body["value"]

    (principal,) = [a["principalId"] for a in found if a["appRoleId"] == FULL_ACCESS_AS_APP]
    assert (
        world.get(tenant, f"/servicePrincipals/{principal}").body["displayName"] == HAND_MADE_NAME
    )
    assert world.get(tenant, f"/servicePrincipals(appId='{DEPLOY}')").status == 200


# Owners.


def test_owners_are_listed_and_added_by_reference(world: World) -> None:
    tenant = hand_made_tenant(world.directory, CERT, grants={DEPLOY: []})
    (application,) = tenant.applications
    pipeline = sp_of(world, tenant, DEPLOY)
    reference = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{pipeline['id']}"}
    owners = f"/applications(appId='{application['appId']}')/owners"

    assert world.get(tenant, owners).body["value"] == [
        {"@odata.type": "#microsoft.graph.user", "id": tenant.admin_id}
    ]
    added = world.post(tenant, f"/applications/{application['id']}/owners/$ref", reference)
    assert (added.status, added.body) == (204, None)
    listed = world.get(tenant, owners).body["value"]
    assert {"@odata.type": "#microsoft.graph.servicePrincipal", "id": pipeline["id"]} in listed
    again = world.post(tenant, f"{owners}/$ref", reference)
    assert code(again) == (400, "Request_BadRequest")
    assert (
        "already exist for the following modified properties: 'owners'"
        in (again.body["error"]["message"])
    )
    hand_sp = sp_of(world, tenant, application["appId"])
    on_sp = world.post(tenant, f"/servicePrincipals/{hand_sp['id']}/owners/$ref", reference)
    assert on_sp.status == 204
    assert pipeline["id"] in tenant.owners[hand_sp["id"]]


def test_an_owner_is_refused_when_it_cannot_be(world: World) -> None:
    tenant = hand_made_tenant(world.directory, CERT, grants={DEPLOY: []})
    (application,) = tenant.applications
    path = f"/applications/{application['id']}/owners/$ref"
    prefix = "https://graph.microsoft.com/v1.0/directoryObjects/"

    ghost = world.post(tenant, path, {"@odata.id": prefix + str(uuid.uuid4())})
    assert code(ghost) == (404, "Request_ResourceNotFound")
    assert code(world.post(tenant, path, {"@odata.id": prefix + application["id"]}))[0] == 400
    assert code(world.post(tenant, path, {"@odata.id": "https://example.com/x"}))[0] == 400
    unknown = world.post(tenant, f"/applications/{uuid.uuid4()}/owners/$ref", {"@odata.id": ""})
    assert unknown.status == 404
    tenant.admin_roles = {"Exchange Administrator"}
    pipeline = sp_of(world, tenant, DEPLOY)
    assert code(world.post(tenant, path, {"@odata.id": prefix + pipeline["id"]})) == (
        403,
        "Authorization_RequestDenied",
    )


# Organization, builders and knobs.


def test_the_organization_names_its_initial_domain(world: World) -> None:
    tenant = fresh_tenant(world.directory, name="fabrikam")

    (organization,) = world.get(tenant, "/organization?$select=id,verifiedDomains").body["value"]

    assert organization["id"] == tenant.tenant_id
    (initial,) = [d for d in organization["verifiedDomains"] if d["isInitial"]]
    assert initial["name"] == "fabrikam.onmicrosoft.com"
    assert code(world.get(tenant, "/organization?$filter=id eq 'x'"))[0] == 400


def test_a_tenant_without_exchange_and_a_consented_tenant(world: World) -> None:
    bare = fresh_tenant(world.directory, exchange=False)
    consented = consented_tenant(world.directory, {DEPLOY: [OWNED_BY, MANAGE_AS_APP], AUDIT: []})

    assert world.get(bare, f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").status == 404
    deploy = sp_of(world, consented, DEPLOY)
    held = world.get(consented, f"/servicePrincipals/{deploy['id']}/appRoleAssignments").body
    assert {(a["resourceDisplayName"], a["appRoleId"]) for a in held["value"]} == {
        ("Microsoft Graph", OWNED_BY),
        ("Office 365 Exchange Online", MANAGE_AS_APP),
    }
    assert sp_of(world, consented, AUDIT)["appOwnerOrganizationId"] == world.publisher.tenant_id


def test_throttling_answers_429_with_retry_after_then_serves(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    world.directory.throttle[tenant.tenant_id] = 2
    world.directory.retry_after = "3"

    direct = world.get(tenant, "/organization")
    batched = world.batch(tenant, [{"id": "1", "method": "GET", "url": "/organization"}])

    assert (direct.status, direct.headers["Retry-After"]) == (429, "3")
    (item,) = batched.body["responses"]
    assert (item["status"], item["headers"]["Retry-After"]) == (429, "3")
    assert world.get(tenant, "/organization").status == 200


def test_calls_are_recorded_per_tenant_and_writes_picked_out(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    world.get(tenant, "/organization?$select=id")
    world.batch(
        tenant,
        [
            {
                "id": "1",
                "method": "POST",
                "url": "/servicePrincipals",
                "body": {"appId": PREVIEW},
                "headers": {"Content-Type": "application/json"},
            }
        ],
    )

    mine = [c for c in world.directory.calls if c.tenant == tenant.tenant_id]
    assert [(c.method, c.path, c.query, c.batched) for c in mine] == [
        ("GET", "/organization", {"$select": "id"}, False),
        ("POST", "/servicePrincipals", {}, True),
    ]
    (write,) = [c for c in world.directory.writes() if c.tenant == tenant.tenant_id]
    assert write.body == {"appId": PREVIEW}


def test_parallel_clients_make_one_service_principal_and_latency_applies(world: World) -> None:
    tenant = fresh_tenant(world.directory)
    world.directory.latency = 0.05
    statuses: list[int] = []

    def create() -> None:
        statuses.append(world.post(tenant, "/servicePrincipals", {"appId": DEPLOY}).status)

    started = time.perf_counter()
    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [400] * 7
    assert 0.05 <= time.perf_counter() - started < 0.4  # the waits overlap: outside the lock
    assert len([s for s in tenant.service_principals if s["appId"] == DEPLOY]) == 1


# The fake Exchange's role groups.

EXO_TENANT = "7d9f3f2e-4b1a-4c5e-9a8b-1c2d3e4f5a6b"
POINTER = {"AppId": DEPLOY, "ObjectId": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"}


@pytest.fixture
def exchange() -> Iterator[tuple[FakeExchange, str]]:
    pointer = {**POINTER, "Identity": POINTER["ObjectId"], "Name": POINTER["ObjectId"]}
    fake = FakeExchange(tenants={EXO_TENANT: FakeOrganization(domain="fabrikam.onmicrosoft.com")})
    fake.tenants[EXO_TENANT].service_principals.append(pointer)
    with serve_exchange(fake) as endpoint:
        yield fake, endpoint


def cmdlet(endpoint: str, name: str, **parameters: Any) -> Reply:
    document = {"CmdletInput": {"CmdletName": name, "Parameters": parameters}}
    request = urllib.request.Request(
        f"{endpoint}/adminapi/beta/{EXO_TENANT}/InvokeCommand",
        data=json.dumps(document).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {EXCHANGE_TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            raw, status = answer.read(), answer.status
    except urllib.error.HTTPError as refused:
        raw, status = refused.read(), refused.code
        refused.close()
    return Reply(status, {}, json.loads(raw) if raw else None)


def test_a_role_group_is_made_with_roles_and_read_by_identity(
    exchange: tuple[FakeExchange, str],
) -> None:
    _, endpoint = exchange
    made = cmdlet(endpoint, "New-RoleGroup", Name="Mimecast", Roles=["Mail Recipients"])

    assert (made.status, made.body["value"]) == (
        200,
        [{"Name": "Mimecast", "Roles": ["Mail Recipients"], "Members": []}],
    )
    assert cmdlet(endpoint, "Get-RoleGroup", Identity="mimecast").body["value"][0]["Name"] == (
        "Mimecast"
    )
    assert cmdlet(endpoint, "Get-RoleGroup", Identity="Nobody").status == 404
    assert (
        cmdlet(endpoint, "New-RoleGroup", Name="Mimecast", Roles=["Mail Recipients"]).status == 400
    )
    assert cmdlet(endpoint, "New-RoleGroup", Name="Other", Roles=["No Such Role"]).status == 404
    assert cmdlet(endpoint, "New-RoleGroup", Name="X", Members=["a"]).status == 400


def test_a_service_principal_pointer_joins_a_role_group_once(
    exchange: tuple[FakeExchange, str],
) -> None:
    fake, endpoint = exchange
    cmdlet(endpoint, "New-RoleGroup", Name="Mimecast", Roles=["Mail Recipients"])

    assert cmdlet(endpoint, "Add-RoleGroupMember", Identity="Mimecast", Member=DEPLOY).status == 204
    (group,) = cmdlet(endpoint, "Get-RoleGroup", Identity="Mimecast").body["value"]
    assert group["Members"] == [f"fabrikam.onmicrosoft.com/{POINTER['ObjectId']}"]
    again = cmdlet(endpoint, "Add-RoleGroupMember", Identity="Mimecast", Member=POINTER["ObjectId"])
    assert again.status == 400
    assert "is already a member of the group" in again.body["error"]["innererror"]["message"]
    stranger = cmdlet(
        endpoint, "Add-RoleGroupMember", Identity="Mimecast", Member=str(uuid.uuid4())
    )
    assert stranger.status == 404
    assert cmdlet(endpoint, "Add-RoleGroupMember", Identity="None", Member=DEPLOY).status == 404
    assert [c.cmdlet for c in fake.writes()].count("Add-RoleGroupMember") == 4
