"""The policy pack's rules (policy/rules.py) against what the real program declares.

The program runs under the SDK's mocks (`association_tools.offline.run_program`) with a
generated certificate; each rule then sees the properties the engine would hand the
pack. The clean program passes every rule; each altered property makes its rule fire.
pulumi-policy itself is not installed here (it pins protobuf 5): policy/tests/ checks
the wrapping in the pack's own virtualenv.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from certfactory import NOW, der, make_certificate, pem
from tenant import DEPLOYER, EXCHANGE_SP, TENANT, TENANT_DIRECTORY, copy_program

from association import identifiers
from association_tools.offline import KNOWN_AFTER_DEPLOY, ProgramRun, run_program
from policy import rules

OTHER_PRINCIPAL = "cccccccc-0000-0000-0000-000000000003"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
GRAPH_USER_READ_ALL = "df021288-bdef-4463-88db-98f22de89214"
EWS_ACCESS_AS_USER = "3b5f3d61-589b-4a3c-a359-5dd4b5ee5bd5"
CERT_NOT_AFTER = NOW + timedelta(days=365)
CONTEXT = rules.RuleContext(config={}, now=NOW)
GROUP_URN = "urn:pulumi:contoso::mimecast-association::azuread:index/group:Group::admins"

RESOURCE_RULES = {rule.name: rule for rule in rules.RESOURCE_RULES}
ALL_RULES = sorted([*RESOURCE_RULES, *(rule.name for rule in rules.STACK_RULES)])

Props = dict[str, Any]
Stack = list[rules.StackResource]


def _engine_view(value: Any) -> Any:
    """Unknowns as the engine hands them to a policy pack: its unknown-value marker."""
    if value is KNOWN_AFTER_DEPLOY:
        return rules.UNKNOWN
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
        rules.APPLICATION: {
            "objectId": outputs["applicationObjectId"],
            "clientId": outputs["clientId"],
        },
        rules.SERVICE_PRINCIPAL: {"objectId": outputs["servicePrincipalObjectId"]},
    }
    (sp_urn,) = [r.urn for r in run.resources if r.type == rules.SERVICE_PRINCIPAL]
    return [
        rules.StackResource(
            type=resource.type,
            urn=resource.urn,
            props={**_engine_view(resource.inputs), **computed.get(resource.type, {})},
            property_dependencies=(
                {"principalObjectId": [sp_urn]}
                if resource.type == rules.APP_ROLE_ASSIGNMENT
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


def violations(stack: Stack, context: rules.RuleContext = CONTEXT) -> dict[str, list[str]]:
    """Every rule's messages over the stack: resource rules per resource, then stack rules."""
    found: dict[str, list[str]] = {}
    for rule in rules.RESOURCE_RULES:
        for resource in stack:
            for message in rule.check(resource.type, copy.deepcopy(resource.props), context):
                found.setdefault(rule.name, []).append(message)
    for stack_rule in rules.STACK_RULES:
        for violation in stack_rule.check(stack, context):
            assert violation.urn is None or violation.urn in {r.urn for r in stack}
            found.setdefault(stack_rule.name, []).append(violation.message)
    return found


def the(stack: Stack, type_: str) -> rules.StackResource:
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
    return [*stack, rules.StackResource(type_, urn, props, deps)]


def fires_only(found: Mapping[str, list[str]], rule: str, *fragments: str) -> None:
    assert list(found) == [rule], found
    text = "\n".join(found[rule])
    for fragment in fragments:
        assert fragment in text


def permission(app: str, id_: str, type_: str) -> Props:
    return {"resourceAppId": app, "resourceAccesses": [{"id": id_, "type": type_}]}


def certificate_with(**props: Any) -> Callable[[Props], None]:
    return lambda cert: cert.update(props)


# --- the clean program ---------------------------------------------------------------------


