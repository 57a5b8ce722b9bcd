"""The deploy's guard against a new client ID: a stack whose application was deleted outside
Pulumi is refused, since `up --refresh` would create another one that Mimecast does not know.

Stdlib only, like fleet.py (`fleet.py new-application`), which uses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

APPLICATION = "azuread:index/application:Application"
CREATES = frozenset({"create", "replace", "create-replacement"})
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
"""A copy of association.identifiers.is_guid's rule (tests pin the two together)."""


def deployed_application(outputs: str) -> str | None:
    """The application object ID the stack's last deploy exported, if it has one."""
    try:
        document = json.loads(outputs or "{}")
    except ValueError:
        return None
    value = document.get("applicationObjectId") if isinstance(document, dict) else None
    return value.lower() if isinstance(value, str) and GUID.fullmatch(value) else None


def new_application(
    stack: str, outputs: str, preview: str, allowed: Sequence[str], status: int = 0
) -> str | None:
    """Why `up` must not run: the stack has an application, yet the preview (`--refresh
    --json`, exit `status`) creates one; the refresh dropped it from state, so it was deleted
    outside Pulumi and `up` would give Mimecast a client ID it does not know. A preview that
    failed or cannot be read refuses too: the check fails closed."""
    deployed = deployed_application(outputs)
    if deployed is None or stack in allowed:
        return None
    try:
        document = json.loads(preview)
        steps = document.get("steps") if isinstance(document, dict) else None
    except ValueError:
        steps = None
    if status or not isinstance(steps, list) or not steps:
        return (
            f"refused: the check before the deploy (`pulumi preview --refresh --json`, exit "
            f"{status}) did not give its steps, so whether the application {deployed} still "
            "exists is unknown; its diagnostics are in this log. Fix that and deploy again (or "
            f"FLEET_ALLOW_NEW_APPLICATION={stack} to deploy without the check)."
        )
    creates = any(
        isinstance(step, dict)
        and step.get("op") in CREATES
        and _type(step.get("urn")) == APPLICATION
        for step in steps
    )
    if not creates:
        return None
    return (
        f"refused: the application {deployed} of the last deploy was deleted outside Pulumi, "
        "and pulumi up would create a new one with a new client ID that Mimecast does not "
        "know. Restore it from Entra ID's deleted applications within 30 days (Entra admin "
        f"center > App registrations > Deleted applications, or `az rest --method POST --url "
        f"https://graph.microsoft.com/v1.0/directory/deletedItems/{deployed}/restore`), then "
        "deploy again. To accept a new application instead, run the deploy with "
        f"FLEET_ALLOW_NEW_APPLICATION={stack} and point Mimecast at the new client ID."
    )


def _type(urn: object) -> str:
    """A URN's own type: `urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME` -> TYPE."""
    parts = str(urn).split("::")
    return parts[-2].split("$")[-1] if len(parts) >= 3 else ""
