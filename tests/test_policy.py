"""The policy pack's rules (the package policy/rules/) against what the real program declares.

The program runs under the SDK's mocks (`association_tools.offline.run_program`) with a
generated certificate; each rule then sees the properties the engine would hand the
pack. The clean program passes every rule; each altered property makes its rule fire,
told apart by the violation's code (the policy name), reason and facts, never by its
message. pulumi-policy itself is not installed here (it pins protobuf 5): policy/tests/
checks the wrapping in the pack's own virtualenv.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
import pkgutil
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from certfactory import NOW, der, make_certificate, pem
from tenant import DEPLOYER, EXCHANGE_SP, TENANT, TENANT_DIRECTORY, assignment_id, copy_program

import policy.rules
from association import identifiers
from association_tools.offline import KNOWN_AFTER_DEPLOY, ProgramRun, run_program
from policy.rules import allow_list, certificates, registry
from policy.rules import identifiers as rule_identifiers
from policy.rules import resource_types as types
from policy.rules.model import RuleContext, StackResource, Violation
from policy.rules.values import UNKNOWN

OTHER_PRINCIPAL = "cccccccc-0000-0000-0000-000000000003"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
GRAPH_USER_READ_ALL = "df021288-bdef-4463-88db-98f22de89214"
EWS_ACCESS_AS_USER = "3b5f3d61-589b-4a3c-a359-5dd4b5ee5bd5"
EXCHANGE_APP = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS_ROLE = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
CERT_NOT_AFTER = NOW + timedelta(days=365)
CONTEXT = RuleContext(config={}, now=NOW)
GROUP_URN = "urn:pulumi:contoso::mimecast-association::azuread:index/group:Group::admins"
KEBAB = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")

ALL_RULES = [rule.code for rule in (*registry.RESOURCE_RULES, *registry.STACK_RULES)]

Props = dict[str, Any]
Stack = list[StackResource]


def _engine_view(value: Any) -> Any:
    """Unknowns as the engine hands them to a policy pack: its unknown-value marker."""
    if value is KNOWN_AFTER_DEPLOY:
        return UNKNOWN
    if isinstance(value, dict):
        return {key: _engine_view(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_engine_view(item) for item in value]
    return value


def _run(tmp_path_factory: pytest.TempPathFactory, preview: bool, **settings: object) -> ProgramRun:
    project = copy_program(tmp_path_factory.mktemp("program"))
    (project / "mimecast.pem").write_bytes(pem(make_certificate(not_after=CERT_NOT_AFTER)))
    run = run_program(
        project / "__main__.py",
        "contoso",
        {
            "mimecast-association:certificates": json.dumps(["mimecast.pem"]),
            "azuread:tenantId": TENANT,
            **{f"mimecast-association:{k}": json.dumps(v) for k, v in settings.items()},
        },
        TENANT_DIRECTORY,
        preview=preview,
        now=NOW,
    )
    assert run.error is None, run.error
    return run


def _stack(run: ProgramRun) -> Stack:
    """The stack as a stack policy sees it: each resource's outputs and property sources.

    Outputs are the inputs plus the object IDs the provider returns (from the program's
    exports); the assignment's principal comes from the service principal, as the SDK
    reports it (`principal_object_id=service_principal.object_id`).
    """
    outputs = _engine_view(run.outputs)
    computed = {
        types.APPLICATION: {
            "objectId": outputs["applicationObjectId"],
            "clientId": outputs["clientId"],
        },
        types.SERVICE_PRINCIPAL: {"objectId": outputs["servicePrincipalObjectId"]},
    }
    (sp_urn,) = [r.urn for r in run.resources if r.type == types.SERVICE_PRINCIPAL]
    return [
        StackResource(
            type=resource.type,
            urn=resource.urn,
            props={**_engine_view(resource.inputs), **computed.get(resource.type, {})},
            property_dependencies=(
                {"principalObjectId": [sp_urn]}
                if resource.type == types.APP_ROLE_ASSIGNMENT
                else {}
            ),
        )
        for resource in run.resources
    ]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """What `pulumi up` declares (IDs known)."""
    return _stack(_run(tmp_path_factory, preview=False))


@pytest.fixture(scope="module")
def previewed(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """What a first `pulumi preview` declares (object IDs unknown)."""
    return _stack(_run(tmp_path_factory, preview=True))


def violations(stack: Stack, context: RuleContext = CONTEXT) -> list[Violation]:
    """Every rule's violations over the stack: resource rules per resource, then stack rules.

    A resource rule's violation gets the URN of the resource it was checked on, as the
    engine reports it; a stack rule names its resource itself.
    """
    urns = {r.urn for r in stack}
    found: list[Violation] = []
    for rule in registry.RESOURCE_RULES:
        for resource in stack:
            for violation in rule.check(resource.type, copy.deepcopy(resource.props), context):
                assert (violation.code, violation.urn) == (rule.code, None)
                found.append(replace(violation, urn=resource.urn))
    for stack_rule in registry.STACK_RULES:
        for violation in stack_rule.check(stack, context):
            assert violation.code == stack_rule.code
            assert violation.urn in urns
            found.append(violation)
    for violation in found:
        assert KEBAB.fullmatch(violation.reason), violation
        assert violation.message, violation
    return found


def fires_only(
    found: list[Violation], code: str, reason: str, *, on: str | None = None, **facts: object
) -> Violation:
    """Only rule `code` fired, once for `reason` with these facts (and on resource `on`)."""
    assert {v.code for v in found} == {code}, found
    (match,) = [
        v
        for v in found
        if v.reason == reason
        and (on is None or v.urn == on)
        and all(key in v.facts and v.facts[key] == value for key, value in facts.items())
    ]
    return match


def reasons(found: list[Violation]) -> list[tuple[str, str]]:
    return sorted((v.code, v.reason) for v in found)


def the(stack: Stack, type_: str) -> StackResource:
    (resource,) = [r for r in stack if r.type == type_]
    return resource


def altered(stack: Stack, type_: str, change: Callable[[Props], None]) -> Stack:
    """The stack with one resource's properties changed (a deep copy; fixtures stay clean)."""
    target = the(stack, type_)
    props = copy.deepcopy(dict(target.props))
    change(props)
    return [replace(r, props=props) if r is target else r for r in stack]


