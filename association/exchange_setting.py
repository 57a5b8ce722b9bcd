"""The `exchange` stack setting: whether `pulumi up` makes the Exchange Online side itself.

Off by default, so existing stacks and deploy identities (which may hold no Exchange right)
keep working; then the tenant's EWS allow list is the admin's job, and every run says so first.
The cloud is a name, not a URL: the token for Exchange goes only to the endpoint Microsoft runs
for that cloud, signed in at that cloud's authority (`exchange_online.endpoint.CLOUDS`), so no
stack file can send the deploy identity's token anywhere else.

Pure (no Pulumi).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from association.ews import EWS_SHUTDOWN
from association.exchange_online.endpoint import CLOUDS, DEFAULT_CLOUD, ExchangeCloud
from association.problems import Notice, Problem
from association.text import quoted, visible

FIELDS: Final = ("manage", "cloud", "changeOtherApps")


@dataclass(frozen=True)
class ExchangeSetting:
    """What the stack does in Exchange Online, and in which Microsoft cloud."""

    manage: bool = False
    """True: declare the EWS allow-list entry and, with `mailboxScope`, the RBAC objects."""
    cloud: ExchangeCloud = DEFAULT_CLOUD
    change_other_apps: bool = False
    """True: `pulumi up` may add this app where that changes EWS for other apps: starting the
    allow list where EWS is not restricted by app (those not listed lose it), or switching EWS
    back on (those listed get it again). False: it refuses and writes nothing."""


def parse_exchange(
    value: Mapping[str, Any], key: str, project_dir: Path
) -> tuple[ExchangeSetting, list[Problem]]:
    """`{}` is the default (not managed, global cloud); every wrong field is one problem."""
    problems = [
        Problem(
            "exchange-unknown-field",
            f"{key}.{visible(str(name))}",
            f"{key} has {quoted(str(name))}, which is not `manage`, `cloud` or `changeOtherApps`.",
        )
        for name in value
        if name not in FIELDS
    ]
    manage, cloud = value.get("manage", False), value.get("cloud", DEFAULT_CLOUD.name)
    others = value.get("changeOtherApps", False)
    flags = (
        ("manage", manage, "exchange-manage-type"),
        ("changeOtherApps", others, "exchange-change-other-apps-type"),
    )
    for name, flag, code in flags:
        if not isinstance(flag, bool):
            problems.append(
                Problem(
                    code,
                    f"{key}.{name}",
                    f"{key}.{name} must be true or false (`pulumi config set --path "
                    f"'{key}.{name}' true`).",
                )
            )
    if not (isinstance(cloud, str) and cloud in CLOUDS):
        shown = quoted(cloud) if isinstance(cloud, str) else "not a name"
        problems.append(
            Problem(
                "exchange-cloud-unknown",
                f"{key}.cloud",
                f"{key}.cloud is {shown}; give one of {', '.join(CLOUDS)} (the names the "
                "azuread provider's `environment` uses), e.g. `pulumi config set --path "
                f"'{key}.cloud' usgovernment`.",
            )
        )
    if problems:
        return ExchangeSetting(), problems
    return ExchangeSetting(manage, CLOUDS[cloud], others), []


def exchange_notices(setting: ExchangeSetting, key: str, now: datetime) -> list[Notice]:
    """Until EWS's shutdown, an unmanaged tenant blocks Mimecast until someone allow-lists
    the app: said first, with both ways to do it. `changeOtherApps` does nothing unmanaged."""
    unused: list[Notice] = []
    if setting.change_other_apps and not setting.manage:
        unused.append(
            Notice(
                "exchange-change-other-apps-unused",
                f"{key}.changeOtherApps",
                f"{key}.changeOtherApps is true but {key}.manage is not: pulumi up writes nothing "
                "in Exchange Online, so it has no effect (the exchangeOnline.ewsAllowList "
                "output asks the same question of whoever pastes it).",
            )
        )
    if setting.manage or now >= EWS_SHUTDOWN:
        return unused
    return [
        Notice(
            "ews-allow-list-manual",
            key,
            "Mimecast cannot sync until this app's client ID is in the tenant's EWS allow list "
            "(EwsAllowedAppIDs, with EwsEnabled $true): Exchange Online lets no other app use "
            "EWS. Either let pulumi up do it, `pulumi config set --path "
            f"'{key}.manage' true` (the deploy identity needs Exchange rights: "
            "docs/exchange.md), or paste the stack output exchangeOnline.ewsAllowList "
            "into Exchange Online PowerShell (`pulumi stack output exchangeOnline --json | "
            "jq -r .ewsAllowList`).",
        ),
        *unused,
    ]
