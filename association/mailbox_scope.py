"""Mailbox scoping: Mimecast limited to one group's mailboxes with RBAC for Applications.

RBAC for Applications can narrow the app to a group's mailboxes, but only once the tenant-wide
Entra consent is gone: its grants add to the consent, they never narrow it.

Pure (no Pulumi): the `mailboxScope` setting parsed and checked, every problem named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from association.problems import Notice, Problem
from association.redaction import holds_key_material
from association.text import quoted, visible

MAX_GROUP: Final = 256


@dataclass(frozen=True)
class MailboxScope:
    """Limit the app to the mailboxes of one mail-enabled security group (RBAC for Applications)."""

    group: str
    """The group's identity as Exchange takes it, e.g. its address mimecast-sync@contoso.com."""
    enforce: bool = False
    """True: no tenant-wide consent (no AppRoleAssignment, no Exchange permission requested)."""


def parse_scope(
    value: Mapping[str, Any], key: str, project_dir: Path
) -> tuple[MailboxScope | None, list[Problem]]:
    """The `mailboxScope` setting: `{}` scopes nothing; else `group` and optional `enforce`."""
    if not value:
        return None, []
    problems = [
        Problem(
            "scope-unknown-field",
            f"{key}.{visible(str(name))}",
            f"{key} has {quoted(str(name))}, which is not `group` or `enforce`.",
        )
        for name in value
        if name not in ("group", "enforce")
    ]
    group, enforce = value.get("group"), value.get("enforce", False)
    if not isinstance(group, str):
        problems.append(
            Problem(
                "scope-group-missing",
                f"{key}.group",
                f"{key}.group is missing: give the mail-enabled security group whose mailboxes "
                f"Mimecast may read (`pulumi config set --path '{key}.group' "
                "mimecast-sync@contoso.com`).",
            )
        )
    if not isinstance(enforce, bool):
        problems.append(
            Problem("scope-enforce-type", f"{key}.enforce", f"{key}.enforce must be true or false.")
        )
    if problems or not isinstance(group, str) or not isinstance(enforce, bool):
        return None, problems
    return MailboxScope(group, enforce), []


def scope_problems(scope: MailboxScope | None, key: str) -> list[Problem]:
    """A group Exchange could take: short, on one line, never key material."""
    if scope is None:
        return []
    key = f"{key}.group"
    group = scope.group
    if holds_key_material(group) or not group.strip() or len(group) > MAX_GROUP:
        return [
            Problem(
                "scope-group-invalid",
                key,
                f"{key} is {quoted(group)}; give the mail-enabled security group's address or "
                f"name (at most {MAX_GROUP} characters).",
            )
        ]
    if visible(group) != group:
        return [
            Problem(
                "scope-group-invalid",
                key,
                f"{key} holds control or line-break characters ({quoted(group)}).",
            )
        ]
    return []


def scope_notices(scope: MailboxScope | None, key: str, managed: bool = False) -> list[Notice]:
    """Scoping without enforcement narrows nothing: say so, with the order that is safe
    (`managed`: `pulumi up` makes the scope itself, `exchange.manage`)."""
    if scope is None or scope.enforce:
        return []
    first = (
        "pulumi up makes the scope and its role assignment (exchange.manage); check"
        if managed
        else "Run exchangeOnline.scope, check"
    )
    return [
        Notice(
            "scope-not-enforced",
            key,
            f"{key}.group is set but not enforced: while the tenant-wide consent to "
            "full_access_as_app exists, the app still reaches every mailbox (RBAC grants add to "
            f"it). {first} with exchangeOnline.scopeCheck, then set "
            f"`pulumi config set --path '{key}.enforce' true` and `pulumi up`.",
        )
    ]
