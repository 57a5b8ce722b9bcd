"""One tenant, bootstrapped: read, grant what is missing, find a hand-made app, write the stack.

Preconditions first (the APIs are there; what the apps hold; who holds full_access_as_app),
then the writes, each made only where a read said it is missing, then the stack file. The
result is one `Outcome`: its status and the one line the command prints for it. A tenant's
failure is its own: any Graph or Exchange error ends that tenant, named, never the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.identifiers import EXCHANGE_ONLINE_DISPLAY_NAME, TENANT_KEY, setting_key
from association_tools.audit.graph import GraphClient, GraphError
from association_tools.audit.transport import Budget, Endpoint
from association_tools.bootstrap.directory import TenantView, read_view
from association_tools.bootstrap.discover import Found, HandMade, find_hand_made
from association_tools.bootstrap.exchange_rights import ensure_role_groups
from association_tools.bootstrap.grants import (
    Written,
    ensure_grants,
    ensure_owner,
    ensure_principals,
    missing_grants,
)
from association_tools.bootstrap.needs import EXCHANGE_NEEDS, NEEDS, AppRole, Role
from association_tools.bootstrap.stack_text import merge, render
from association_tools.bootstrap.tenants import TenantEntry
from association_tools.stack_files import StackFileError

Status = Literal["ready", "needs-consent", "choose-app", "error"]
STATUSES: Final[tuple[Status, ...]] = ("error", "needs-consent", "choose-app", "ready")
"""Worst first: the order lines are printed in."""


@dataclass(frozen=True)
class Context:
    """What every tenant's bootstrap shares."""

    endpoint: Endpoint
    graph_token: Callable[[str], str]
    apps: Mapping[Role, str]
    owners: tuple[str, ...]
    """Owners besides the deploy app's service principal (`--owner`)."""
    project_dir: Path
    dry_run: bool
    tenant_seconds: float
    exchange: Callable[[str], ExchangeAdminClient] | None = None
    """Tenant ID -> an Exchange admin client, or None: no Exchange rights are given."""
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Outcome:
    stack: str
    tenant_id: str
    status: Status
    detail: str
    changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    stack_file: str = ""
    """What became of Pulumi.<stack>.yaml: written, updated, unchanged, or (dry run) would be."""


def bootstrap_tenant(entry: TenantEntry, context: Context) -> Outcome:
    """The tenant's outcome; every failure is the tenant's own."""
    client = GraphClient(
        context.endpoint,
        lambda: context.graph_token(entry.tenant_id),
        budget=Budget(context.tenant_seconds),
        sleep=context.sleep,
    )
    try:
        return _bootstrap(entry, context, client)
    except GraphError as error:
        return Outcome(entry.stack, entry.tenant_id, "error", f"Graph: {error}")
    except ExchangeError as error:
        return Outcome(entry.stack, entry.tenant_id, "error", f"{error} (Exchange Administrator)")
    except StackFileError as error:
        return Outcome(entry.stack, entry.tenant_id, "error", str(error))


def _bootstrap(entry: TenantEntry, context: Context, client: GraphClient) -> Outcome:
    view = read_view(client, context.apps)
    if view.graph is None or view.exchange is None:
        api = "Microsoft Graph" if view.graph is None else EXCHANGE_ONLINE_DISPLAY_NAME
        return Outcome(
            entry.stack,
            entry.tenant_id,
            "error",
            f"the tenant has no service principal for {api}: Mimecast's server connection "
            "needs Exchange Online; check the tenant's licences",
        )
    missing = missing_grants(view, _needs(entry, context.apps))
    written = Written()
    if context.dry_run:
        written.principals = {r: p.id for r, p in view.pipeline.items() if p is not None}
        written.changes += [
            f"would create the {r} app's service principal"
            for r in context.apps
            if r not in written.principals
        ]
        written.changes += [
            f"would grant {need.api} / {need.name} to the {role} app"
            for role, needs in missing.items()
            for need in needs
        ]
    else:
        ensure_principals(client, view, context.apps, written)
        ensure_grants(client, view, missing, written)
    found = find_hand_made(client, view, entry.thumbprints)
    adoption = found.candidates[0] if len(found.candidates) == 1 else None
    deploy = written.principals.get("deploy")
    if adoption is not None and deploy is not None:
        _own(client, adoption, deploy, context.dry_run, written)
    if entry.exchange and context.exchange is not None:
        written.changes += ensure_role_groups(
            context.exchange(entry.tenant_id), context.apps, written.principals, context.dry_run
        )
    outcome = _verdict(entry, context, view, written, found)
    if len(found.candidates) > 1 or deploy is None:
        return outcome  # no stack file: it would adopt nothing, or name no owner
    return _with_stack_file(outcome, entry, context, deploy, adoption)


