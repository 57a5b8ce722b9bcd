"""RBAC for Applications as resources, over HTTP against the fake Exchange Online.

The service-principal pointer, the management scope on the group's distinguished name, and
the scoped `Application EWS.AccessAsApp` assignment: created, adopted when they exist with
our names (or, for an assignment made with the printed command, on our scope), corrected when
they drift, refused when they belong to something else; replaced old-first, so one object of
each fixed name is left; written once and waited for when reads lag.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_exchange import TOKEN, FakeExchange, FakeOrganization, serve
from pulumi.runtime.rpc import UNKNOWN

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.exchange_online.rbac import (
    ManagementScopeProvider,
    RoleAssignmentProvider,
    ServicePrincipalPointerProvider,
)

TENANT = "7d9f3f2e-4b1a-4c5e-9a8b-1c2d3e4f5a6b"
APP = "3c9e2a1b-5d4f-4e6a-8b7c-9d0e1f2a3b4c"
SP = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
GROUP = "mimecast-sync@contoso.com"
DN = "CN=Mimecast Sync,OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations"
SCOPE = "Mimecast association prod"


class Tokens:
    def token(self, tenant_id: str, scope: str) -> str:
        return TOKEN


WAITS: list[float] = []


def connect(endpoint: str, authority: str, tenant: str) -> ExchangeAdminClient:
    return ExchangeAdminClient(endpoint, tenant, Tokens(), sleep=WAITS.append)


@pytest.fixture
def exchange() -> FakeExchange:
    WAITS.clear()
    return FakeExchange(tenants={TENANT: FakeOrganization(groups={GROUP: DN})})


@pytest.fixture
def endpoint(exchange: FakeExchange) -> Iterator[str]:
    with serve(exchange) as url:
        yield url


def base(endpoint: str) -> dict[str, Any]:
    return {"tenantId": TENANT, "endpoint": endpoint, "authority": "login.microsoftonline.com"}


def org(exchange: FakeExchange) -> FakeOrganization:
    return exchange.tenants[TENANT]


def pointer(endpoint: str) -> dict[str, Any]:
    return {**base(endpoint), "appId": APP, "objectId": SP, "displayName": "Mimecast"}


def test_the_pointer_is_created_once_then_adopted(exchange: FakeExchange, endpoint: str) -> None:
    provider = ServicePrincipalPointerProvider(connect)
    provider.create(pointer(endpoint))
    provider.create(pointer(endpoint))
    assert [(sp["AppId"], sp["ObjectId"]) for sp in org(exchange).service_principals] == [(APP, SP)]
    assert [c.cmdlet for c in exchange.writes()] == ["New-ServicePrincipal"]


def test_a_pointer_to_another_object_is_refused(exchange: FakeExchange, endpoint: str) -> None:
    org(exchange).service_principals = [{"AppId": APP, "ObjectId": APP, "Identity": APP}]
    with pytest.raises(ExchangeError, match=f"tenant {TENANT}.*Remove-ServicePrincipal"):
        ServicePrincipalPointerProvider(connect).create(pointer(endpoint))


def test_a_removed_pointer_reads_as_gone(exchange: FakeExchange, endpoint: str) -> None:
    provider = ServicePrincipalPointerProvider(connect)
    outs = provider.create(pointer(endpoint)).outs or {}
    org(exchange).service_principals.clear()
    assert provider.read(f"{TENANT}/{SP}", outs).id == ""


def scope(endpoint: str) -> dict[str, Any]:
    return {**base(endpoint), "name": SCOPE, "group": GROUP}


def test_the_scope_filters_on_the_groups_distinguished_name(
    exchange: FakeExchange, endpoint: str
) -> None:
    org(exchange).groups[GROUP] = "CN=O'Brien's team,OU=contoso"
    ManagementScopeProvider(connect).create(scope(endpoint))
    assert org(exchange).scopes == [
        {
            "Name": SCOPE,
            "RecipientRestrictionFilter": "MemberOfGroup -eq 'CN=O''Brien''s team,OU=contoso'",
        }
    ]


def test_a_scope_of_our_name_is_adopted_and_its_filter_corrected(
    exchange: FakeExchange, endpoint: str
) -> None:
    org(exchange).scopes = [{"Name": SCOPE, "RecipientRestrictionFilter": "Department -eq 'IT'"}]
    ManagementScopeProvider(connect).create(scope(endpoint))
    assert org(exchange).scopes == [
        {"Name": SCOPE, "RecipientRestrictionFilter": f"MemberOfGroup -eq '{DN}'"}
    ]
    assert [c.cmdlet for c in exchange.writes()] == ["Set-ManagementScope"]


def test_a_changed_filter_shows_as_drift(exchange: FakeExchange, endpoint: str) -> None:
    provider = ManagementScopeProvider(connect)
    outs = provider.create(scope(endpoint)).outs or {}
    assert provider.diff("id", outs, scope(endpoint)).changes is False
    org(exchange).scopes[0]["RecipientRestrictionFilter"] = "RecipientType -eq 'UserMailbox'"
    read = provider.read("id", outs).outs or {}
    assert provider.diff("id", read, scope(endpoint)).changes is True


def test_a_missing_group_is_one_clear_error(exchange: FakeExchange, endpoint: str) -> None:
    org(exchange).groups.clear()
    with pytest.raises(ExchangeError, match=f"tenant {TENANT}, Get-DistributionGroup.*found"):
        ManagementScopeProvider(connect).create(scope(endpoint))


def assignment(endpoint: str, made: bool = True) -> dict[str, Any]:
    """The assignment's inputs; `made`: its pointer and scope exist, as the engine orders it."""
    if made:
        ServicePrincipalPointerProvider(connect).create(pointer(endpoint))
        ManagementScopeProvider(connect).create(scope(endpoint))
    return {
        **base(endpoint),
        "name": f"{SCOPE} EWS access",
        "appId": APP,
        "objectId": SP,
        "role": "Application EWS.AccessAsApp",
        "scope": SCOPE,
    }