def added(stack: Stack, type_: str, props: Props, **deps: list[str]) -> Stack:
    name = type_.rsplit(":", 1)[-1].lower()
    urn = f"urn:pulumi:contoso::mimecast-association::{type_}::extra-{name}"
    return [*stack, StackResource(type_, urn, props, deps)]


def permission(app: str, id_: str, type_: str) -> Props:
    return {"resourceAppId": app, "resourceAccesses": [{"id": id_, "type": type_}]}


def certificate_with(**props: Any) -> Callable[[Props], None]:
    return lambda cert: cert.update(props)


def with_graph_role(app: Props) -> None:
    app["requiredResourceAccesses"].append(permission(GRAPH_APP, GRAPH_USER_READ_ALL, "Role"))


# --- the pack's shape ----------------------------------------------------------------------


def test_rules_use_the_programs_identifiers() -> None:
    assert rule_identifiers.EXCHANGE_ONLINE_APP_ID == identifiers.EXCHANGE_ONLINE_APP_ID
    assert rule_identifiers.FULL_ACCESS_AS_APP == identifiers.FULL_ACCESS_AS_APP
    assert rule_identifiers.FULL_ACCESS_AS_APP_ROLE_ID == identifiers.FULL_ACCESS_AS_APP_ROLE_ID
    assert rule_identifiers.APP_ROLE_TYPE == identifiers.APP_ROLE_TYPE
    assert rule_identifiers.SINGLE_TENANT_AUDIENCE == identifiers.SINGLE_TENANT_AUDIENCE
    assert rule_identifiers.KEY_CREDENTIAL_TYPE == identifiers.KEY_CREDENTIAL_TYPE
    assert rule_identifiers.EXCHANGE_ONLINE_APP_ID == EXCHANGE_APP
    assert rule_identifiers.FULL_ACCESS_AS_APP_ROLE_ID == FULL_ACCESS_ROLE


