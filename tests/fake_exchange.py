"""A fake Exchange Online admin endpoint on 127.0.0.1, for the Exchange side's tests.

It answers `POST /adminapi/beta/{tenant}/InvokeCommand` as the ExchangeOnlineManagement
module's REST endpoint does in the tools that call it (CIPP-API New-ExoRequest.ps1,
M365Permissions new-ExOQuery.ps1, ExoHelper Invoke-ExoCommand.ps1): `{"value": [...]}` with
`@odata.nextLink` pages (`$skiptoken`), errors as `{error: {code, message, details:
[{message: "code|type|text"}], innererror}}`. The cmdlets the association runs work on one
in-memory organization per tenant, and the read-only ones the audit runs
(Get-ApplicationAccessPolicy, Get-RoleGroup, Get-ManagementRoleAssignment without a role),
and the role-group cmdlets the bootstrap runs (New-RoleGroup, Add-RoleGroupMember, whose
`-Member` must name an existing service principal pointer, Get-RoleGroup -Identity).

As strict as the docs, never more lenient: a parameter a cmdlet does not take is refused;
`EwsAllowedAppIDs` comes back only with `-RetrieveEwsOperationAccessPolicy` (without it, empty:
Set-OrganizationConfig.md); a Set-/Remove- answers 204 with no body (ExoHelper handles
`NoContent`) and a write that changes nothing answers only `@adminapi.warnings`;
`New-ManagementRoleAssignment -App` must name an existing service principal, by the ObjectId
its reference asks for (the conceptual page also allows the AppId or display name), and the
assignment names it by that ObjectId; reads may lag writes (`stale_reads`).
Knobs: how the allow list comes back (one string or a list), an error status per cmdlet,
throttling with Retry-After, an oversized, invalid, redirecting or trickling answer, latency
per HTTP request, and hooks that edit the organization right after a read or a write (a
concurrent admin). Served as the fake Graph is (`fakegraph.serve_handler`).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

from fakegraph import QuietHandler, serve_handler

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.exchange.fake"
PATH = re.compile(
    r"^/adminapi/beta/(?P<tenant>[^/?]+)/InvokeCommand(?:\?\$skiptoken=(?P<skip>\d+))?$"
)
PARAMETERS: dict[str, frozenset[str]] = {
    "Get-OrganizationConfig": frozenset({"RetrieveEwsOperationAccessPolicy"}),
    "Set-OrganizationConfig": frozenset({"EwsEnabled", "EwsAllowedAppIDs"}),
    "Get-ServicePrincipal": frozenset({"Identity"}),
    "New-ServicePrincipal": frozenset({"AppId", "ObjectId", "DisplayName"}),
    "Remove-ServicePrincipal": frozenset({"Identity"}),
    "Get-DistributionGroup": frozenset({"Identity"}),
    "Get-ApplicationAccessPolicy": frozenset(),
    "Get-RoleGroup": frozenset({"Identity"}),
    "New-RoleGroup": frozenset({"Name", "Roles", "Description"}),
    "Add-RoleGroupMember": frozenset({"Identity", "Member", "BypassSecurityGroupManagerCheck"}),
    "Get-ManagementScope": frozenset({"Identity"}),
    "New-ManagementScope": frozenset({"Name", "RecipientRestrictionFilter"}),
    "Set-ManagementScope": frozenset({"Identity", "RecipientRestrictionFilter"}),
    "Remove-ManagementScope": frozenset({"Identity"}),
    "Get-ManagementRoleAssignment": frozenset({"Role"}),
    "New-ManagementRoleAssignment": frozenset({"Name", "App", "Role", "CustomResourceScope"}),
    "Set-ManagementRoleAssignment": frozenset({"Identity", "CustomResourceScope"}),
    "Remove-ManagementRoleAssignment": frozenset({"Identity"}),
}
"""The parameters the association and the audit use, per cmdlet (each cmdlet's reference)."""
UNCHANGED = "The command completed successfully but no settings of '{}' have been modified."
"""What Exchange warns when a Set- cmdlet finds nothing to change."""
MANAGEMENT_ROLES: frozenset[str] = frozenset(
    {
        "Address Lists",
        "Audit Logs",
        "Compliance Admin",
        "Data Loss Prevention",
        "Distribution Groups",
        "E-Mail Address Policies",
        "Federated Sharing",
        "Information Rights Management",
        "Journaling",
        "Legal Hold",
        "Mail Enabled Public Folders",
        "Mail Recipient Creation",
        "Mail Recipients",
        "Mail Tips",
        "Mailbox Import Export",
        "Mailbox Search",
        "Message Tracking",
        "Migration",
        "Move Mailboxes",
        "Org Custom Apps",
        "Org Marketplace Apps",
        "Organization Client Access",
        "Organization Configuration",
        "Organization Transport Settings",
        "Public Folders",
        "Recipient Policies",
        "Remote and Accepted Domains",
        "Reset Password",
        "Retention Management",
        "Role Management",
        "Security Admin",
        "Security Group Creation and Membership",
        "Security Reader",
        "Transport Hygiene",
        "Transport Rules",
        "User Options",
        "View-Only Audit Logs",
        "View-Only Configuration",
        "View-Only Recipients",
    }
)
"""Built-in management roles New-RoleGroup takes by name (part of Exchange Online's list;
ApplicationImpersonation, retired from Exchange Online, is left out); any other name is
Exchange's not-found."""


@dataclass
class FakeOrganization:
    """One tenant's organization config and RBAC objects, as Exchange keeps them."""

    ews_enabled: bool | None = None
    allowed: list[str] = field(default_factory=list)
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    """Group identity -> distinguished name."""
    access_policies: list[dict[str, Any]] = field(default_factory=list)
    """What Get-ApplicationAccessPolicy lists."""
    role_groups: list[dict[str, Any]] = field(default_factory=list)
    """What Get-RoleGroup lists: Name, Roles, Members (`<tenant domain>/<member name>`)."""
    domain: str = "contoso.onmicrosoft.com"
    """The initial domain Add-RoleGroupMember names a member under in `Members`."""


@dataclass
class Call:
    tenant: str
    cmdlet: str
    parameters: dict[str, Any]
    headers: dict[str, str]
    """Names in lower case: HTTP header names are case-insensitive."""


@dataclass
class FakeExchange:
    tenants: dict[str, FakeOrganization] = field(default_factory=dict)
    token: str = TOKEN
    list_shape: Literal["string", "list"] = "string"
    statuses: dict[str, int] = field(default_factory=dict)
    """Cmdlet -> an error status to answer it with."""
    throttle: int = 0
    """This many next requests get a 429."""
    throttled: dict[str, int] = field(default_factory=dict)
    """Cmdlet -> this many of its next calls get a 429 (and are not run)."""
    retry_after: str = "7"
    answer: Literal[
        "normal", "oversized", "invalid", "redirect", "trickle", "stall", "no-value"
    ] = "normal"
    """`trickle`: the body in 20 pieces over 2 s; `stall`: the headers a byte every 0.2 s,
    for a minute (every read within any socket timeout, the answer never done); `no-value`:
    a 200 whose body has no `value`."""
    drop_fields: set[str] = field(default_factory=set)
    """Properties Get-OrganizationConfig leaves out of its answer."""
    redirect_to: str = ""
    page_size: int = 1000
    latency: float = 0.0
    """Seconds each HTTP request waits before it is answered (the audit's benchmark)."""
    after_read: Callable[[FakeOrganization], None] | None = None
    """Runs once, right after the next Get-OrganizationConfig is answered."""
    after_write: Callable[[FakeOrganization], None] | None = None
    """Runs once, right after the next write is applied (before anything reads it)."""
    stale_reads: int = 0
    """After each write, this many reads still answer from the organization before it."""
    lagging: dict[str, tuple[FakeOrganization, int]] = field(default_factory=dict)
    """Tenant -> the organization as it was before the last write, and reads left to lag."""
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def writes(self) -> list[Call]:
        return [call for call in self.calls if not call.cmdlet.startswith("Get-")]

    def handle(self, tenant: str, skip: int, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        cmdlet = body["CmdletInput"]["CmdletName"]
        parameters = body["CmdletInput"].get("Parameters") or {}
        with self.lock:
            self.calls.append(Call(tenant, cmdlet, parameters, headers))
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, _error("Unauthorized", "The token is invalid.")
            if self.throttle or self.throttled.get(cmdlet):
                if self.throttle:
                    self.throttle -= 1
                else:
                    self.throttled[cmdlet] -= 1
                return 429, _error("TooManyRequests", "Too many concurrent requests.")
            if cmdlet in self.statuses:
                status = self.statuses[cmdlet]
                return status, _error(str(status), f"{cmdlet} could not be run.")
            organization = self.tenants.get(tenant)
            if organization is None:
                return 404, _error("NotFound", f"Tenant {tenant} not found.")
            unknown = set(parameters) - PARAMETERS.get(cmdlet, frozenset(parameters))
            if unknown:
                name = sorted(unknown)[0]
                return 400, _error(
                    "ParameterBindingException",
                    f"A parameter cannot be found that matches parameter name '{name}'.",
                )
            try:
                if cmdlet.startswith("Get-"):
                    items = self._run(self._as_read(tenant, organization), cmdlet, parameters)
                    if cmdlet == "Get-OrganizationConfig" and self.after_read is not None:
                        hook, self.after_read = self.after_read, None
                        hook(organization)
                else:
                    before = copy.deepcopy(organization)
                    items = self._run(organization, cmdlet, parameters)
                    if organization == before:
                        warning = UNCHANGED.format(organization_name(cmdlet))
                        return 200, {"@adminapi.warnings": [warning]}
                    self.lagging[tenant] = (before, self.stale_reads)
                    if self.after_write is not None:
                        hook, self.after_write = self.after_write, None
                        hook(organization)
                    if not cmdlet.startswith("New-"):
                        return 204, None
            except LookupError as error:
                return 404, _error("NotFound", str(error))
            except ValueError as error:
                return 400, _error("InvalidOperation", str(error))
        body = {"@odata.context": f"{self.base}/adminapi/beta/{tenant}/$metadata#Collection"}
        body["value"] = items[skip : skip + self.page_size]
        if skip + self.page_size < len(items):
            page = f"InvokeCommand?$skiptoken={skip + self.page_size}"
            body["@odata.nextLink"] = f"{self.base}/adminapi/beta/{tenant}/{page}"
        return 200, body

    def _as_read(self, tenant: str, organization: FakeOrganization) -> FakeOrganization:
        """What a read sees: the organization before the last write while it still lags."""
        before, left = self.lagging.get(tenant, (organization, 0))
        if left <= 0:
            return organization
        self.lagging[tenant] = (before, left - 1)
        return before

    def _run(self, org: FakeOrganization, cmdlet: str, p: dict[str, Any]) -> list[dict[str, Any]]:
        if cmdlet == "Get-OrganizationConfig":
            shown: object = (
                ",".join(org.allowed) if self.list_shape == "string" else list(org.allowed)
            )
            config = {"Name": "contoso.onmicrosoft.com", "EwsEnabled": org.ews_enabled}
            retrieved = p.get("RetrieveEwsOperationAccessPolicy") is True
            config["EwsAllowedAppIDs"] = shown if org.allowed and retrieved else None
            return [{k: v for k, v in config.items() if k not in self.drop_fields}]
        if cmdlet == "Set-OrganizationConfig":
            if "EwsEnabled" in p:
                org.ews_enabled = p["EwsEnabled"]
            if "EwsAllowedAppIDs" in p:
                value = p["EwsAllowedAppIDs"]
                if value is not None and not isinstance(value, str):
                    raise ValueError("EwsAllowedAppIDs takes one string (AppId1,AppId2,...).")
                org.allowed = [part for part in (value or "").split(",") if part]
            return []
        if cmdlet == "Get-ServicePrincipal":
            return list(org.service_principals)
        if cmdlet == "New-ServicePrincipal":
            made = {
                **p,
                "Identity": p["ObjectId"],
                "Name": p["ObjectId"],
                "ServiceId": p["ObjectId"],  # application-rbac: "the Object ID is the ServiceID"
            }
            org.service_principals.append(made)
            return [made]
        if cmdlet == "Remove-ServicePrincipal":
            org.service_principals = [
                s for s in org.service_principals if s["Identity"] != p["Identity"]
            ]
            return []
        if cmdlet == "Get-DistributionGroup":
            if p["Identity"] not in org.groups:
                raise LookupError(f"The object '{p['Identity']}' couldn't be found.")
            return [{"Identity": p["Identity"], "DistinguishedName": org.groups[p["Identity"]]}]
        if cmdlet == "Get-ApplicationAccessPolicy":
            return list(org.access_policies)
        if cmdlet == "Get-RoleGroup":
            if "Identity" in p:
                return [_role_group(org, p["Identity"])]
            return list(org.role_groups)
        if cmdlet == "New-RoleGroup":
            roles = [p["Roles"]] if isinstance(p.get("Roles"), str) else list(p.get("Roles") or [])
            for role in roles:
                if role not in MANAGEMENT_ROLES:
                    raise LookupError(f"The management role '{role}' couldn't be found.")
            if any(g["Name"].lower() == p["Name"].lower() for g in org.role_groups):
                # The exact text is not documented.
                raise ValueError(f"The role group '{p['Name']}' already exists.")
            made = {"Name": p["Name"], "Roles": roles, "Members": []}
            if "Description" in p:
                made["Description"] = p["Description"]
            org.role_groups.append(made)
            return [made]
        if cmdlet == "Add-RoleGroupMember":
            group = _role_group(org, p["Identity"])
            pointer = _member(org, p["Member"])
            member = f"{org.domain}/{pointer['Name']}"
            if member in group["Members"]:
                raise ValueError(
                    f'The recipient "{member}" is already a member of the group "{group["Name"]}".'
                )
            group["Members"] = [*group["Members"], member]
            return []
        if cmdlet == "Get-ManagementScope":
            return list(org.scopes)
        if cmdlet == "New-ManagementScope":
            if any(scope["Name"] == p["Name"] for scope in org.scopes):
                raise ValueError(f"The management scope '{p['Name']}' already exists.")
            made = {
                "Name": p["Name"],
                "RecipientRestrictionFilter": p["RecipientRestrictionFilter"],
            }
            org.scopes.append(made)
            return [made]
        if cmdlet == "Set-ManagementScope":
            _named(org.scopes, p["Identity"])["RecipientRestrictionFilter"] = p[
                "RecipientRestrictionFilter"
            ]
            return []
        if cmdlet == "Remove-ManagementScope":
            scope = _named(org.scopes, p["Identity"])
            if any(a.get("CustomResourceScope") == scope["Name"] for a in org.assignments):
                raise ValueError(  # Remove-ManagementScope.md: not while an assignment uses it
                    f"Management scope '{scope['Name']}' can't be removed because it's "
                    "associated with a management role assignment."
                )
            org.scopes.remove(scope)
            return []
        if cmdlet == "Get-ManagementRoleAssignment":
            return [a for a in org.assignments if a["Role"] == p.get("Role", a["Role"])]
        if cmdlet == "New-ManagementRoleAssignment":
            principal = _principal(org, p["App"])
            if any(a["Name"] == p["Name"] for a in org.assignments):
                raise ValueError(f"The role assignment '{p['Name']}' already exists.")
            _named(org.scopes, p["CustomResourceScope"])
            made = {
                "Name": p["Name"],
                "Role": p["Role"],
                "RoleAssignee": principal["ObjectId"],
                "RoleAssigneeName": principal["Name"],
                "RoleAssigneeType": "ServicePrincipal",
                "CustomResourceScope": p["CustomResourceScope"],
            }
            org.assignments.append(made)
            return [made]
        if cmdlet == "Set-ManagementRoleAssignment":
            _named(org.assignments, p["Identity"])["CustomResourceScope"] = p["CustomResourceScope"]
            return []
        if cmdlet == "Remove-ManagementRoleAssignment":
            org.assignments.remove(_named(org.assignments, p["Identity"]))
            return []
        raise LookupError(f"The term '{cmdlet}' is not recognized as a cmdlet.")


def organization_name(cmdlet: str) -> str:
    """What Exchange names in its "nothing modified" warning: the object the cmdlet set."""
    return "contoso.onmicrosoft.com" if cmdlet == "Set-OrganizationConfig" else cmdlet


def _principal(org: FakeOrganization, app: str) -> dict[str, Any]:
    """The service principal `-App` names: its ObjectId, or (application-rbac) its AppId or
    display name; an unknown one is Exchange's not-found."""
    for pointer in org.service_principals:
        names = (pointer.get("ObjectId"), pointer.get("AppId"), pointer.get("DisplayName"))
        names += (pointer.get("ServiceId"), pointer.get("Identity"))
        if app.lower() in (str(name).lower() for name in names if name):
            return pointer
    raise LookupError(f"The service principal '{app}' couldn't be found.")


def _member(org: FakeOrganization, member: str) -> dict[str, Any]:
    """The service principal Add-RoleGroupMember's `-Member` names: by its Identity, ObjectId
    or AppId (app-only-auth-powershell-v2.md: `$SP.Identity | $SP.ObjectId | $SP.Id`)."""
    for pointer in org.service_principals:
        names = (pointer.get("Identity"), pointer.get("ObjectId"), pointer.get("AppId"))
        if member.lower() in (str(name).lower() for name in names if name):
            return pointer
    raise LookupError(
        f"The operation couldn't be performed because object '{member}' couldn't be found."
    )


def _role_group(org: FakeOrganization, identity: str) -> dict[str, Any]:
    for group in org.role_groups:
        if group["Name"].lower() == identity.lower():
            return group
    raise LookupError(
        f"The operation couldn't be performed because object '{identity}' couldn't be found."
    )


def _named(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for item in items:
        if item["Name"] == name:
            return item
    raise LookupError(
        f"The operation couldn't be performed because object '{name}' couldn't be found."
    )


def _error(code: str, text: str) -> dict[str, Any]:
    detail = f"Ex6F9304|Microsoft.Exchange.Management.Tasks.{code}Exception|{text}"
    return {
        "error": {
            "code": code,
            "message": "An error has occurred.",
            "details": [{"code": code, "target": "", "message": detail}],
            "innererror": {
                "message": text,
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
            },
        }
    }


@contextmanager
def serve(exchange: FakeExchange) -> Iterator[str]:
    """Run `exchange` on 127.0.0.1 (a free port) in a thread; yields its endpoint URL."""

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            document = self.json_body()
            if exchange.latency:
                time.sleep(exchange.latency)
            match = PATH.match(self.path)
            if exchange.answer == "redirect":
                self._send(302, b"", {"Location": exchange.redirect_to})
                return
            if exchange.answer == "stall":
                with suppress(OSError):
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(300):
                        self.wfile.write(b"X")
                        self.wfile.flush()
                        time.sleep(0.2)
                self.close_connection = True
                return
            if match is None:
                self._send(404, json.dumps(_error("NotFound", "No such path.")).encode())
                return
            status, body = exchange.handle(
                match["tenant"],
                int(match["skip"] or 0),
                {name.lower(): value for name, value in self.headers.items()},
                document,
            )
            data = b"" if body is None else json.dumps(body).encode()
            if exchange.answer == "oversized":
                data = json.dumps({"value": [{"padding": "x" * 1024}] * 6000}).encode()
            elif exchange.answer == "invalid":
                data = b'{"value": [ {"EwsEnabled": tru'
            elif exchange.answer == "no-value" and body is not None:
                data = json.dumps({k: v for k, v in body.items() if k != "value"}).encode()
            extra = {"Retry-After": exchange.retry_after} if status == 429 else {}
            self._send(status, data, extra, trickle=exchange.answer == "trickle")

        def _send(
            self,
            status: int,
            data: bytes,
            extra: dict[str, str] | None = None,
            *,
            trickle: bool = False,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;odata.metadata=minimal")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if not trickle:
                self.wfile.write(data)
                return
            for start in range(0, len(data), max(1, len(data) // 20)):
                self.wfile.write(data[start : start + max(1, len(data) // 20)])
                self.wfile.flush()
                time.sleep(0.1)

    with serve_handler(Handler) as endpoint:
        exchange.base = endpoint
        yield endpoint