def test_the_assignment_is_on_our_scope_for_our_service_principal(
    exchange: FakeExchange, endpoint: str
) -> None:
    RoleAssignmentProvider(connect).create(assignment(endpoint))
    (made,) = org(exchange).assignments
    assert (made["Role"], made["RoleAssignee"], made["CustomResourceScope"]) == (
        "Application EWS.AccessAsApp",
        SP,
        SCOPE,
    )
    (new,) = [c for c in exchange.calls if c.cmdlet == "New-ManagementRoleAssignment"]
    assert new.parameters["App"] == SP, "-App takes the ObjectId (New-ManagementRoleAssignment)"


def test_an_assignment_before_its_pointer_is_exchanges_not_found(
    exchange: FakeExchange, endpoint: str
) -> None:
    ManagementScopeProvider(connect).create(scope(endpoint))
    with pytest.raises(ExchangeError, match=r"service principal .* couldn't be found"):
        RoleAssignmentProvider(connect).create(assignment(endpoint, made=False))


def test_an_assignment_made_with_the_printed_command_is_adopted(
    exchange: FakeExchange, endpoint: str
) -> None:
    by_hand = {
        "Name": "Application EWS.AccessAsApp-1f2e",
        "Role": "Application EWS.AccessAsApp",
        "RoleAssignee": SP,
        "RoleAssigneeName": SP,
        "CustomResourceScope": SCOPE,
    }
    props = assignment(endpoint)
    written = len(exchange.writes())
    org(exchange).assignments = [by_hand]
    outs = RoleAssignmentProvider(connect).create(props).outs or {}
    assert len(exchange.writes()) == written
    assert outs["exchangeName"] == by_hand["Name"]


def test_our_name_held_by_another_app_is_refused(exchange: FakeExchange, endpoint: str) -> None:
    org(exchange).assignments = [
        {
            "Name": f"{SCOPE} EWS access",
            "Role": "Application EWS.AccessAsApp",
            "RoleAssignee": "someone-else",
            "RoleAssigneeName": "someone-else",
            "CustomResourceScope": SCOPE,
        }
    ]
    with pytest.raises(ExchangeError, match="another assignee"):
        RoleAssignmentProvider(connect).create(assignment(endpoint))


def test_an_assignment_moved_to_another_scope_is_put_back(
    exchange: FakeExchange, endpoint: str
) -> None:
    provider = RoleAssignmentProvider(connect)
    outs = provider.create(assignment(endpoint)).outs or {}
    org(exchange).assignments[0]["CustomResourceScope"] = "Everyone"
    read = provider.read("id", outs).outs or {}
    assert provider.diff("id", read, assignment(endpoint)).changes is True
    provider.update("id", read, assignment(endpoint))
    assert org(exchange).assignments[0]["CustomResourceScope"] == SCOPE


def test_delete_removes_each_object(exchange: FakeExchange, endpoint: str) -> None:
    made = [
        (RoleAssignmentProvider(connect), assignment(endpoint)),
        (ManagementScopeProvider(connect), scope(endpoint)),
        (ServicePrincipalPointerProvider(connect), pointer(endpoint)),
    ]
    for provider, props in reversed(made):
        provider.create(props)
    for provider, props in made:
        provider.delete("id", props)
    state = org(exchange)
    assert (state.assignments, state.scopes, state.service_principals) == ([], [], [])


def test_a_hostile_distinguished_name_never_reaches_a_filter(
    exchange: FakeExchange, endpoint: str
) -> None:
    org(exchange).groups[GROUP] = "CN=x\n') -or (Name -like '*"
    with pytest.raises(ExchangeError, match="no single, plain distinguished name"):
        ManagementScopeProvider(connect).create(scope(endpoint))
    assert org(exchange).scopes == []


# --- replacements, lagging reads, throttling ------------------------------------------------

