"""EWS access for this app: `EwsEnabled $true` and its client ID in `EwsAllowedAppIDs`.

One app's membership of an org-wide list, never the whole list (CyberDrain/CIPP#624 asked
for this). The list is read only with `-RetrieveEwsOperationAccessPolicy`: the
Set-OrganizationConfig reference says that switch is how Get-OrganizationConfig shows the
configured apps (MicrosoftDocs/office-docs-powershell, Set-OrganizationConfig.md, Example 7 and
`-EwsAllowedAppIDs`; CIPP-API's EWS standard passes it), so a read without it may show an empty
list. `Set-OrganizationConfig -EwsAllowedAppIDs` replaces the whole list and Exchange has no
version to write against, so every write is read-modify-write: a second read just before it,
then reads until the write shows (`Patience.settle`). An edit between our first read and the
write is seen and the change made again from it; one that removes an entry after our write is
named (`lost`); a write that lost ours is redone from the newer list. A throttled write is
never sent again as it was: the operation starts over from its read (`Patience.retrying`).

Adding this app can change EWS for other apps: the switch on with a list takes EWS from every
app it does not list where EWS is not restricted by app today (`restricts_others`), and the
switch turned back on gives EWS back to the apps listed while it was off (`let_in`). Then
nothing is written unless the stack says so (`exchange.changeOtherApps`), and a warning names
the apps let in. Deleting removes only our ID; when ours is the last, EWS is switched off (with
`$false` every request is blocked whatever the list holds), never left on with an empty list,
which stops restricting.

Not covered: an entry another admin adds while our reads still lag behind their write (both
our reads show the list without it) is lost by our write and not seen; nor is one that a
writer of an older list drops after our write was checked. The nightly `preview --refresh`
sees our own entry gone; another app's, only its owner or the audit's EWS findings see.
"""

from __future__ import annotations

from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from association.exchange_online.allow_list import (
    EwsState,
    joined,
    let_in,
    lost,
    parse_ids,
    restricts_others,
    shown_ids,
    with_app,
    without_app,
)
from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.exchange_online.provider_base import (
    CONNECTION_KEYS,
    ExchangeProvider,
    ExchangeResource,
    replacing,
)
from association.identifiers import setting_key

ATTEMPTS: Final = 3
"""Rounds of read, re-read, write and verify before a list that keeps changing is an error."""
REPLACE_KEYS: Final = (*CONNECTION_KEYS, "appId")
RETRIEVE: Final = {"RetrieveEwsOperationAccessPolicy": True}
"""The switch without which Get-OrganizationConfig may not show the allow list."""
CHANGE_OTHER_APPS: Final = setting_key("exchange") + ".changeOtherApps"


def read_state(client: ExchangeAdminClient) -> EwsState:
    """The switch and the list; ExchangeError when the answer does not hold them (fail closed:
    a missing list is not taken for an empty one)."""
    objects = client.invoke("Get-OrganizationConfig", RETRIEVE)
    if len(objects) != 1:
        raise ExchangeError(
            f"Exchange Online, tenant {client.tenant_id}, Get-OrganizationConfig: expected one "
            f"object, got {len(objects)}"
        )
    config = objects[0]
    enabled = config.get("EwsEnabled")
    if (
        "EwsAllowedAppIDs" not in config
        or "EwsEnabled" not in config  # absent is not unset: fail closed
        or not (enabled is None or isinstance(enabled, bool))
    ):
        raise ExchangeError(
            f"Exchange Online, tenant {client.tenant_id}, Get-OrganizationConfig: the answer has "
            "no EwsAllowedAppIDs or no boolean EwsEnabled; nothing was changed"
        )
    try:
        return EwsState(enabled, parse_ids(config["EwsAllowedAppIDs"]))
    except ValueError as error:
        raise ExchangeError(f"Exchange Online, tenant {client.tenant_id}: {error}") from None


def ensure_listed(client: ExchangeAdminClient, app_id: str, change_others: bool) -> EwsState:
    """EWS on and `app_id` listed, every other entry kept; adopts a tenant that already has it."""
    for _ in range(ATTEMPTS):
        seen = read_state(client)
        if seen.grants(app_id):
            return seen
        if not change_others and (restricts_others(seen) or let_in(seen, app_id)):
            raise _would_change_others(client, seen, app_id)
        if read_state(client) != seen:
            continue  # edited since: start again from the newer list
        wanted = with_app(seen.ids, app_id)
        client.invoke(
            "Set-OrganizationConfig", {"EwsEnabled": True, "EwsAllowedAppIDs": joined(wanted)}
        )
        after = _written(client, seen)
        if after.grants(app_id):
            _say_what_else_changed(client, seen, after, wanted, let_in(seen, app_id))
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
        # Ours the last one: off while it was on (an empty list would stop restricting);
        # otherwise the list has no effect or EWS is off, and an empty list changes nothing.
        switch_off = not others and seen.enabled is True
        change: dict[str, object] = {"EwsAllowedAppIDs": joined(others) if others else None}
        if switch_off:
            change["EwsEnabled"] = False
        client.invoke("Set-OrganizationConfig", change)
        after = _written(client, seen)
        if not after.lists(app_id) and (after.enabled is False or not switch_off):
            _say_what_else_changed(client, seen, after, others, ())
            return after
    raise _busy(client, "remove")


