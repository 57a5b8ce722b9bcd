"""RBAC for Applications as resources: the service-principal pointer, the scope, the assignment.

Exchange's own objects that narrow the app to one group's mailboxes (learn.microsoft.com/
exchange/permissions-exo/application-rbac): `New-ServicePrincipal`, `New-ManagementScope
-RecipientRestrictionFilter "MemberOfGroup -eq '<group DN>'"`, `New-ManagementRoleAssignment
-Role 'Application EWS.AccessAsApp' -CustomResourceScope`, whose `-App` is "the ObjectId GUID
value from the output of the Get-ServicePrincipal cmdlet" (New-ManagementRoleAssignment.md;
its example output names the assignee by that ObjectId). Each create finds an existing object
of our name (listing, not `-Identity`, so a missing one is not an error to parse) and adopts
it, corrects what may be corrected in place, and refuses one that belongs to something else.
Every write is read back until it shows (`Patience.settle`), deletes too: a replacement
deletes the old object first, and a create that still saw it would adopt what is going away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.exchange_online.principals import assigned_to, our_names
from association.exchange_online.provider_base import CONNECTION_KEYS, ExchangeProvider, replacing
from association.text import quoted, visible

EWS_ROLE: Final = "Application EWS.AccessAsApp"
MAX_DN: Final = 1024
"""Longest distinguished name taken from Exchange into a filter (its answers are hostile)."""

Found = dict[str, Any] | None


def _find(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    return next((item for item in items if str(item.get(key, "")).lower() == value.lower()), None)


def _refuse(client: ExchangeAdminClient, text: str) -> ExchangeError:
    return ExchangeError(f"Exchange Online, tenant {client.tenant_id}: {text}")


def _shown(
    client: ExchangeAdminClient, find: Callable[[], Found], done: Callable[[Found], bool], what: str
) -> Found:
    """`find()` once the write shows; an error naming `what` if it never does."""
    found = client.patience.settle(find, done)
    if not done(found):
        raise _refuse(
            client,
            f"{what} was accepted but does not show after {client.limits.settle:g} s; Exchange "
            "may take longer: run `pulumi up` again later",
        )
    return found


def member_filter(group_dn: str) -> str:
    """The scope's OPATH filter; a quote in the DN doubled, as OPATH strings escape it."""
    return "MemberOfGroup -eq '" + group_dn.replace("'", "''") + "'"


def same_filter(a: object, b: str) -> bool:
    """Exchange may store a filter with outer parentheses or other spacing."""

    def plain(text: str) -> str:
        text = " ".join(text.split())
        while text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        return text.lower()

    return isinstance(a, str) and plain(a) == plain(b)


class ServicePrincipalPointerProvider(ExchangeProvider):
    """Exchange's pointer to our Entra service principal (`New-ServicePrincipal`)."""

    GUID_KEYS = ("tenantId", "appId", "objectId")
    KEYS: Final = (*CONNECTION_KEYS, "appId", "objectId")

    def _existing(self, client: ExchangeAdminClient, props: Mapping[str, Any]) -> Found:
        """Ours by AppId; one of our AppId pointing at another object is refused."""
        found = _find(client.invoke("Get-ServicePrincipal"), "AppId", props["appId"])
        if found is not None and not _is(found, "ObjectId", props["objectId"]):
            raise _refuse(
                client,
                f"Exchange already has a service principal for app {props['appId']} pointing at "
                f"object {quoted(str(found.get('ObjectId')))}, not {props['objectId']}: remove it "
                "(Remove-ServicePrincipal) or fix the stack",
            )
        return found

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self.connected(props) as client:
            client.patience.retrying(lambda: self._ensure(client, props))
        return CreateResult(f"{props['tenantId']}/{props['objectId']}", props)

    def _ensure(self, client: ExchangeAdminClient, props: dict[str, Any]) -> None:
        if self._existing(client, props) is not None:
            return
        parameters = {
            "AppId": props["appId"],
            "ObjectId": props["objectId"],
            "DisplayName": props["displayName"],
        }
        client.invoke("New-ServicePrincipal", parameters)
        _shown(client, lambda: self._existing(client, props), _present, "New-ServicePrincipal")

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.connected(props) as client:
            found = self._existing(client, props)
        return ReadResult(id_ if found else "", props if found else {})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return replacing(olds, news, self.KEYS, drifted=False)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        def ours() -> Found:  # by ObjectId: a pointer of our app to another object is not ours
            return _find(client.invoke("Get-ServicePrincipal"), "ObjectId", props["objectId"])

        def remove() -> None:
            if ours() is not None:
                client.invoke("Remove-ServicePrincipal", {"Identity": props["objectId"]})
                _shown(client, ours, _absent, "Remove-ServicePrincipal")

        with self.connected(props) as client:
            client.patience.retrying(remove)