def test_rules_use_the_programs_identifiers() -> None:
    assert rules.EXCHANGE_ONLINE_APP_ID == identifiers.EXCHANGE_ONLINE_APP_ID
    assert rules.FULL_ACCESS_AS_APP == identifiers.FULL_ACCESS_AS_APP
    assert rules.FULL_ACCESS_AS_APP_ROLE_ID == identifiers.FULL_ACCESS_AS_APP_ROLE_ID
    assert rules.APP_ROLE_TYPE == identifiers.APP_ROLE_TYPE
    assert rules.SINGLE_TENANT_AUDIENCE == identifiers.SINGLE_TENANT_AUDIENCE
    assert rules.KEY_CREDENTIAL_TYPE == identifiers.KEY_CREDENTIAL_TYPE


def test_every_rule_has_a_unique_name_and_a_description() -> None:
    names = [rule.name for rule in (*rules.RESOURCE_RULES, *rules.STACK_RULES)]
    assert len(set(names)) == len(names) == 8
    assert all(rule.description for rule in (*rules.RESOURCE_RULES, *rules.STACK_RULES))


def test_program_declares_what_the_rules_check(deployed: Stack) -> None:
    assert sorted(r.type for r in deployed if r.type.startswith("azuread:")) == sorted(
        [
            rules.APPLICATION,
            rules.APPLICATION_CERTIFICATE,
            rules.SERVICE_PRINCIPAL,
            rules.APP_ROLE_ASSIGNMENT,
        ]
    )
    assert (
        the(deployed, rules.APP_ROLE_ASSIGNMENT).props["principalObjectId"]
        == (the(deployed, rules.SERVICE_PRINCIPAL).props["objectId"])
    )


def test_deployed_program_passes_every_rule(deployed: Stack) -> None:
    assert violations(deployed) == {}


def test_previewed_program_passes_every_rule_with_unknown_ids(previewed: Stack) -> None:
    assert the(previewed, rules.APP_ROLE_ASSIGNMENT).props["principalObjectId"] == rules.UNKNOWN
    assert the(previewed, rules.SERVICE_PRINCIPAL).props["objectId"] == rules.UNKNOWN
    assert violations(previewed) == {}


def test_certificate_end_date_equal_to_not_after_passes(deployed: Stack) -> None:
    cert = the(deployed, rules.APPLICATION_CERTIFICATE).props
    assert rules.parse_date(cert["endDate"]) == CERT_NOT_AFTER


@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_certificate_in_der_encodings_passes(deployed: Stack, encoding: str) -> None:
    body = der(make_certificate(not_after=CERT_NOT_AFTER))
    value = base64.b64encode(body).decode() if encoding == "base64" else body.hex()
    stack = altered(
        deployed,
        rules.APPLICATION_CERTIFICATE,
        certificate_with(encoding=encoding, value=value),
    )
    assert violations(stack) == {}


