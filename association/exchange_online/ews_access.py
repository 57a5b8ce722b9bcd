"""EWS access for this app: `EwsEnabled $true` and its client ID in `EwsAllowedAppIDs`.

One app's membership of an org-wide list, never the whole list (CyberDrain/CIPP#624 asked
for this). `Set-OrganizationConfig -EwsAllowedAppIDs` replaces the whole list, and Exchange has
no version to write against, so every write is read-modify-write with a second read just
before it and a read after it: an edit that lands between our first read and the write is
seen and the change made again from it; one that lands after ours is seen by its author's own
read-after (another stack of this tenant does the same), and a write that lost ours is redone.
Deleting removes only our ID; when ours is the last, EWS is switched off instead: an empty list
with `EwsEnabled $true` may let every app in (disputed, docs/exchange.md), and off blocks every app.
"""

from __future__ import annotations

from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from association.exchange_online.allow_list import (
    EwsState,
    joined,
    parse_ids,
    with_app,
    without_app,
)
from association.exchange_online.client import ExchangeAdminClient, ExchangeError
from association.exchange_online.provider_base import (
    CONNECTION_KEYS,
    ExchangeProvider,
    ExchangeResource,
    same_target,
)

ATTEMPTS: Final = 3
"""Rounds of read, re-read, write and verify before a list that keeps changing is an error."""
REPLACE_KEYS: Final = (*CONNECTION_KEYS, "appId")


def read_state(client: ExchangeAdminClient) -> EwsState:
    """The switch and the list; ExchangeError when the answer does not hold them (fail closed:
    a missing list is not taken for an empty one)."""
    objects = client.invoke("Get-OrganizationConfig")
    if len(objects) != 1:
        raise ExchangeError(
            f"Exchange Online, tenant {client.tenant_id}, Get-OrganizationConfig: expected one "
            f"object, got {len(objects)}"
        )
    config = objects[0]
    enabled = config.get("EwsEnabled")
    if "EwsAllowedAppIDs" not in config or not (enabled is None or isinstance(enabled, bool)):
        raise ExchangeError(
            f"Exchange Online, tenant {client.tenant_id}, Get-OrganizationConfig: the answer has "
            "no EwsAllowedAppIDs or no boolean EwsEnabled; nothing was changed"
        )
    try:
        return EwsState(enabled, parse_ids(config["EwsAllowedAppIDs"]))
    except ValueError as error:
        raise ExchangeError(f"Exchange Online, tenant {client.tenant_id}: {error}") from None


def ensure_listed(client: ExchangeAdminClient, app_id: str) -> EwsState:
    """EWS on and `app_id` listed, every other entry kept; adopts a tenant that already has it."""
    for _ in range(ATTEMPTS):
        seen = read_state(client)
        if seen.grants(app_id):
            return seen
        wanted = with_app(seen.ids, app_id)
        if read_state(client) != seen:
            continue  # edited since: start again from the newer list
        client.invoke(
            "Set-OrganizationConfig", {"EwsEnabled": True, "EwsAllowedAppIDs": joined(wanted)}
        )
        after = read_state(client)
        if after.grants(app_id):
            return after
    raise _busy(client, "add")


def ensure_unlisted(client: ExchangeAdminClient, app_id: str) -> EwsState:
    """`app_id` no longer reaches EWS: removed from the list, or EWS off if it was the last."""
    for _ in range(ATTEMPTS):
        seen = read_state(client)
        if not seen.lists(app_id):
            return seen
        others = without_app(seen.ids, app_id)
        if read_state(client) != seen:
            continue
        if others:
            client.invoke("Set-OrganizationConfig", {"EwsAllowedAppIDs": joined(others)})
        else:
            client.invoke("Set-OrganizationConfig", {"EwsEnabled": False})
        after = read_state(client)
        if (not after.lists(app_id)) if others else after.enabled is False:
            return after
    raise _busy(client, "remove")


def _busy(client: ExchangeAdminClient, verb: str) -> ExchangeError:
    return ExchangeError(
        f"Exchange Online, tenant {client.tenant_id}: EwsAllowedAppIDs changed under each of "
        f"{ATTEMPTS} attempts to {verb} this app (someone else is editing it); run again"
    )


def _outs(props: dict[str, Any], state: EwsState) -> dict[str, Any]:
    return {
        **{key: props[key] for key in REPLACE_KEYS},
        "listed": state.lists(props["appId"]),
        "ewsEnabled": state.enabled,
    }


class EwsAccessProvider(ExchangeProvider):
    """Create/update make it so, read reports it, delete takes only our entry away."""

    GUID_KEYS = ("tenantId", "appId")

    def create(self, props: dict[str, Any]) -> CreateResult:
        state = ensure_listed(self.client(props), props["appId"])
        return CreateResult(f"{props['tenantId']}/{props['appId']}", _outs(props, state))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, _outs(props, read_state(self.client(props))))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = same_target(olds, news, REPLACE_KEYS)
        drifted = olds.get("listed") is not True or olds.get("ewsEnabled") is not True
        return DiffResult(changes=bool(replaces) or drifted, replaces=replaces)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(_outs(news, ensure_listed(self.client(news), news["appId"])))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        ensure_unlisted(self.client(props), props["appId"])


class EwsAccess(ExchangeResource, module="mimecast", name="EwsAccess"):
    """This app in the tenant's EWS allow list, with EWS on (`listed`, `ewsEnabled` as read)."""

    PROVIDER = EwsAccessProvider
    OUTPUTS = ("listed", "ewsEnabled")
    listed: pulumi.Output[bool]
    ewsEnabled: pulumi.Output[bool | None]  # the output's own name