class ManagementScopeProvider(ExchangeProvider):
    """A scope over the members of one group, found by its distinguished name."""

    KEYS: Final = (*CONNECTION_KEYS, "name")

    def _scope(self, client: ExchangeAdminClient, props: Mapping[str, Any]) -> Found:
        return _find(client.invoke("Get-ManagementScope"), "Name", props["name"])

    def _ensure(self, client: ExchangeAdminClient, props: dict[str, Any]) -> dict[str, Any]:
        groups = client.invoke("Get-DistributionGroup", {"Identity": props["group"]})
        dn = groups[0].get("DistinguishedName") if len(groups) == 1 else None
        if not isinstance(dn, str) or not dn.strip() or visible(dn) != dn or len(dn) > MAX_DN:
            group = quoted(props["group"])
            raise _refuse(client, f"group {group} has no single, plain distinguished name")
        wanted = member_filter(dn)

        def right(found: Found) -> bool:
            return found is not None and same_filter(
                found.get("RecipientRestrictionFilter"), wanted
            )

        found = self._scope(client, props)
        if not right(found):
            cmdlet = "New-ManagementScope" if found is None else "Set-ManagementScope"
            named = {"Name": props["name"]} if found is None else {"Identity": props["name"]}
            client.invoke(cmdlet, {**named, "RecipientRestrictionFilter": wanted})
            found = _shown(client, lambda: self._scope(client, props), right, cmdlet)
        assert found is not None  # right() holds
        return {**props, "groupDn": dn, "filter": found["RecipientRestrictionFilter"]}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['tenantId']}/{props['name']}", self._made(props))

    def _made(self, props: dict[str, Any]) -> dict[str, Any]:
        with self.connected(props) as client:
            return client.patience.retrying(lambda: self._ensure(client, props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.connected(props) as client:
            found = self._scope(client, props)
        if found is None:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "filter": found.get("RecipientRestrictionFilter")})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        drifted = not same_filter(olds.get("filter"), member_filter(str(olds.get("groupDn"))))
        return replacing(olds, news, self.KEYS, drifted or olds.get("group") != news.get("group"))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._made(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        def remove() -> None:
            if self._scope(client, props) is not None:
                client.invoke("Remove-ManagementScope", {"Identity": props["name"]})
                _shown(
                    client, lambda: self._scope(client, props), _absent, "Remove-ManagementScope"
                )

        with self.connected(props) as client:
            client.patience.retrying(remove)


class RoleAssignmentProvider(ExchangeProvider):
    """`Application EWS.AccessAsApp` for our app, on our scope only."""

    GUID_KEYS = ("tenantId", "appId", "objectId")
    KEYS: Final = (*CONNECTION_KEYS, "name", "appId", "objectId", "role", "scope")

    def _found(self, client: ExchangeAdminClient, props: Mapping[str, Any]) -> Found:
        """Ours by name, or one made by hand with the printed command (which names no
        assignment) for our app on our scope; our name held by another assignee is refused."""
        pointers = client.invoke("Get-ServicePrincipal")
        ours = our_names(pointers, props["appId"], props["objectId"])
        items = client.invoke("Get-ManagementRoleAssignment", {"Role": props["role"]})
        found = _find(items, "Name", props["name"]) or next(
            (item for item in items if assigned_to(item, ours) and _on(item, props["scope"])),
            None,
        )
        if found is not None and not assigned_to(found, ours):
            raise _refuse(
                client,
                f"role assignment {props['name']!r} exists for another assignee "
                f"({quoted(str(found.get('RoleAssigneeName')))}): remove or rename it",
            )
        return found

    def _ensure(self, client: ExchangeAdminClient, props: dict[str, Any]) -> dict[str, Any]:
        def right(found: Found) -> bool:
            return found is not None and _on(found, props["scope"])

        found = self._found(client, props)
        if not right(found):
            if found is None:
                cmdlet = "New-ManagementRoleAssignment"
                parameters = {
                    "Name": props["name"],
                    "App": props["objectId"],
                    "Role": props["role"],
                    "CustomResourceScope": props["scope"],
                }
            else:
                cmdlet = "Set-ManagementRoleAssignment"
                parameters = {"Identity": found["Name"], "CustomResourceScope": props["scope"]}
            client.invoke(cmdlet, parameters)
            found = _shown(client, lambda: self._found(client, props), right, cmdlet)
        assert found is not None  # right() holds
        return {
            **props,
            "exchangeName": found.get("Name"),
            "actualScope": found.get("CustomResourceScope"),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['tenantId']}/{props['name']}", self._made(props))

    def _made(self, props: dict[str, Any]) -> dict[str, Any]:
        with self.connected(props) as client:
            return client.patience.retrying(lambda: self._ensure(client, props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.connected(props) as client:
            found = self._found(client, props)
        if found is None:
            return ReadResult("", {})
        outs = {"exchangeName": found.get("Name"), "actualScope": found.get("CustomResourceScope")}
        return ReadResult(id_, {**props, **outs})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        drifted = str(olds.get("actualScope", "")).lower() != str(news.get("scope", "")).lower()
        return replacing(olds, news, self.KEYS, drifted)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._made(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        def remove() -> None:
            found = self._found(client, props)
            if found is None:
                return
            name = str(found["Name"])

            def named() -> Found:
                items = client.invoke("Get-ManagementRoleAssignment", {"Role": props["role"]})
                return _find(items, "Name", name)

            client.invoke("Remove-ManagementRoleAssignment", {"Identity": name})
            _shown(client, named, _absent, "Remove-ManagementRoleAssignment")

        with self.connected(props) as client:
            client.patience.retrying(remove)


def _is(item: Mapping[str, Any], key: str, value: str) -> bool:
    return str(item.get(key, "")).lower() == value.lower()


def _on(item: Mapping[str, Any], scope: str) -> bool:
    return _is(item, "CustomResourceScope", scope)


def _present(found: Found) -> bool:
    return found is not None


def _absent(found: Found) -> bool:
    return found is None
