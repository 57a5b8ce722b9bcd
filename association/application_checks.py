"""The application's own settings checked: tenant, display name, owners, warning period.

Pure (no Pulumi); each check takes the value and its setting's key, and returns every problem
with its fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from association.identifiers import DEFAULT_DISPLAY_NAME, NIL_GUID, TENANT_KEY, is_guid
from association.problems import Problem
from association.redaction import holds_key_material
from association.text import quoted, visible

MAX_DISPLAY_NAME: Final = 256
"""Characters in an application's displayName (Microsoft Graph, application resource)."""
MAX_OWNERS: Final = 100
"""Owners of one application that Entra ID allows."""
MAX_EXPIRY_WARNING_DAYS: Final = 3650
TENANT_FIX: Final = (
    f"Set it with `pulumi config set {TENANT_KEY} <GUID>` (Entra admin center > Overview > "
    "Tenant ID)."
)


def tenant_problems(tenant_id: str, key: str) -> list[Problem]:
    """A real tenant's ID: set, a GUID, not the example's placeholder."""
    if not tenant_id:
        return [Problem("tenant-missing", key, f"{key} is not set. {TENANT_FIX}")]
    if not is_guid(tenant_id):
        return [
            Problem(
                "tenant-invalid",
                key,
                f"{key} is {quoted(tenant_id)}, not a tenant ID. {TENANT_FIX}",
            )
        ]
    if tenant_id == NIL_GUID:
        return [
            Problem(
                "tenant-placeholder",
                key,
                f"{key} is the nil GUID {NIL_GUID}, a placeholder nobody can sign in to. "
                f"{TENANT_FIX}",
            )
        ]
    return []


def display_name_problems(display_name: str, key: str) -> list[Problem]:
    """A name Entra ID takes and a report can show: on one line, not too long, no key."""
    if holds_key_material(display_name):
        return [Problem("display-name-invalid", key, f"{key} is {quoted(display_name)}.")]
    if not display_name.strip():
        return [
            Problem(
                "display-name-empty",
                key,
                f"{key} is empty. Remove it to use {DEFAULT_DISPLAY_NAME!r} or give a name.",
            )
        ]
    problems = []
    if len(display_name) > MAX_DISPLAY_NAME:
        problems.append(
            Problem(
                "display-name-too-long",
                key,
                f"{key} has {len(display_name)} characters; Entra ID allows at most "
                f"{MAX_DISPLAY_NAME}. Shorten it.",
            )
        )
    if visible(display_name) != display_name:
        problems.append(
            Problem(
                "display-name-invalid",
                key,
                f"{key} holds control or line-break characters ({quoted(display_name)}). "
                "Give a name on one line of plain text.",
            )
        )
    return problems


def owner_problems(owners: Sequence[str], key: str) -> list[Problem]:
    """Object IDs, each once, no more than Entra ID allows."""
    if len(owners) > MAX_OWNERS:
        return [
            Problem(
                "owners-too-many",
                key,
                f"{key} lists {len(owners)} owners; Entra ID allows at most {MAX_OWNERS} per "
                "application. List the people and pipeline identities who must manage it.",
            )
        ]
    problems = [
        Problem(
            "owner-invalid",
            f"{key}[{index}]",
            f"{key}[{index}] is {quoted(owner)}, not an object ID (GUID). List the owners' "
            "object IDs (Entra admin center > Users or Enterprise applications).",
        )
        for index, owner in enumerate(owners)
        if not is_guid(owner)
    ]
    lowered = [owner.lower() for owner in owners]
    problems.extend(
        Problem(
            "owner-duplicate",
            f"{key}[{index}]",
            f"{key}[{index}] lists {owner} again. List each owner once.",
        )
        for index, owner in enumerate(owners)
        if is_guid(owner) and lowered.index(owner.lower()) < index
    )
    return problems


def expiry_days_problems(days: int, key: str) -> list[Problem]:
    """A warning period that date arithmetic can use."""
    if 0 <= days <= MAX_EXPIRY_WARNING_DAYS:
        return []
    return [
        Problem(
            "expiry-warning-days-range",
            key,
            f"{key} is {days}; it must be a number of days from 0 to {MAX_EXPIRY_WARNING_DAYS}.",
        )
    ]
