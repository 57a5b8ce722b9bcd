"""The deploy's guard against a new client ID: a stack whose `up --refresh` would give Mimecast
another application than the one it uses is refused, each case with its own reason and fix.

Read from the `pulumi preview --refresh --json` document (pulumi/pulumi pkg/backend/display
json.go, ShowPreviewDigest; a failed preview prints it too, with the error in `diagnostics`):
- the application was deleted outside Pulumi: the refresh drops it from state and the program
  creates another (a `create` step); or the refresh fails, since an ApplicationCertificate's
  Read has no not-found case (terraform-provider-azuread applicationCertificateResourceRead:
  `Retrieving Application (Application: "<id>")` with Graph's 404), and an adopted one's import
  fails (pulumi/pulumi step.go, ImportStep.Apply: `resource '/applications/<id>' does not
  exist`): restore it;
- another application is adopted in its place: a changed `adopt.applicationObjectId` is an
  import replacement, shown as the logical `replace` step (or `import-replacement` with
  `--show-replacement-steps`) whose new state's `importID` names the other object;
- any other replacement of the application, with what forces it (`replaceReasons`).

Stdlib only, like fleet.py (`fleet.py new-application`), which uses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

APPLICATION = "azuread:index/application:Application"
REPLACES = frozenset({"replace", "create-replacement", "import-replacement"})
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
"""A copy of association.identifiers.is_guid's rule (tests pin the two together)."""
NOT_FOUND = re.compile(r"does not exist|Request_ResourceNotFound|\b404\b")
"""What a read of an object that is gone answers: Graph's 404 (`Request_ResourceNotFound`), as
the provider passes it on, or the engine's failed import."""
OVERRIDE = "FLEET_ALLOW_NEW_APPLICATION"


def deployed_application(outputs: str) -> str | None:
    """The application object ID the stack's last deploy exported, if it has one."""
    return _output(outputs, "applicationObjectId")


def new_application(
    stack: str, outputs: str, preview: str, allowed: Sequence[str], status: int = 0
) -> str | None:
    """Why `up` must not run: the stack has an application, and the preview (`--refresh
    --json`, exit `status`) shows it gone, adopted away or replaced, any of which gives Mimecast
    a client ID it does not know. A preview that failed or cannot be read for another reason
    refuses too: the check fails closed."""
    deployed = deployed_application(outputs)
    if deployed is None or stack in allowed:
        return None
    document = _document(preview)
    steps = [s for s in _list(document, "steps") if isinstance(s, dict)]
    if _gone(deployed, _list(document, "diagnostics")) or _ops(steps, {"create"}):
        return _deleted(stack, deployed, _output(outputs, "servicePrincipalObjectId"))
    replaced = _ops(steps, REPLACES)
    imports = map(_imported, _ops(steps, REPLACES | {"import"}))
    adopted = next((i for i in imports if i and i != deployed), None)
    if adopted is not None:
        return (
            f"refused: the preview adopts the application {adopted} in place of {deployed}, "
            "the application of the last deploy whose client ID Mimecast uses "
            "(mimecast-association:adopt.applicationObjectId changed, or adopt was added to a "
            f"stack that made its own application). If that is not meant, set adopt back to "
            f"{deployed}'s IDs. If it is, point Mimecast's server connection at {adopted}'s "
            f"client ID and deploy with {OVERRIDE}={stack}; the application of the last deploy "
            "stays in the tenant only if that deploy had it protected or adopted "
            "(retain_on_delete: docs/adoption.md#what-the-design-relies-on)."
        )
    if replaced:
        reasons = sorted({r for step in replaced for r in _reasons(step)})
        forced = (
            f"a change of {', '.join(reasons)} forces it"
            if reasons
            else "the preview names no property that forces it"
        )
        return (
            f"refused: pulumi up would replace the application {deployed} of the last deploy: "
            "delete it and create another, with a new client ID that Mimecast does not know. "
            f"Nothing was deleted outside Pulumi; {forced} (the preview's diff of "
            "azuread:index/application:Application shows it). Undo that change; to accept a "
            f"new application, deploy with {OVERRIDE}={stack} and point Mimecast at the new "
            "client ID."
        )
    if status or not steps:
        return (
            f"refused: the check before the deploy (`pulumi preview --refresh --json`, exit "
            f"{status}) did not give its steps, so whether the application {deployed} still "
            "exists is unknown; its diagnostics are in this log. Fix that and deploy again (or "
            f"{OVERRIDE}={stack} to deploy without the check)."
        )
    return None


def _deleted(stack: str, application: str, service_principal: str | None) -> str:
    restore = "https://graph.microsoft.com/v1.0/directory/deletedItems"
    principal = (
        f", and its service principal {service_principal} if Deleted items has it too "
        f"(`az rest --method POST --url {restore}/{service_principal}/restore`)"
        if service_principal
        else ""
    )
    return (
        f"refused: the application {application} of the last deploy was deleted outside Pulumi, "
        "and pulumi up would create a new one with a new client ID that Mimecast does not "
        "know (or fail on it). Restore it from Entra ID's deleted applications within 30 days "
        "(Entra admin center > App registrations > Deleted applications, or `az rest --method "
        f"POST --url {restore}/{application}/restore`){principal}, then deploy again. To "
        f"accept a new application instead, run the deploy with {OVERRIDE}={stack} and point "
        "Mimecast at the new client ID."
    )


def _gone(application: str, diagnostics: list[Any]) -> bool:
    """An error that a read of the deployed application found it gone."""
    return any(
        isinstance(d, dict)
        and d.get("severity") == "error"
        and application in str(d.get("message", "")).lower()
        and NOT_FOUND.search(str(d.get("message", ""))) is not None
        for d in diagnostics
    )


def _ops(steps: list[dict[str, Any]], ops: set[str] | frozenset[str]) -> list[dict[str, Any]]:
    """The application's steps of these ops."""
    return [s for s in steps if s.get("op") in ops and _type(s.get("urn")) == APPLICATION]


def _imported(step: dict[str, Any]) -> str | None:
    """The object a step's new state imports (`importID`, `/applications/<id>`), if any."""
    state = step.get("newState")
    value = state.get("importID") if isinstance(state, dict) else None
    match = GUID.search(value) if isinstance(value, str) else None
    return match.group(0).lower() if match else None


def _reasons(step: dict[str, Any]) -> list[str]:
    """The properties that force a replacement: `replaceReasons`, or the detailed diff's
    `*-replace` entries."""
    reasons = [str(r) for r in step.get("replaceReasons") or ()]
    diff = step.get("detailedDiff")
    if isinstance(diff, dict):
        reasons += [
            str(key)
            for key, entry in diff.items()
            if isinstance(entry, dict) and str(entry.get("kind", "")).endswith("-replace")
        ]
    return reasons


def _document(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    return value if isinstance(value, list) else []


def _output(outputs: str, name: str) -> str | None:
    """A GUID output of the stack's last deploy, in lower case, if it has one."""
    document = _document(outputs or "{}")
    value = document.get(name)
    return value.lower() if isinstance(value, str) and GUID.fullmatch(value) else None


def _type(urn: object) -> str:
    """A URN's own type: `urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME` -> TYPE."""
    parts = str(urn).split("::")
    return parts[-2].split("$")[-1] if len(parts) >= 3 else ""