def _needs(entry: TenantEntry, apps: Mapping[Role, str]) -> dict[Role, tuple[AppRole, ...]]:
    return {role: NEEDS[role] + (EXCHANGE_NEEDS[role] if entry.exchange else ()) for role in apps}


def _own(
    client: GraphClient, adoption: HandMade, deploy: str, dry_run: bool, written: Written
) -> None:
    if dry_run:
        if deploy not in adoption.application_owners | adoption.service_principal_owners:
            written.changes.append("would make the deploy app an owner of the adopted app")
        return
    ensure_owner(
        client,
        deploy,
        (adoption.application_object_id, adoption.application_owners),
        (adoption.service_principal_object_id, adoption.service_principal_owners),
        written,
    )


def _verdict(
    entry: TenantEntry, context: Context, view: TenantView, written: Written, found: Found
) -> Outcome:
    status: Status = "ready"
    if written.refused:
        status = "needs-consent"
        detail = (
            "a Privileged Role Administrator (or Global Administrator) must grant "
            f"{'; '.join(written.refused)}: run the bootstrap again signed in as one"
        )
    elif len(found.candidates) > 1:
        status = "choose-app"
        apps = ", ".join(f"{c.display_name!r} ({c.app_id})" for c in found.candidates)
        detail = (
            f"{len(found.candidates)} apps made here hold full_access_as_app ({apps}): write the "
            "adopt block for the one Mimecast uses (docs/adoption.md); no stack file written"
        )
    elif "deploy" not in written.principals:
        status, detail = "ready", "would write the stack file once the deploy app is consented"
    else:
        adopting = found.candidates[0] if found.candidates else None
        detail = (
            f"adopting {adopting.display_name!r} ({adopting.app_id}): {adopting.why}"
            if adopting
            else "a new app"
        )
    return Outcome(
        entry.stack, entry.tenant_id, status, detail, tuple(written.changes), found.notes
    )


def _with_stack_file(
    outcome: Outcome, entry: TenantEntry, context: Context, deploy: str, adoption: HandMade | None
) -> Outcome:
    config: dict[str, object] = {
        TENANT_KEY: entry.tenant_id,
        setting_key("certificates"): list(entry.certificates),
        setting_key("owners"): list(dict.fromkeys((deploy, *context.owners))),
    }
    if entry.exchange:
        config[setting_key("exchange")] = {"manage": True}
    if adoption is not None:
        config[setting_key("adopt")] = {
            "applicationObjectId": adoption.application_object_id,
            "servicePrincipalObjectId": adoption.service_principal_object_id,
            "appRoleAssignmentId": adoption.assignment_id,
            **({"keyIds": dict(adoption.key_ids)} if adoption.key_ids else {}),
        }
    path = context.project_dir / f"Pulumi.{entry.stack}.yaml"
    if not path.exists():
        if not context.dry_run:
            path.write_text(render(config), encoding="utf-8")
        return replace(outcome, stack_file="would write" if context.dry_run else "written")
    text = path.read_text(encoding="utf-8")
    merged = merge(text, config, path.name)
    notes = tuple(f"{path.name} has another {key}: left as written" for key in merged.differs)
    if merged.differs and TENANT_KEY in merged.differs:
        return replace(
            outcome, status="error", detail=f"{path.name} is for another tenant: {notes[0]}"
        )
    if merged.text is None:
        return replace(outcome, stack_file="unchanged", notes=outcome.notes + notes)
    if not context.dry_run:
        path.write_text(merged.text, encoding="utf-8")
    what = f"{'would add' if context.dry_run else 'added'} {', '.join(merged.added)}"
    return replace(outcome, stack_file=what, notes=outcome.notes + notes)