def test_allowed_extra_permission_passes_with_policy_config(deployed: Stack) -> None:
    stack = altered(
        deployed,
        rules.APPLICATION,
        lambda app: app["requiredResourceAccesses"].append(
            permission(GRAPH_APP, GRAPH_USER_READ_ALL, "Role")
        ),
    )
    allow = {
        rules.ALLOWED_PERMISSIONS_KEY: [
            {"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL.upper(), "type": "Role"}
        ]
    }
    assert violations(stack, replace(CONTEXT, config=allow)) == {}
    fires_only(violations(stack), "exchange-full-access-only", GRAPH_USER_READ_ALL)


# --- each rule fires -----------------------------------------------------------------------

ALTERATIONS: list[tuple[str, str, Callable[[Props], None], str]] = [
    (
        "exchange-full-access-only",
        rules.APPLICATION,
        lambda app: app["requiredResourceAccesses"].append(
            permission(GRAPH_APP, GRAPH_USER_READ_ALL, "Role")
        ),
        f"requests {GRAPH_APP} / {GRAPH_USER_READ_ALL} (Role)",
    ),
    (
        "exchange-full-access-only",
        rules.APPLICATION,
        lambda app: app["requiredResourceAccesses"][0]["resourceAccesses"].append(
            {"id": EWS_ACCESS_AS_USER, "type": "Scope"}
        ),
        EWS_ACCESS_AS_USER,
    ),
    (
        "exchange-full-access-only",
        rules.APPLICATION,
        lambda app: app["requiredResourceAccesses"][0]["resourceAccesses"][0].update(type="Scope"),
        "as a delegated Scope instead of an application Role",
    ),
    (
        "exchange-full-access-only",
        rules.APPLICATION,
        lambda app: app["requiredResourceAccesses"][0].update(resourceAppId=GRAPH_APP),
        "does not request Office 365 Exchange Online",
    ),
    (
        "scoped-consent-shape",
        rules.APPLICATION,
        lambda app: app.update(requiredResourceAccesses=[]),
        "requests no permission (the shape of mailboxScope.enforce), but the stack declares 1",
    ),
    (
        "scoped-consent-shape",
        rules.APPLICATION,
        lambda app: app.pop("requiredResourceAccesses"),
        "requests no permission",
    ),
    (
        "single-tenant-audience",
        rules.APPLICATION,
        lambda app: app.update(signInAudience="AzureADMultipleOrgs"),
        "signInAudience is 'AzureADMultipleOrgs'",
    ),
    (
        "single-tenant-audience",
        rules.APPLICATION,
        lambda app: app.pop("signInAudience"),
        "signInAudience is not set",
    ),
    (
        "owners-required",
        rules.APPLICATION,
        lambda app: app.update(owners=[]),
        "The application has no owners",
    ),
    (
        "owners-required",
        rules.SERVICE_PRINCIPAL,
        lambda sp: sp.pop("owners"),
        "The service principal has no owners",
    ),
    (
        "no-password-credentials",
        rules.APPLICATION,
        lambda app: app.update(password={"displayName": "mimecast"}),
        "declares a `password` block",
    ),
    (
        "certificate-credentials-valid",
        rules.APPLICATION_CERTIFICATE,
        certificate_with(type="Symmetric"),
        "type is 'Symmetric'; it must be 'AsymmetricX509Cert'",
    ),
    (
        "certificate-credentials-valid",
        rules.APPLICATION_CERTIFICATE,
        lambda cert: cert.pop("type"),
        "type is not set",
    ),
    (
        "certificate-credentials-valid",
        rules.APPLICATION_CERTIFICATE,
        certificate_with(endDate="2027-11-26T12:00:01Z"),
        "is after the certificate's NotAfter 2027-11-26T12:00:00Z",
    ),
    (
        "certificate-credentials-valid",
        rules.APPLICATION_CERTIFICATE,
        certificate_with(endDate="2026-11-01T00:00:00Z"),
        "endDate 2026-11-01T00:00:00Z is not in the future",
    ),
    (
        "certificate-credentials-valid",
        rules.APPLICATION_CERTIFICATE,
        lambda cert: cert.pop("endDate"),
        "endDate is not set",
    ),
    (
        "certificate-credentials-valid",
        rules.APPLICATION_CERTIFICATE,
        certificate_with(endDate="next year"),
        "is not an RFC3339 date",
    ),
    (
        "certificate-credentials-valid",
        rules.APPLICATION_CERTIFICATE,
        certificate_with(encoding="base64"),
        "cannot be read as an X.509 certificate in 'base64' encoding",
    ),
    (
        "app-role-assignment-full-access-only",
        rules.APP_ROLE_ASSIGNMENT,
        lambda assignment: assignment.update(appRoleId=EWS_ACCESS_AS_USER),
        f"grants app role '{EWS_ACCESS_AS_USER}', not full_access_as_app",
    ),
    (
        "app-role-assignment-full-access-only",
        rules.APP_ROLE_ASSIGNMENT,
        lambda assignment: assignment.update(appRoleId="00000000-0000-0000-0000-000000000000"),
        "not full_access_as_app",
    ),
    (
        "app-role-assignment-targets",
        rules.APP_ROLE_ASSIGNMENT,
        lambda assignment: assignment.update(principalObjectId=OTHER_PRINCIPAL),
        f"grants to principal {OTHER_PRINCIPAL}, which is not this project's service principal",
    ),
]


@pytest.mark.parametrize(
    ("rule", "type_", "change", "message"),
    ALTERATIONS,
    ids=[f"{case[0]}:{case[3][:40]}" for case in ALTERATIONS],
)
def test_altered_property_fires_its_rule(
    deployed: Stack, rule: str, type_: str, change: Callable[[Props], None], message: str
) -> None:
    fires_only(violations(altered(deployed, type_, change)), rule, message)


def test_enforced_mailbox_scope_is_the_other_accepted_shape(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    scope = {"group": "mimecast-sync@contoso.com", "enforce": True}
    stack = _stack(_run(tmp_path_factory, preview=False, mailboxScope=scope))
    assert not [r for r in stack if r.type == rules.APP_ROLE_ASSIGNMENT]
    assert violations(stack) == {}


def test_end_date_in_another_offset_is_compared_as_an_instant(deployed: Stack) -> None:
    same_instant = certificate_with(endDate="2027-11-26T13:00:00+01:00")
    assert violations(altered(deployed, rules.APPLICATION_CERTIFICATE, same_instant)) == {}


def test_every_rule_has_a_firing_case() -> None:
    assert {case[0] for case in ALTERATIONS} == set(ALL_RULES)


def test_expired_stack_fires_when_checked_after_the_end_date(deployed: Stack) -> None:
    later = replace(CONTEXT, now=CERT_NOT_AFTER)
    fires_only(violations(deployed, later), "certificate-credentials-valid", "not in the future")


def test_password_resources_fire_anywhere_in_the_stack(deployed: Stack) -> None:
    app_id = the(deployed, rules.APPLICATION_CERTIFICATE).props["applicationId"]
    sp_id = the(deployed, rules.SERVICE_PRINCIPAL).props["objectId"]
    stack = added(deployed, rules.APPLICATION_PASSWORD, {"applicationId": app_id})
    fires_only(violations(stack), "no-password-credentials", "ApplicationPassword creates")
    stack = added(deployed, rules.SERVICE_PRINCIPAL_PASSWORD, {"servicePrincipalId": sp_id})
    fires_only(violations(stack), "no-password-credentials", "ServicePrincipalPassword creates")


def test_api_access_resource_cannot_add_permissions(deployed: Stack) -> None:
    props = {"apiClientId": GRAPH_APP, "roleIds": [GRAPH_USER_READ_ALL], "scopeIds": []}
    stack = added(deployed, rules.APPLICATION_API_ACCESS, props)
    fires_only(violations(stack), "exchange-full-access-only", "ApplicationApiAccess grants")
    exchange = {
        "apiClientId": rules.EXCHANGE_ONLINE_APP_ID,
        "roleIds": [rules.FULL_ACCESS_AS_APP_ROLE_ID],
    }
    assert violations(added(deployed, rules.APPLICATION_API_ACCESS, exchange)) == {}


def test_application_registration_must_be_single_tenant(deployed: Stack) -> None:
    props = {"displayName": "x", "signInAudience": "AzureADandPersonalMicrosoftAccount"}
    stack = added(deployed, rules.APPLICATION_REGISTRATION, props)
    fires_only(violations(stack), "single-tenant-audience", "AzureADandPersonalMicrosoftAccount")


def test_assignment_on_own_service_principal_fires(deployed: Stack) -> None:
    sp_id = the(deployed, rules.SERVICE_PRINCIPAL).props["objectId"]
    stack = altered(deployed, rules.APP_ROLE_ASSIGNMENT, lambda a: a.update(resourceObjectId=sp_id))
    found = violations(stack)
    assert sorted(found) == ["app-role-assignment-full-access-only", "app-role-assignment-targets"]
    assert (
        "principal and resource are the same object"
        in found["app-role-assignment-full-access-only"][0]
    )
    assert (
        "resource is a service principal of this stack" in found["app-role-assignment-targets"][0]
    )


def test_managed_exchange_service_principal_fires(deployed: Stack) -> None:
    props = {
        "clientId": rules.EXCHANGE_ONLINE_APP_ID.upper(),
        "owners": [DEPLOYER],
        "objectId": EXCHANGE_SP,
    }
    found = violations(added(deployed, rules.SERVICE_PRINCIPAL, props))
    fires_only(found, "app-role-assignment-targets", "manages a service principal for Office 365")


def test_unknown_principal_from_another_resource_fires(previewed: Stack) -> None:
    assignment = the(previewed, rules.APP_ROLE_ASSIGNMENT)
    stack = [
        replace(r, property_dependencies={"principalObjectId": [GROUP_URN]})
        if r is assignment
        else r
        for r in previewed
    ]
    fires_only(violations(stack), "app-role-assignment-targets", f"comes from {GROUP_URN}")


def test_known_principal_is_not_judged_while_service_principal_id_is_unknown(
    previewed: Stack,
) -> None:
    stack = altered(
        previewed,
        rules.APP_ROLE_ASSIGNMENT,
        lambda a: a.update(principalObjectId=OTHER_PRINCIPAL),
    )
    assert violations(stack) == {}


# --- unknown values never fire -------------------------------------------------------------

UNKNOWNS: list[tuple[str, Callable[[Props], None]]] = [
    (rules.APPLICATION, lambda app: app.update(requiredResourceAccesses=rules.UNKNOWN)),
    (
        rules.APPLICATION,
        lambda app: app["requiredResourceAccesses"].append(
            {"resourceAppId": rules.UNKNOWN, "resourceAccesses": rules.UNKNOWN}
        ),
    ),
    (rules.APPLICATION, lambda app: app.update(signInAudience=rules.UNKNOWN)),
    (rules.APPLICATION, lambda app: app.update(owners=rules.UNKNOWN)),
    (rules.SERVICE_PRINCIPAL, lambda sp: sp.update(owners=[rules.UNKNOWN])),
    (rules.APPLICATION_CERTIFICATE, certificate_with(endDate=rules.UNKNOWN)),
    (rules.APPLICATION_CERTIFICATE, certificate_with(value=rules.UNKNOWN)),
    (rules.APPLICATION_CERTIFICATE, certificate_with(type=rules.UNKNOWN)),
    (rules.APP_ROLE_ASSIGNMENT, lambda a: a.update(appRoleId=rules.UNKNOWN)),
    (rules.APP_ROLE_ASSIGNMENT, lambda a: a.update(resourceObjectId=rules.UNKNOWN)),
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
    assert violations(altered(previewed, type_, change)) == {}


def test_unknowns_do_not_hide_the_known_violations(previewed: Stack) -> None:
    def change(app: Props) -> None:
        app["requiredResourceAccesses"].append(permission(GRAPH_APP, GRAPH_USER_READ_ALL, "Role"))
        app["requiredResourceAccesses"].append({"resourceAppId": rules.UNKNOWN})

    fires_only(
        violations(altered(previewed, rules.APPLICATION, change)),
        "exchange-full-access-only",
        GRAPH_USER_READ_ALL,
    )


# --- policy config -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {rules.ALLOWED_PERMISSIONS_KEY: "all"},
        {rules.ALLOWED_PERMISSIONS_KEY: [{"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL}]},
        {
            rules.ALLOWED_PERMISSIONS_KEY: [
                {"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL, "type": "Delegated"}
            ]
        },
    ],
)
def test_malformed_policy_config_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(rules.PolicyConfigError, match=rules.ALLOWED_PERMISSIONS_KEY):
        rules.allowed_permissions(config)


def test_config_schema_describes_the_allow_list() -> None:
    (rule,) = [r for r in rules.RESOURCE_RULES if r.config_schema is not None]
    assert rule.name == "exchange-full-access-only"
    assert rule.config_schema is not None
    schema = rule.config_schema[rules.ALLOWED_PERMISSIONS_KEY]
    assert schema["items"]["required"] == ["resourceAppId", "id", "type"]
    assert rules.allowed_permissions({}) == frozenset()
