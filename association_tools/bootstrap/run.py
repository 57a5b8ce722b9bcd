"""One tenant, bootstrapped: read, grant what is missing, find a hand-made app, write the stack.

Preconditions first (the APIs are there; what the apps hold; who holds full_access_as_app),
then the writes, each made only where a read said it is missing, then the stack file. The
result is one `Outcome`: its status and the one line the command prints for it. A tenant's
failure is its own: any Graph or Exchange error ends that tenant, named, never the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.identifiers import EXCHANGE_ONLINE_DISPLAY_NAME, TENANT_KEY, is_guid, setting_key
from association.text import visible
from association_tools.audit.graph import GraphClient, GraphError
from association_tools.audit.transport import Budget, Endpoint
from association_tools.bootstrap.directory import read_view
from association_tools.bootstrap.discover import Found, HandMade, Owned, find_hand_made, read_owned
from association_tools.bootstrap.exchange_rights import ensure_role_groups
from association_tools.bootstrap.grants import (
    Written,
    ensure_grants,
    ensure_owners,
    ensure_principals,
    missing_grants,
)
from association_tools.bootstrap.needs import EXCHANGE_NEEDS, NEEDS, USER_READ_ALL, AppRole, Role
from association_tools.bootstrap.stack_text import merge, read_stack_file, render, write_stack_file
from association_tools.bootstrap.tenants import TenantEntry
from association_tools.project import ConfigValue
from association_tools.stack_files import StackFileError, parse_stack_file

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
        existing = read_stack_file(context.project_dir, entry.stack)
        config = parse_stack_file(existing, entry.stack).config if existing is not None else {}
        conflict = _tenant_conflict(entry, config)
        if conflict:
            return Outcome(entry.stack, entry.tenant_id, "error", conflict)
        return _bootstrap(entry, context, client, existing, config)
    except GraphError as error:
        return Outcome(entry.stack, entry.tenant_id, "error", f"Graph: {error}{_fix(error)}")
    except ExchangeError as error:
        return Outcome(entry.stack, entry.tenant_id, "error", f"{error} (Exchange Administrator)")
    except StackFileError as error:
        return Outcome(entry.stack, entry.tenant_id, "error", str(error))


def _tenant_conflict(entry: TenantEntry, config: Mapping[str, ConfigValue]) -> str:
    """Before anything is asked of the tenant: a stack file of another tenant (a mistyped ID
    would grant in whichever tenant it names)."""
    written = config.get(TENANT_KEY)
    if written is None or written.text.lower() == entry.tenant_id:
        return ""
    return (
        f"Pulumi.{entry.stack}.yaml is for tenant {visible(written.text)}, the tenants file says "
        f"{entry.tenant_id}: nothing was done in either. Fix the tenants file, or the stack file "
        "if it is the one that is wrong"
    )


def _fix(error: GraphError) -> str:
    """What to do about a Graph error that does not say it itself."""
    if error.status is None:
        return " (check the network and --graph-endpoint; then run again with --resume)"
    if error.status == 403:
        return " (the administrator lacks a role for it: docs/bootstrap.md, What each call needs)"
    return ""


def _bootstrap(
    entry: TenantEntry,
    context: Context,
    client: GraphClient,
    existing: str | None,
    config: Mapping[str, ConfigValue],
) -> Outcome:
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
    missing = missing_grants(view, _needs(entry, context))
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
    declared = _declared_adoption(config)
    if declared is not None:  # the file adopts already: its objects, not a new search
        found = Found(())
        owned: Owned | None = read_owned(client, *declared)
    else:
        found = find_hand_made(client, view, entry.thumbprints)
        owned = found.candidates[0].owned if len(found.candidates) == 1 else None
    deploy = written.principals.get("deploy")
    if owned is not None and deploy is not None and not found.undecided:
        owners = list(dict.fromkeys((deploy, *context.owners)))
        ensure_owners(client, owners, owned, context.dry_run, written)
    if entry.exchange and context.exchange is not None:
        written.changes += ensure_role_groups(
            context.exchange(entry.tenant_id), context.apps, written.principals, context.dry_run
        )
    outcome = _verdict(entry, context.dry_run, written, found, declared is not None)
    if outcome.status == "choose-app" or deploy is None:
        return outcome  # no stack file: it would adopt nothing, or name no owner
    adoption = found.candidates[0] if len(found.candidates) == 1 else None
    return _with_stack_file(outcome, entry, context, deploy, adoption, existing)


def _needs(entry: TenantEntry, context: Context) -> dict[Role, tuple[AppRole, ...]]:
    """Each app's permissions here: Exchange's where the stack manages it; User.Read.All for
    the deploy app where `--owner` may name people (the provider reads owners that are users:
    docs/pipelines.md step 1)."""
    needs = {
        role: NEEDS[role] + (EXCHANGE_NEEDS[role] if entry.exchange else ())
        for role in context.apps
    }
    if context.owners:
        needs["deploy"] += (USER_READ_ALL,)
    return needs


def _declared_adoption(config: Mapping[str, ConfigValue]) -> tuple[str, str] | None:
    """The application and service principal an existing stack file adopts, if it does."""
    value = config.get(setting_key("adopt"))
    if value is None or not value.structured:
        return None
    adopt = json.loads(value.text)
    if not isinstance(adopt, dict):
        return None  # preflight names what is wrong with it
    ids = [
        str(adopt.get(key, "")).rpartition("/")[2].lower()  # a GUID, or /applications/<GUID>
        for key in ("applicationObjectId", "servicePrincipalObjectId")
    ]
    return (ids[0], ids[1]) if all(is_guid(i) for i in ids) else None


def _verdict(
    entry: TenantEntry, dry_run: bool, written: Written, found: Found, declared: bool
) -> Outcome:
    status: Status = "ready"
    if written.refused:
        status = "needs-consent"
        who = (
            "a Privileged Role Administrator (or Global Administrator)"
            if any(need.graph for _, need in written.refused)
            else "a Cloud Application Administrator (or higher)"
        )
        grants = "; ".join(
            f"{need.api} / {need.name} to the {role} app" for role, need in written.refused
        )
        detail = f"{who} must grant {grants}: run the bootstrap again signed in as one"
    elif len(found.candidates) > 1 or found.undecided:
        status = "choose-app"
        apps = ", ".join(f"{c.display_name!r} ({c.app_id})" for c in found.candidates)
        detail = (
            f"{len(found.candidates) or 'many'} apps made here hold full_access_as_app"
            f"{f' ({apps})' if apps else ''}: write the adopt block for the one Mimecast uses "
            "(docs/adoption.md); no stack file written"
        )
    else:
        adopting = found.candidates[0] if found.candidates else None
        verb = "would adopt" if dry_run else "adopting"
        detail = (
            f"{verb} {adopting.display_name!r} ({adopting.app_id}): {adopting.why}"
            if adopting
            else "adopting what the stack file names"
            if declared
            else "a new app"
        )
        if "deploy" not in written.principals:
            detail += "; the stack file once the deploy app's service principal exists"
    return Outcome(
        entry.stack, entry.tenant_id, status, detail, tuple(written.changes), found.notes
    )


def _with_stack_file(
    outcome: Outcome,
    entry: TenantEntry,
    context: Context,
    deploy: str,
    adoption: HandMade | None,
    existing: str | None,
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
            "applicationObjectId": adoption.owned.application,
            "servicePrincipalObjectId": adoption.owned.service_principal,
            "appRoleAssignmentId": adoption.assignment_id,
            **({"keyIds": dict(adoption.key_ids)} if adoption.key_ids else {}),
        }
    name = f"Pulumi.{entry.stack}.yaml"
    if existing is None:
        if not context.dry_run:
            write_stack_file(context.project_dir, entry.stack, render(config))
        return replace(outcome, stack_file="would write" if context.dry_run else "written")
    merged = merge(existing, config, name)
    notes = tuple(f"{name} has another {key}: left as written" for key in merged.differs)
    if merged.text is None:
        return replace(outcome, stack_file="unchanged", notes=outcome.notes + notes)
    if not context.dry_run:
        write_stack_file(context.project_dir, entry.stack, merged.text)
    what = f"{'would add' if context.dry_run else 'added'} {', '.join(merged.added)}"
    return replace(outcome, stack_file=what, notes=outcome.notes + notes)