def test_every_rule_has_a_unique_kebab_case_code_and_a_description() -> None:
    assert len(set(ALL_RULES)) == len(ALL_RULES) == 8
    assert all(KEBAB.fullmatch(code) for code in ALL_RULES)
    assert all(rule.description for rule in (*registry.RESOURCE_RULES, *registry.STACK_RULES))


def test_registry_lists_every_rule_module_once_under_its_code() -> None:
    """One rule a module, named after its code; a module with a RULE missing from the registry
    would never run."""
    modules = {
        info.name: importlib.import_module(f"policy.rules.{info.name}")
        for info in pkgutil.iter_modules(policy.rules.__path__)
    }
    rule_modules = {name: module for name, module in modules.items() if hasattr(module, "RULE")}
    registered = [*registry.RESOURCE_RULES, *registry.STACK_RULES]
    assert sorted(rule_modules) == sorted(code.replace("-", "_") for code in ALL_RULES)
    for name, module in rule_modules.items():
        assert module.RULE.code == module.CODE == name.replace("_", "-")
        assert registered.count(module.RULE) == 1


def test_program_declares_what_the_rules_check(deployed: Stack) -> None:
    assert sorted(r.type for r in deployed if r.type.startswith("azuread:")) == sorted(
        [
            types.APPLICATION,
            types.APPLICATION_CERTIFICATE,
            types.SERVICE_PRINCIPAL,
            types.APP_ROLE_ASSIGNMENT,
        ]
    )
    assert (
        the(deployed, types.APP_ROLE_ASSIGNMENT).props["principalObjectId"]
        == (the(deployed, types.SERVICE_PRINCIPAL).props["objectId"])
    )


# --- the clean program ---------------------------------------------------------------------


def test_deployed_program_passes_every_rule(deployed: Stack) -> None:
    assert violations(deployed) == []


def test_previewed_program_passes_every_rule_with_unknown_ids(previewed: Stack) -> None:
    assert the(previewed, types.APP_ROLE_ASSIGNMENT).props["principalObjectId"] == UNKNOWN
    assert the(previewed, types.SERVICE_PRINCIPAL).props["objectId"] == UNKNOWN
    assert violations(previewed) == []


def test_certificate_end_date_equal_to_not_after_passes(deployed: Stack) -> None:
    cert = the(deployed, types.APPLICATION_CERTIFICATE).props
    assert certificates.parse_date(cert["endDate"]) == CERT_NOT_AFTER


@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_certificate_in_der_encodings_passes(deployed: Stack, encoding: str) -> None:
    body = der(make_certificate(not_after=CERT_NOT_AFTER))
    value = base64.b64encode(body).decode() if encoding == "base64" else body.hex()
    stack = altered(
        deployed,
        types.APPLICATION_CERTIFICATE,
        certificate_with(encoding=encoding, value=value),
    )
    assert violations(stack) == []


