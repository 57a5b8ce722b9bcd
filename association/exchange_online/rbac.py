"""RBAC for Applications as resources: the service-principal pointer, the scope, the assignment.

Exchange's own objects that narrow the app to one group's mailboxes (learn.microsoft.com/
exchange/permissions-exo/application-rbac): `New-ServicePrincipal`, `New-ManagementScope
-RecipientRestrictionFilter "MemberOfGroup -eq '<group DN>'"`, `New-ManagementRoleAssignment
-Role 'Application EWS.AccessAsApp' -CustomResourceScope`. Each create finds an existing object
of our name (listing, not `-Identity`, so a missing one is not an error to parse) and adopts
it, corrects what may be corrected in place, and refuses one that belongs to something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from association.exchange_online.client import ExchangeAdminClient, ExchangeError
from association.exchange_online.provider_base import (
    CONNECTION_KEYS,
    ExchangeProvider,
    same_target,
)
from association.text import quoted, visible

EWS_ROLE: Final = "Application EWS.AccessAsApp"
MAX_DN: Final = 1024
"""Longest distinguished name taken from Exchange into a filter (its answers are hostile)."""


def _find(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    return next((item for item in items if str(item.get(key, "")).lower() == value.lower()), None)


def _refuse(client: ExchangeAdminClient, text: str) -> ExchangeError:
    return ExchangeError(f"Exchange Online, tenant {client.tenant_id}: {text}")


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

    def _existing(
        self, client: ExchangeAdminClient, props: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        found = _find(client.invoke("Get-ServicePrincipal"), "AppId", props["appId"])
        if (
            found is not None
            and str(found.get("ObjectId", "")).lower() != props["objectId"].lower()
        ):
            raise _refuse(
                client,
                f"Exchange already has a service principal for app {props['appId']} pointing at "
                f"object {quoted(str(found.get('ObjectId')))}, not {props['objectId']}: remove it "
                "(Remove-ServicePrincipal) or fix the stack",
            )
        return found

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        if self._existing(client, props) is None:
            parameters = {
                "AppId": props["appId"],
                "ObjectId": props["objectId"],
                "DisplayName": props["displayName"],
            }
            client.invoke("New-ServicePrincipal", parameters)
            if self._existing(client, props) is None:
                raise _refuse(client, "New-ServicePrincipal succeeded but the pointer is not there")
        return CreateResult(f"{props['tenantId']}/{props['objectId']}", props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = self._existing(self.client(props), props)
        return ReadResult(id_ if found else "", props if found else {})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = same_target(olds, news, self.KEYS)
        return DiffResult(changes=bool(replaces), replaces=replaces)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = self.client(props)
        found = self._existing(client, props)
        if found is not None:
            client.invoke("Remove-ServicePrincipal", {"Identity": props["objectId"]})


class ManagementScopeProvider(ExchangeProvider):
    """A scope over the members of one group, found by its distinguished name."""

    KEYS: Final = (*CONNECTION_KEYS, "name")

    def _ensure(self, props: dict[str, Any]) -> dict[str, Any]:
        client = self.client(props)
        groups = client.invoke("Get-DistributionGroup", {"Identity": props["group"]})
        dn = groups[0].get("DistinguishedName") if len(groups) == 1 else None
        if not isinstance(dn, str) or not dn.strip() or visible(dn) != dn or len(dn) > MAX_DN:
            group = quoted(props["group"])
            raise _refuse(client, f"group {group} has no single, plain distinguished name")
        wanted = member_filter(dn)
        found = _find(client.invoke("Get-ManagementScope"), "Name", props["name"])
        if found is None:
            client.invoke(
                "New-ManagementScope", {"Name": props["name"], "RecipientRestrictionFilter": wanted}
            )
        elif not same_filter(found.get("RecipientRestrictionFilter"), wanted):
            client.invoke(
                "Set-ManagementScope",
                {"Identity": props["name"], "RecipientRestrictionFilter": wanted},
            )
        after = _find(client.invoke("Get-ManagementScope"), "Name", props["name"])
        if after is None or not same_filter(after.get("RecipientRestrictionFilter"), wanted):
            raise _refuse(client, f"management scope {props['name']!r} did not take the filter")
        return {**props, "groupDn": dn, "filter": after["RecipientRestrictionFilter"]}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['tenantId']}/{props['name']}", self._ensure(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = _find(self.client(props).invoke("Get-ManagementScope"), "Name", props["name"])
        if found is None:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "filter": found.get("RecipientRestrictionFilter")})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = same_target(olds, news, self.KEYS)
        drifted = not same_filter(olds.get("filter"), member_filter(str(olds.get("groupDn"))))
        changed = bool(replaces) or drifted or olds.get("group") != news.get("group")
        return DiffResult(changes=changed, replaces=replaces)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._ensure(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = self.client(props)
        if _find(client.invoke("Get-ManagementScope"), "Name", props["name"]) is not None:
            client.invoke("Remove-ManagementScope", {"Identity": props["name"]})


class RoleAssignmentProvider(ExchangeProvider):
    """`Application EWS.AccessAsApp` for our app, on our scope only."""

    GUID_KEYS = ("tenantId", "appId", "objectId")
    KEYS: Final = (*CONNECTION_KEYS, "name", "appId", "objectId", "role")

    def _ours(self, item: Mapping[str, Any], props: Mapping[str, Any]) -> bool:
        """Exchange names the assignee by any of the service principal's identifiers."""
        ids = {props["appId"].lower(), props["objectId"].lower()}
        names = (item.get(key) for key in ("App", "RoleAssignee", "RoleAssigneeName"))
        return any(str(name).lower() in ids for name in names if name)

    def _found(
        self, client: ExchangeAdminClient, props: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        items = client.invoke("Get-ManagementRoleAssignment", {"Role": props["role"]})
        found = _find(items, "Name", props["name"]) or next(
            # one made by hand with the printed command, which names no assignment
            (
                item
                for item in items
                if self._ours(item, props)
                and str(item.get("CustomResourceScope", "")).lower() == props["scope"].lower()
            ),
            None,
        )
        if found is not None and not self._ours(found, props):
            raise _refuse(
                client,
                f"role assignment {props['name']!r} exists for another assignee "
                f"({quoted(str(found.get('RoleAssigneeName')))}): remove or rename it",
            )
        return found

    def _ensure(self, props: dict[str, Any]) -> dict[str, Any]:
        client = self.client(props)
        found = self._found(client, props)
        if found is None:
            client.invoke(
                "New-ManagementRoleAssignment",
                {
                    "Name": props["name"],
                    "App": props["appId"],
                    "Role": props["role"],
                    "CustomResourceScope": props["scope"],
                },
            )
        elif str(found.get("CustomResourceScope", "")).lower() != props["scope"].lower():
            client.invoke(
                "Set-ManagementRoleAssignment",
                {"Identity": found["Name"], "CustomResourceScope": props["scope"]},
            )
        after = self._found(client, props)
        if (
            after is None
            or str(after.get("CustomResourceScope", "")).lower() != props["scope"].lower()
        ):
            raise _refuse(client, f"role assignment {props['name']!r} is not on {props['scope']!r}")
        return {
            **props,
            "exchangeName": after.get("Name"),
            "actualScope": after.get("CustomResourceScope"),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['tenantId']}/{props['name']}", self._ensure(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = self._found(self.client(props), props)
        if found is None:
            return ReadResult("", {})
        outs = {"exchangeName": found.get("Name"), "actualScope": found.get("CustomResourceScope")}
        return ReadResult(id_, {**props, **outs})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = same_target(olds, news, self.KEYS)
        drifted = str(olds.get("actualScope", "")).lower() != str(news.get("scope", "")).lower()
        return DiffResult(changes=bool(replaces) or drifted, replaces=replaces)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._ensure(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = self.client(props)
        found = self._found(client, props)
        if found is not None:
            client.invoke("Remove-ManagementRoleAssignment", {"Identity": found["Name"]})