def _written(client: ExchangeAdminClient, seen: EwsState) -> EwsState:
    """The state once the write shows: reads until they differ from the one written over."""
    after = client.patience.settle(lambda: read_state(client), lambda state: state != seen)
    if after == seen:
        raise ExchangeError(
            f"Exchange Online, tenant {client.tenant_id}: Set-OrganizationConfig was accepted, "
            f"but Get-OrganizationConfig still shows the list as before it after "
            f"{client.limits.settle:g} s. Exchange may take longer to show a change: check with "
            "the stack output exchangeOnline.ewsCheck and run `pulumi up` again later"
        )
    return after


def _say_what_else_changed(
    client: ExchangeAdminClient,
    seen: EwsState,
    after: EwsState,
    kept: tuple[str, ...],
    given_back: tuple[str, ...],
) -> None:
    """Warn about what the write did to other apps: entries someone else removed meanwhile,
    apps that EWS switched on lets in again."""
    gone = lost(seen, after, kept)
    if gone:
        client.warn(
            f"EwsAllowedAppIDs held {shown_ids(gone)} just before this run's write, which kept "
            "them, and does not after it: another admin or tool changed the list at the same "
            "time, and those apps have no EWS now. See who in the audit log (Search-"
            "UnifiedAuditLog -Operations Set-OrganizationConfig) and add them back if they "
            "need EWS."
        )
    if given_back:
        client.warn(
            f"EWS was off (EwsEnabled $false); turning it on for this app also gave EWS back "
            f"to the {len(given_back)} app(s) already in EwsAllowedAppIDs "
            f"({CHANGE_OTHER_APPS} is true): {shown_ids(given_back)}. "
            "Remove any that should not have it (the stack output exchangeOnline.retire shows "
            "how the list is edited)."
        )


def _would_change_others(client: ExchangeAdminClient, seen: EwsState, app_id: str) -> ExchangeError:
    accept = f"`pulumi config set --path '{CHANGE_OTHER_APPS}' true`, then run `pulumi up` again"
    if not restricts_others(seen):
        others = let_in(seen, app_id)
        return ExchangeError(
            f"Exchange Online, tenant {client.tenant_id}: EWS is off for the organization "
            f"(EwsEnabled $false). Turning it on for this app also gives EWS back to the "
            f"{len(others)} app(s) already in EwsAllowedAppIDs: {shown_ids(others)}. Nothing "
            "was changed. Remove the ones that should not use EWS (Set-OrganizationConfig "
            "-EwsAllowedAppIDs with the others' client IDs), or accept it: " + accept
        )
    why = (
        "EwsEnabled is not configured ($null), so EwsAllowedAppIDs has no effect"
        if seen.enabled is None
        else "EwsEnabled is $true with no EwsAllowedAppIDs, which does not restrict by app"
    )
    listed = f" ({len(seen.ids)} app(s) listed already)" if seen.ids else ""
    return ExchangeError(
        f"Exchange Online, tenant {client.tenant_id}: {why}: every app may use EWS today. "
        f"Turning the allow list on for this app{listed} takes EWS from every app it does not "
        "list. Nothing was changed. First add the other apps that need EWS (Set-"
        "OrganizationConfig -EwsAllowedAppIDs with their client IDs; Entra's sign-in logs for "
        "Office 365 Exchange Online show which apps use it), or accept that only the listed "
        "apps keep EWS: " + accept
    )


def _busy(client: ExchangeAdminClient, verb: str) -> ExchangeError:
    return ExchangeError(
        f"Exchange Online, tenant {client.tenant_id}: EwsAllowedAppIDs changed under each of "
        f"{ATTEMPTS} attempts to {verb} this app (someone else is editing it); run again"
    )


def _outs(props: dict[str, Any], state: EwsState) -> dict[str, Any]:
    return {
        **{key: props[key] for key in (*REPLACE_KEYS, "changeOtherApps") if key in props},
        "listed": state.lists(props["appId"]),
        "ewsEnabled": state.enabled,
    }


class EwsAccessProvider(ExchangeProvider):
    """Create/update make it so, read reports it, delete takes only our entry away."""

    GUID_KEYS = ("tenantId", "appId")

    def create(self, props: dict[str, Any]) -> CreateResult:
        state = self._ensure(props)
        return CreateResult(f"{props['tenantId']}/{props['appId']}", _outs(props, state))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.connected(props) as client:
            return ReadResult(id_, _outs(props, read_state(client)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        drifted = olds.get("listed") is not True or olds.get("ewsEnabled") is not True
        return replacing(olds, news, REPLACE_KEYS, drifted)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(_outs(news, self._ensure(news)))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with self.connected(props) as client:
            client.patience.retrying(lambda: ensure_unlisted(client, props["appId"]))

    def _ensure(self, props: dict[str, Any]) -> EwsState:
        others = props.get("changeOtherApps") is True
        with self.connected(props) as client:
            return client.patience.retrying(lambda: ensure_listed(client, props["appId"], others))


class EwsAccess(ExchangeResource, module="mimecast", name="EwsAccess"):
    """This app in the tenant's EWS allow list, with EWS on (`listed`, `ewsEnabled` as read)."""

    PROVIDER = EwsAccessProvider
    OUTPUTS = ("listed", "ewsEnabled")
    listed: pulumi.Output[bool]
    ewsEnabled: pulumi.Output[bool | None]  # the output's own name