OTHER_AUTHORITY = "login.microsoftonline.us"
"""A changed connection input: the same names, another object to the engine (a replacement)."""


@pytest.mark.parametrize(
    ("make", "listed"),
    [
        (lambda e: (ServicePrincipalPointerProvider(connect), pointer(e)), "service_principals"),
        (lambda e: (ManagementScopeProvider(connect), scope(e)), "scopes"),
        (lambda e: (RoleAssignmentProvider(connect), assignment(e)), "assignments"),
    ],
)
def test_a_replacement_deletes_the_old_object_first_and_leaves_exactly_one(
    exchange: FakeExchange, endpoint: str, make: Any, listed: str
) -> None:
    provider, props = make(endpoint)
    outs = provider.create(props).outs or {}
    news = {**props, "authority": OTHER_AUTHORITY}
    diff = provider.diff("id", outs, news)
    assert (diff.replaces, diff.delete_before_replace) == (["authority"], True)
    provider.delete("id", outs)  # delete_before_replace: the old one goes first
    provider.create(news)
    assert len(getattr(org(exchange), listed)) == 1
    # Created first instead, the new one would adopt the old (same name), whose delete would
    # then leave none.
    provider.create(props)
    provider.delete("id", props)
    assert getattr(org(exchange), listed) == []


def test_lagging_reads_are_waited_for_after_each_write(
    exchange: FakeExchange, endpoint: str
) -> None:
    exchange.stale_reads = 2
    provider = ManagementScopeProvider(connect)
    provider.create(scope(endpoint))
    assert [c.cmdlet for c in exchange.writes()] == ["New-ManagementScope"]
    assert WAITS == [2.0, 4.0]
    provider.delete("id", scope(endpoint))
    provider.create(scope(endpoint))  # the delete was waited for: nothing stale is adopted
    assert [c.cmdlet for c in exchange.writes()][-2:] == [
        "Remove-ManagementScope",
        "New-ManagementScope",
    ]
    assert len(org(exchange).scopes) == 1


def test_a_write_that_never_shows_is_one_clear_error(exchange: FakeExchange, endpoint: str) -> None:
    exchange.stale_reads = 1000
    with pytest.raises(ExchangeError, match="New-ServicePrincipal was accepted but does not show"):
        ServicePrincipalPointerProvider(connect).create(pointer(endpoint))
    assert len(exchange.writes()) == 1


def test_a_throttled_create_finds_before_it_writes_again(
    exchange: FakeExchange, endpoint: str
) -> None:
    exchange.throttled["New-ManagementScope"] = 1
    ManagementScopeProvider(connect).create(scope(endpoint))
    assert [c.cmdlet for c in exchange.calls].count("Get-ManagementScope") >= 3
    assert len(org(exchange).scopes) == 1
    assert WAITS[0] == 7.0


@pytest.mark.parametrize("replaced", ["scope", "objectId"])
def test_replacing_the_scope_or_pointer_replaces_the_assignment_first(
    exchange: FakeExchange, endpoint: str, replaced: str
) -> None:
    """The engine's dependent replacement: the assignment's input that comes from the replaced
    resource is diffed as unknown; a replacement there puts the assignment's delete first."""
    props = assignment(endpoint)
    provider = RoleAssignmentProvider(connect)
    outs = provider.create(props).outs or {}
    diff = provider.diff("id", outs, {**props, replaced: UNKNOWN})
    assert (diff.replaces, diff.delete_before_replace) == ([replaced], True)
    with pytest.raises(ExchangeError, match="associated with a management role assignment"):
        ManagementScopeProvider(connect).delete("id", scope(endpoint))  # the other order
    provider.delete("id", outs)
    ManagementScopeProvider(connect).delete("id", scope(endpoint))
    ManagementScopeProvider(connect).create(scope(endpoint))
    provider.create(props)
    state = org(exchange)
    assert (len(state.scopes), len(state.assignments)) == (1, 1)


def test_a_hand_made_assignment_naming_the_pointer_by_another_identifier_is_adopted(
    exchange: FakeExchange, endpoint: str
) -> None:
    """Exchange may name the assignee by any of the pointer's identifiers (the audit's rule)."""
    props = assignment(endpoint)
    (pointer_object,) = org(exchange).service_principals
    pointer_object["ServiceId"] = "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"  # not the ObjectId
    by_hand = {
        "Name": "Application EWS.AccessAsApp-77aa",
        "Role": "Application EWS.AccessAsApp",
        "RoleAssignee": pointer_object["ServiceId"],
        "RoleAssigneeName": pointer_object["ServiceId"],
        "CustomResourceScope": SCOPE,
    }
    org(exchange).assignments = [by_hand]
    written = len(exchange.writes())
    outs = RoleAssignmentProvider(connect).create(props).outs or {}
    assert len(exchange.writes()) == written
    assert outs["exchangeName"] == by_hand["Name"]