def test_allowed_extra_permission_passes_with_policy_config(deployed: Stack) -> None:
    stack = altered(deployed, types.APPLICATION, with_graph_role)
    allow = {
        allow_list.ALLOWED_PERMISSIONS_KEY: [
            {"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL.upper(), "type": "Role"}
        ]
    }
    assert violations(stack, replace(CONTEXT, config=allow)) == []
    fires_only(
        violations(stack), "exchange-full-access-only", "other-permission", id=GRAPH_USER_READ_ALL
    )


def test_extra_permission_message_names_how_to_allow_it(deployed: Stack) -> None:
    """The message is the user's only guide here: it names the config key and the policy."""
    (found,) = violations(altered(deployed, types.APPLICATION, with_graph_role))
    assert "`allowedPermissions` of policy exchange-full-access-only" in found.message


# --- each rule fires -----------------------------------------------------------------------

ALTERATIONS: list[tuple[str, str, Callable[[Props], None], str, dict[str, object]]] = [
    (
        "exchange-full-access-only",
        types.APPLICATION,
        with_graph_role,
        "other-permission",
        {"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL, "type": "Role"},
    ),
    (
        "exchange-full-access-only",
        types.APPLICATION,
        lambda app: app["requiredResourceAccesses"][0]["resourceAccesses"].append(
            {"id": EWS_ACCESS_AS_USER, "type": "Scope"}
        ),
        "other-permission",
        {"resourceAppId": EXCHANGE_APP, "id": EWS_ACCESS_AS_USER, "type": "Scope"},
    ),
    (
        "exchange-full-access-only",
        types.APPLICATION,
        lambda app: app["requiredResourceAccesses"][0]["resourceAccesses"][0].update(type="Scope"),
        "full-access-as-scope",
        {"resourceAppId": EXCHANGE_APP, "id": FULL_ACCESS_ROLE, "type": "Scope"},
    ),
    (
        "exchange-full-access-only",
        types.APPLICATION,
        lambda app: app["requiredResourceAccesses"][0].update(resourceAppId=GRAPH_APP),
        "full-access-not-requested",
        {},
    ),
    (
        "scoped-consent-shape",
        types.APPLICATION,
        lambda app: app.update(requiredResourceAccesses=[]),
        "consent-without-request",
        {"assignments": 1},
    ),
    (
        "scoped-consent-shape",
        types.APPLICATION,
        lambda app: app.pop("requiredResourceAccesses"),
        "consent-without-request",
        {"assignments": 1},
    ),
    (
        "single-tenant-audience",
        types.APPLICATION,
        lambda app: app.update(signInAudience="AzureADMultipleOrgs"),
        "not-single-tenant",
        {"signInAudience": "AzureADMultipleOrgs"},
    ),
    (
        "single-tenant-audience",
        types.APPLICATION,
        lambda app: app.pop("signInAudience"),
        "not-single-tenant",
        {"signInAudience": None},
    ),
    ("owners-required", types.APPLICATION, lambda app: app.update(owners=[]), "no-owners", {}),
    ("owners-required", types.SERVICE_PRINCIPAL, lambda sp: sp.pop("owners"), "no-owners", {}),
    (
        "no-password-credentials",
        types.APPLICATION,
        lambda app: app.update(password={"displayName": "mimecast"}),
        "password-block",
        {},
    ),
    (
        "certificate-credentials-valid",
        types.APPLICATION_CERTIFICATE,
        certificate_with(type="Symmetric"),
        "not-a-certificate",
        {"type": "Symmetric"},
    ),
    (
        "certificate-credentials-valid",
        types.APPLICATION_CERTIFICATE,
        lambda cert: cert.pop("type"),
        "not-a-certificate",
        {"type": None},
    ),
    (
        "certificate-credentials-valid",
        types.APPLICATION_CERTIFICATE,
        certificate_with(endDate="2027-11-26T12:00:01Z"),
        "end-date-after-not-after",
        {"endDate": "2027-11-26T12:00:01Z", "notAfter": "2027-11-26T12:00:00Z"},
    ),
    (
        "certificate-credentials-valid",
        types.APPLICATION_CERTIFICATE,
        certificate_with(endDate="2026-11-01T00:00:00Z"),
        "end-date-past",
        {"endDate": "2026-11-01T00:00:00Z", "checkedAt": "2026-11-26T12:00:00Z"},
    ),
    (
        "certificate-credentials-valid",
        types.APPLICATION_CERTIFICATE,
        lambda cert: cert.pop("endDate"),
        "end-date-missing",
        {"endDate": None},
    ),
    (
        "certificate-credentials-valid",
        types.APPLICATION_CERTIFICATE,
        certificate_with(endDate="next year"),
        "end-date-unreadable",
        {"endDate": "next year"},
    ),
    (
        "certificate-credentials-valid",
        types.APPLICATION_CERTIFICATE,
        certificate_with(encoding="base64"),
        "value-unreadable",
        {"encoding": "base64"},
    ),
    (
        "app-role-assignment-full-access-only",
        types.APP_ROLE_ASSIGNMENT,
        lambda assignment: assignment.update(appRoleId=EWS_ACCESS_AS_USER),
        "other-app-role",
        {"appRoleId": EWS_ACCESS_AS_USER},
    ),
    (
        "app-role-assignment-full-access-only",
        types.APP_ROLE_ASSIGNMENT,
        lambda assignment: assignment.update(appRoleId="00000000-0000-0000-0000-000000000000"),
        "other-app-role",
        {"appRoleId": "00000000-0000-0000-0000-000000000000"},
    ),
    (
        "app-role-assignment-targets",
        types.APP_ROLE_ASSIGNMENT,
        lambda assignment: assignment.update(principalObjectId=OTHER_PRINCIPAL),
        "principal-not-in-stack",
        {"principalObjectId": OTHER_PRINCIPAL},
    ),
]


@pytest.mark.parametrize(
    ("rule", "type_", "change", "reason", "facts"),
    ALTERATIONS,
    ids=[f"{case[0]}:{case[3]}" for case in ALTERATIONS],
)
def test_altered_property_fires_its_rule_on_that_resource(
    deployed: Stack,
    rule: str,
    type_: str,
    change: Callable[[Props], None],
    reason: str,
    facts: dict[str, object],
) -> None:
    on = the(deployed, type_).urn
    fires_only(violations(altered(deployed, type_, change)), rule, reason, on=on, **facts)


def test_full_access_as_a_scope_is_also_full_access_not_requested(deployed: Stack) -> None:
    def as_scope(app: Props) -> None:
        app["requiredResourceAccesses"][0]["resourceAccesses"][0].update(type="Scope")

    assert reasons(violations(altered(deployed, types.APPLICATION, as_scope))) == [
        ("exchange-full-access-only", "full-access-as-scope"),
        ("exchange-full-access-only", "full-access-not-requested"),
    ]


def test_enforced_mailbox_scope_is_the_other_accepted_shape(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    scope = {"group": "mimecast-sync@contoso.com", "enforce": True}
    stack = _stack(_run(tmp_path_factory, preview=False, mailboxScope=scope))
    assert not [r for r in stack if r.type == types.APP_ROLE_ASSIGNMENT]
    assert violations(stack) == []


def test_both_steps_of_scoping_an_adopted_app_pass_the_pack(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Step 1 keeps the adopted consent (and its request); step 2 drops both."""
    scope = {"group": "mimecast-sync@contoso.com", "enforce": True}
    principal = "7d9e0f12-3456-4789-abcd-ef0123456789"
    adopt = {
        "applicationObjectId": "3f2a6c1e-8b4d-4e21-9c57-0a1b2c3d4e5f",
        "servicePrincipalObjectId": principal,
        "appRoleAssignmentId": assignment_id(principal),
    }
    for step in (adopt, {**adopt, "removeConsent": True}):
        stack = _stack(_run(tmp_path_factory, preview=False, mailboxScope=scope, adopt=step))
        assert violations(stack) == [], step


def test_end_date_in_another_offset_is_compared_as_an_instant(deployed: Stack) -> None:
    same_instant = certificate_with(endDate="2027-11-26T13:00:00+01:00")
    assert violations(altered(deployed, types.APPLICATION_CERTIFICATE, same_instant)) == []


def test_every_rule_has_a_firing_case() -> None:
    assert {case[0] for case in ALTERATIONS} == set(ALL_RULES)


def test_expired_stack_fires_when_checked_after_the_end_date(deployed: Stack) -> None:
    later = replace(CONTEXT, now=CERT_NOT_AFTER)
    fires_only(
        violations(deployed, later),
        "certificate-credentials-valid",
        "end-date-past",
        checkedAt=certificates.rfc3339(CERT_NOT_AFTER),
    )


def test_password_resources_fire_anywhere_in_the_stack(deployed: Stack) -> None:
    app_id = the(deployed, types.APPLICATION_CERTIFICATE).props["applicationId"]
    sp_id = the(deployed, types.SERVICE_PRINCIPAL).props["objectId"]
    stack = added(deployed, types.APPLICATION_PASSWORD, {"applicationId": app_id})
    on = the(stack, types.APPLICATION_PASSWORD).urn
    fires_only(violations(stack), "no-password-credentials", "application-password", on=on)
    stack = added(deployed, types.SERVICE_PRINCIPAL_PASSWORD, {"servicePrincipalId": sp_id})
    on = the(stack, types.SERVICE_PRINCIPAL_PASSWORD).urn
    fires_only(violations(stack), "no-password-credentials", "service-principal-password", on=on)


def test_api_access_resource_cannot_add_permissions(deployed: Stack) -> None:
    props = {"apiClientId": GRAPH_APP, "roleIds": [GRAPH_USER_READ_ALL], "scopeIds": []}
    stack = added(deployed, types.APPLICATION_API_ACCESS, props)
    fires_only(
        violations(stack),
        "exchange-full-access-only",
        "api-access-grant",
        on=the(stack, types.APPLICATION_API_ACCESS).urn,
        resourceAppId=GRAPH_APP,
        id=GRAPH_USER_READ_ALL,
        type="Role",
    )
    exchange = {"apiClientId": EXCHANGE_APP, "roleIds": [FULL_ACCESS_ROLE]}
    assert violations(added(deployed, types.APPLICATION_API_ACCESS, exchange)) == []


def test_application_registration_must_be_single_tenant(deployed: Stack) -> None:
    props = {"displayName": "x", "signInAudience": "AzureADandPersonalMicrosoftAccount"}
    stack = added(deployed, types.APPLICATION_REGISTRATION, props)
    fires_only(
        violations(stack),
        "single-tenant-audience",
        "not-single-tenant",
        on=the(stack, types.APPLICATION_REGISTRATION).urn,
        signInAudience="AzureADandPersonalMicrosoftAccount",
    )


def test_assignment_on_own_service_principal_fires(deployed: Stack) -> None:
    sp_id = the(deployed, types.SERVICE_PRINCIPAL).props["objectId"]
    stack = altered(deployed, types.APP_ROLE_ASSIGNMENT, lambda a: a.update(resourceObjectId=sp_id))
    found = violations(stack)
    assert reasons(found) == [
        ("app-role-assignment-full-access-only", "assigned-to-itself"),
        ("app-role-assignment-targets", "resource-in-stack"),
    ]
    assert {v.urn for v in found} == {the(stack, types.APP_ROLE_ASSIGNMENT).urn}
    assert all(v.facts["resourceObjectId"] == sp_id for v in found)


def test_managed_exchange_service_principal_fires(deployed: Stack) -> None:
    props = {"clientId": EXCHANGE_APP.upper(), "owners": [DEPLOYER], "objectId": EXCHANGE_SP}
    stack = added(deployed, types.SERVICE_PRINCIPAL, props)
    fires_only(
        violations(stack),
        "app-role-assignment-targets",
        "exchange-service-principal-managed",
        on=stack[-1].urn,
        clientId=EXCHANGE_APP.upper(),
    )


def test_unknown_principal_from_another_resource_fires(previewed: Stack) -> None:
    assignment = the(previewed, types.APP_ROLE_ASSIGNMENT)
    stack = [
        replace(r, property_dependencies={"principalObjectId": [GROUP_URN]})
        if r is assignment
        else r
        for r in previewed
    ]
    fires_only(
        violations(stack),
        "app-role-assignment-targets",
        "principal-from-other-resource",
        on=assignment.urn,
        principalSources=(GROUP_URN,),
    )


def test_known_principal_is_not_judged_while_service_principal_id_is_unknown(
    previewed: Stack,
) -> None:
    stack = altered(
        previewed,
        types.APP_ROLE_ASSIGNMENT,
        lambda a: a.update(principalObjectId=OTHER_PRINCIPAL),
    )
    assert violations(stack) == []


# --- unknown values never fire -------------------------------------------------------------

UNKNOWNS: list[tuple[str, Callable[[Props], None]]] = [
    (types.APPLICATION, lambda app: app.update(requiredResourceAccesses=UNKNOWN)),
    (
        types.APPLICATION,
        lambda app: app["requiredResourceAccesses"].append(
            {"resourceAppId": UNKNOWN, "resourceAccesses": UNKNOWN}
        ),
    ),
    (types.APPLICATION, lambda app: app.update(signInAudience=UNKNOWN)),
    (types.APPLICATION, lambda app: app.update(owners=UNKNOWN)),
    (types.SERVICE_PRINCIPAL, lambda sp: sp.update(owners=[UNKNOWN])),
    (types.APPLICATION_CERTIFICATE, certificate_with(endDate=UNKNOWN)),
    (types.APPLICATION_CERTIFICATE, certificate_with(value=UNKNOWN)),
    (types.APPLICATION_CERTIFICATE, certificate_with(type=UNKNOWN)),
    (types.APP_ROLE_ASSIGNMENT, lambda a: a.update(appRoleId=UNKNOWN)),
    (types.APP_ROLE_ASSIGNMENT, lambda a: a.update(resourceObjectId=UNKNOWN)),
]


@pytest.mark.parametrize(
    ("type_", "change"),
    UNKNOWNS,
    ids=[
        "requiredResourceAccesses",
        "one-access-block",
        "signInAudience",
        "application-owners",
        "service-principal-owner",
        "endDate",
        "value",
        "type",
        "appRoleId",
        "resourceObjectId",
    ],
)
def test_unknown_values_never_fire(
    previewed: Stack, type_: str, change: Callable[[Props], None]
) -> None:
    assert violations(altered(previewed, type_, change)) == []


def test_unknowns_do_not_hide_the_known_violations(previewed: Stack) -> None:
    def change(app: Props) -> None:
        with_graph_role(app)
        app["requiredResourceAccesses"].append({"resourceAppId": UNKNOWN})

    fires_only(
        violations(altered(previewed, types.APPLICATION, change)),
        "exchange-full-access-only",
        "other-permission",
        id=GRAPH_USER_READ_ALL,
    )


# --- policy config -------------------------------------------------------------------------

KEY = allow_list.ALLOWED_PERMISSIONS_KEY


@pytest.mark.parametrize(
    "config",
    [
        {KEY: "all"},
        {KEY: [{"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL}]},
        {KEY: [{"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL, "type": "Delegated"}]},
    ],
)
def test_malformed_policy_config_is_refused_naming_the_key(config: dict[str, Any]) -> None:
    with pytest.raises(allow_list.PolicyConfigError, match=KEY):
        allow_list.allowed_permissions(config)


def test_config_schema_describes_the_allow_list() -> None:
    (rule,) = [r for r in registry.RESOURCE_RULES if r.config_schema is not None]
    assert rule.code == "exchange-full-access-only"
    assert rule.config_schema is not None
    schema = rule.config_schema[KEY]
    assert schema["items"]["required"] == ["resourceAppId", "id", "type"]
    assert allow_list.allowed_permissions({}) == frozenset()
