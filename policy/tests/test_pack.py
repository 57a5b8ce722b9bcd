"""The policy pack as the Pulumi CLI runs it, in the pack's own virtualenv (pulumi-policy).

Run from the repository root with the pack's environment:
    policy/venv/bin/python -m pytest policy/tests

`policy/__main__.py` is loaded under another module name, so it builds the policies but
does not construct `PolicyPack` (that starts a gRPC server and blocks). The policies are
then called two ways: their `validate` with hand-made `ResourceValidationArgs` /
`StackValidationArgs`, and through pulumi-policy's own analyzer servicer with the
protobuf requests the engine sends, which also covers config, secrets and unknowns.
What the pack reports is compared with what the rules return when called directly
(violations as data: code, reason, facts); tests/test_policy.py checks the rules
themselves against the real program.
"""

from __future__ import annotations

import importlib.util
import select
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pulumi_policy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as policy_proxy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _PolicyAnalyzerServicer

PACK_DIR = Path(__file__).resolve().parent.parent
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
UNKNOWN = policy_proxy.UNKNOWN_STRING_VALUE
PREFIX = "urn:pulumi:contoso::mimecast-association::mimecast:index:Association$azuread:index"
APP_URN = f"{PREFIX}/application:Application::mimecast"
CERT_URN = f"{PREFIX}/applicationCertificate:ApplicationCertificate::mimecast-cert-1"
SP_URN = f"{PREFIX}/servicePrincipal:ServicePrincipal::mimecast"
ASSIGNMENT_URN = f"{PREFIX}/appRoleAssignment:AppRoleAssignment::mimecast-full-access-as-app"
DEPLOYER = "aaaaaaaa-0000-0000-0000-000000000001"
EXCHANGE_SP = "bbbbbbbb-0000-0000-0000-000000000002"
APP_OBJECT_ID = "dddddddd-0000-0000-0000-000000000004"
CLIENT_ID = "eeeeeeee-0000-0000-0000-000000000005"
SP_OBJECT_ID = "ffffffff-0000-0000-0000-000000000006"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
GRAPH_USER_READ_ALL = "df021288-bdef-4463-88db-98f22de89214"


class _RecordingPack:
    """Stands in for PolicyPack, which would start a gRPC server and block."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"test opened a network connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def pack() -> ModuleType:
    """policy/__main__.py imported as a module, with PolicyPack replaced by a recorder."""
    real = pulumi_policy.PolicyPack
    pulumi_policy.PolicyPack = _RecordingPack  # type: ignore[misc,assignment]
    try:
        spec = importlib.util.spec_from_file_location("guardrails_pack", PACK_DIR / "__main__.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        pulumi_policy.PolicyPack = real  # type: ignore[misc]
    assert _RecordingPack.calls == [], "importing the pack must not construct PolicyPack"
    return module


@pytest.fixture(scope="module")
def rules(pack: ModuleType) -> ModuleType:
    """The pack's `rules` package, as the pack imported it (its directory first on sys.path)."""
    return sys.modules["rules"]


@pytest.fixture(scope="module")
def registry(pack: ModuleType) -> ModuleType:
    return sys.modules["rules.registry"]


def certificate_pem(not_after: datetime) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mimecast Test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - timedelta(days=400))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


NOT_AFTER = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)
PEM = certificate_pem(NOT_AFTER)


def program(*, preview: bool = False) -> dict[str, tuple[str, dict[str, Any]]]:
    """URN -> (type, properties): what the program declares (see tests/test_policy.py)."""

    def known(value: str) -> str:
        return UNKNOWN if preview else value

    return {
        APP_URN: (
            "azuread:index/application:Application",
            {
                "displayName": "Mimecast Cloud Synchronization",
                "signInAudience": "AzureADMyOrg",
                "owners": [DEPLOYER],
                "preventDuplicateNames": True,
                "requiredResourceAccesses": [
                    {
                        "resourceAppId": "00000002-0000-0ff1-ce00-000000000000",
                        "resourceAccesses": [
                            {"id": "dc890d15-9560-4a4c-9b7f-a736ec74ec40", "type": "Role"}
                        ],
                    }
                ],
                "objectId": known(APP_OBJECT_ID),
                "clientId": known(CLIENT_ID),
            },
        ),
        CERT_URN: (
            "azuread:index/applicationCertificate:ApplicationCertificate",
            {
                "applicationId": known(f"/applications/{APP_OBJECT_ID}"),
                "type": "AsymmetricX509Cert",
                "encoding": "pem",
                "value": {**SECRET, "value": PEM},
                "keyId": "eda52499-ccfc-5d9b-9b82-24c61b3658aa",
                "startDate": (NOT_AFTER - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDate": NOT_AFTER.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        ),
        SP_URN: (
            "azuread:index/servicePrincipal:ServicePrincipal",
            {"clientId": known(CLIENT_ID), "owners": [DEPLOYER], "objectId": known(SP_OBJECT_ID)},
        ),
        ASSIGNMENT_URN: (
            "azuread:index/appRoleAssignment:AppRoleAssignment",
            {
                "appRoleId": "dc890d15-9560-4a4c-9b7f-a736ec74ec40",
                "principalObjectId": known(SP_OBJECT_ID),
                "resourceObjectId": EXCHANGE_SP,
            },
        ),
    }


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def engine_props(props: Mapping[str, Any]) -> Any:
    """Properties as pulumi-policy hands them to a policy: deserialized, behind its proxy."""
    return policy_proxy.unknown_checking_proxy(deserialize_properties(dict(props)))


def policy_named(pack: ModuleType, name: str) -> Any:
    (policy,) = [p for p in pack.POLICIES if p.name == name]
    return policy


Reported = list[tuple[str, str, str | None]]
"""(policy name, message, urn) for each violation a policy reported."""


def reporter(name: str, reported: Reported) -> ReportViolation:
    def report_violation(message: str, urn: str | None = None) -> None:
        reported.append((name, message, urn))

    return report_violation


def validate_resources(
    pack: ModuleType,
    declared: Mapping[str, tuple[str, dict[str, Any]]],
    config: Mapping[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """Every resource policy's `validate` on every resource: (policy name, message) pairs."""
    reported: Reported = []
    for policy in pack.POLICIES:
        if not isinstance(policy, ResourceValidationPolicy):
            continue
        for urn, (type_, props) in declared.items():
            args = ResourceValidationArgs(
                type_, engine_props(props), urn, urn.rsplit("::", 1)[-1], options(), None, config
            )
            policy.validate(args, reporter(policy.name, reported))
    assert all(urn is None for _, _, urn in reported)
    return [(name, message) for name, message, _ in reported]


def direct(
    registry: ModuleType,
    declared: Mapping[str, tuple[str, dict[str, Any]]],
    config: Mapping[str, Any] | None = None,
) -> list[Any]:
    """The resource rules' violations, called directly on the deserialized properties."""
    context = sys.modules["rules.model"].RuleContext(config or {}, datetime.now(UTC))
    return [
        violation
        for rule in registry.RESOURCE_RULES
        for type_, props in declared.values()
        for violation in rule.check(type_, deserialize_properties(dict(props)), context)
    ]


def direct_stack(registry: ModuleType, declared: Mapping[str, tuple[str, dict[str, Any]]]) -> Any:
    """The stack rules' violations, called directly (the assignment's principal from the SP)."""
    model = sys.modules["rules.model"]
    resources = [
        model.StackResource(
            type_,
            urn,
            deserialize_properties(dict(props)),
            {"principalObjectId": [SP_URN]} if urn == ASSIGNMENT_URN else {},
        )
        for urn, (type_, props) in declared.items()
    ]
    context = model.RuleContext({}, datetime.now(UTC))
    return [v for rule in registry.STACK_RULES for v in rule.check(resources, context)]


def reported(violations: list[Any]) -> list[tuple[str, str]]:
    """(policy name, message): what the pack must report for these violations."""
    return [(v.code, v.message) for v in violations]


def engine_message(registry: ModuleType, violation: Any) -> str:
    """A diagnostic's message: pulumi-policy's `_create_report_violation` puts the policy's
    description first, then the violation's message on its own line."""
    (rule,) = [
        r for r in (*registry.RESOURCE_RULES, *registry.STACK_RULES) if r.code == violation.code
    ]
    return f"{rule.description}\n{violation.message}"


def reasons(violations: list[Any]) -> list[tuple[str, str]]:
    return [(v.code, v.reason) for v in violations]


def validate_stack(
    pack: ModuleType, declared: Mapping[str, tuple[str, dict[str, Any]]]
) -> list[tuple[str, str, str | None]]:
    resources = {
        urn: PolicyResource(
            type_, engine_props(props), urn, urn.rsplit("::", 1)[-1], options(), None, None, [], {}
        )
        for urn, (type_, props) in declared.items()
    }
    if ASSIGNMENT_URN in resources and SP_URN in resources:
        resources[ASSIGNMENT_URN].property_dependencies["principalObjectId"] = [resources[SP_URN]]
    reported: Reported = []
    for policy in pack.POLICIES:
        if isinstance(policy, StackValidationPolicy):
            policy.validate(
                StackValidationArgs(list(resources.values())), reporter(policy.name, reported)
            )
    return reported


# --- the pack's shape ----------------------------------------------------------------------


def test_main_builds_the_mandatory_pack_with_every_rule(
    pack: ModuleType, registry: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack, "PolicyPack", _RecordingPack)
    pack.main()
    (call,) = _RecordingPack.calls
    _RecordingPack.calls.clear()
    assert call["name"] == "mimecast-association-guardrails"
    assert call["enforcement_level"] is EnforcementLevel.MANDATORY
    names = [policy.name for policy in call["policies"]]
    expected = [rule.code for rule in (*registry.RESOURCE_RULES, *registry.STACK_RULES)]
    assert names == expected
    assert len(names) == 8
    for policy in call["policies"]:
        assert policy.enforcement_level is None  # the pack's MANDATORY applies
        assert policy.description


def test_policy_types_and_config_schema(pack: ModuleType) -> None:
    stack_policies = [p.name for p in pack.POLICIES if isinstance(p, StackValidationPolicy)]
    assert stack_policies == ["app-role-assignment-targets", "scoped-consent-shape"]
    schema = policy_named(pack, "exchange-full-access-only").config_schema
    assert isinstance(schema, PolicyConfigSchema)
    assert schema.properties["allowedPermissions"]["type"] == "array"
    others = [p for p in pack.POLICIES if p.name != "exchange-full-access-only"]
    assert all(p.config_schema is None for p in others)


def test_rules_know_every_unknown_marker_of_pulumi_policy(pack: ModuleType) -> None:
    values = sys.modules["rules.values"]
    markers = {
        value
        for name, value in vars(policy_proxy).items()
        if name.startswith("UNKNOWN_") and name.endswith("_VALUE")
    }
    assert len(markers) == 7
    assert markers == values.UNKNOWN_VALUES
    assert values.UNKNOWN == UNKNOWN


def test_rules_load_as_the_package_beside_the_pack(rules: ModuleType) -> None:
    """__main__.py's `from rules import ...` finds policy/rules/, not another `rules`."""
    assert Path(rules.__file__).resolve() == PACK_DIR / "rules" / "__init__.py"
    assert sys.modules["rules.registry"].__package__ == "rules"


def test_pack_serves_when_started_as_the_cli_starts_it() -> None:
    """As pulumi-language-python's `RunPlugin` starts a Python analyzer: `python -u -m
    pulumi.policy ENGINE PACK_DIR` in the pack's directory, which `runpy.run_path`s the
    directory. The pack imports its rules and prints the port it serves on (loopback only)."""
    command = [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)]
    with subprocess.Popen(
        command, cwd=PACK_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        try:
            ready, _, _ = select.select([process.stdout], [], [], 60)
            line = process.stdout.readline() if ready else b""
        finally:
            process.kill()
        errors = process.communicate()[1].decode(errors="replace")
    assert line.strip().isdigit(), errors


# --- validate, called directly -------------------------------------------------------------


def test_clean_program_passes_every_policy(pack: ModuleType) -> None:
    assert validate_resources(pack, program()) == []
    assert validate_stack(pack, program()) == []


def test_previewed_program_passes_without_unknown_value_errors(pack: ModuleType) -> None:
    assert validate_resources(pack, program(preview=True)) == []
    assert validate_stack(pack, program(preview=True)) == []


def test_extra_permission_fires_unless_config_allows_it(
    pack: ModuleType, registry: ModuleType
) -> None:
    declared = program()
    accesses = declared[APP_URN][1]["requiredResourceAccesses"]
    accesses.append(
        {
            "resourceAppId": GRAPH_APP,
            "resourceAccesses": [{"id": GRAPH_USER_READ_ALL, "type": "Role"}],
        }
    )
    found = direct(registry, declared)
    assert reasons(found) == [("exchange-full-access-only", "other-permission")]
    assert found[0].facts["id"] == GRAPH_USER_READ_ALL
    assert validate_resources(pack, declared) == reported(found)
    allow = {
        "allowedPermissions": [
            {"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL, "type": "Role"}
        ]
    }
    assert validate_resources(pack, declared, allow) == []


def test_certificate_ending_after_not_after_fires(pack: ModuleType, registry: ModuleType) -> None:
    declared = program()
    later = NOT_AFTER + timedelta(days=1)
    declared[CERT_URN][1]["endDate"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    found = direct(registry, declared)
    assert reasons(found) == [("certificate-credentials-valid", "end-date-after-not-after")]
    assert found[0].facts["notAfter"] == NOT_AFTER.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert validate_resources(pack, declared) == reported(found)


def test_password_resource_fires(pack: ModuleType, registry: ModuleType) -> None:
    declared = program()
    declared["urn:pulumi:contoso::mimecast-association::azuread:index/x::secret"] = (
        "azuread:index/applicationPassword:ApplicationPassword",
        {"applicationId": f"/applications/{APP_OBJECT_ID}", "displayName": "secret"},
    )
    found = direct(registry, declared)
    assert reasons(found) == [("no-password-credentials", "application-password")]
    assert validate_resources(pack, declared) == reported(found)


def test_assignment_to_another_principal_fires_on_its_urn(
    pack: ModuleType, registry: ModuleType
) -> None:
    declared = program()
    declared[ASSIGNMENT_URN][1]["principalObjectId"] = "cccccccc-0000-0000-0000-000000000003"
    (violation,) = direct_stack(registry, declared)
    assert reasons([violation]) == [("app-role-assignment-targets", "principal-not-in-stack")]
    assert validate_stack(pack, declared) == [(violation.code, violation.message, ASSIGNMENT_URN)]


# --- through pulumi-policy's analyzer, as the engine calls it ------------------------------


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(props))
    return message


def analyzer(pack: ModuleType, config: Mapping[str, Any] | None = None) -> Any:
    servicer = _PolicyAnalyzerServicer(
        pack.PACK_NAME, "0.1.0", pack.POLICIES, pack.ENFORCEMENT_LEVEL
    )
    if config is not None:
        policy_config = {
            name: proto.PolicyConfig(enforcementLevel=proto.MANDATORY, properties=struct(values))
            for name, values in config.items()
        }
        request = proto.ConfigureAnalyzerRequest(policyConfig=policy_config)
        servicer.Configure(request, None)  # type: ignore[no-untyped-call]
    return servicer


def analyze(servicer: Any, declared: Mapping[str, tuple[str, dict[str, Any]]]) -> list[Any]:
    diagnostics = []
    for urn, (type_, props) in declared.items():
        request = proto.AnalyzeRequest(
            type=type_, properties=struct(props), urn=urn, name=urn.rsplit("::", 1)[-1]
        )
        diagnostics.extend(servicer.Analyze(request, None).diagnostics)
    return diagnostics


def analyze_stack(servicer: Any, declared: Mapping[str, tuple[str, dict[str, Any]]]) -> list[Any]:
    resources = [
        proto.AnalyzerResource(
            type=type_,
            properties=struct(props),
            urn=urn,
            name=urn.rsplit("::", 1)[-1],
            propertyDependencies=(
                {"principalObjectId": proto.AnalyzerPropertyDependencies(urns=[SP_URN])}
                if urn == ASSIGNMENT_URN
                else {}
            ),
        )
        for urn, (type_, props) in declared.items()
    ]
    request = proto.AnalyzeStackRequest(resources=resources)
    return list(servicer.AnalyzeStack(request, None).diagnostics)


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_engine_path_passes_the_clean_program(pack: ModuleType, preview: bool) -> None:
    servicer = analyzer(pack)
    assert analyze(servicer, program(preview=preview)) == []
    assert analyze_stack(servicer, program(preview=preview)) == []


def test_engine_path_reports_mandatory_violations_with_their_messages(
    pack: ModuleType, registry: ModuleType
) -> None:
    declared = program()
    declared[APP_URN][1]["signInAudience"] = "AzureADMultipleOrgs"
    declared[APP_URN][1]["password"] = {"displayName": "secret"}
    declared[SP_URN][1]["owners"] = []
    declared[ASSIGNMENT_URN][1]["appRoleId"] = "00000000-0000-0000-0000-000000000000"
    found = {d.policyName: d for d in analyze(analyzer(pack), declared)}
    assert sorted(found) == [
        "app-role-assignment-full-access-only",
        "no-password-credentials",
        "owners-required",
        "single-tenant-audience",
    ]
    for diagnostic in found.values():
        assert diagnostic.enforcementLevel == proto.MANDATORY
        assert diagnostic.policyPackName == "mimecast-association-guardrails"
    expected = direct(registry, declared)
    assert sorted(reasons(expected)) == [
        ("app-role-assignment-full-access-only", "other-app-role"),
        ("no-password-credentials", "password-block"),
        ("owners-required", "no-owners"),
        ("single-tenant-audience", "not-single-tenant"),
    ]
    assert {name: d.message for name, d in found.items()} == {
        v.code: engine_message(registry, v) for v in expected
    }


def test_engine_path_applies_the_allow_list_from_policy_config(pack: ModuleType) -> None:
    declared = program()
    declared[APP_URN][1]["requiredResourceAccesses"].append(
        {
            "resourceAppId": GRAPH_APP,
            "resourceAccesses": [{"id": GRAPH_USER_READ_ALL, "type": "Role"}],
        }
    )
    (diagnostic,) = analyze(analyzer(pack), declared)
    assert diagnostic.policyName == "exchange-full-access-only"
    config = {
        "exchange-full-access-only": {
            "allowedPermissions": [
                {"resourceAppId": GRAPH_APP, "id": GRAPH_USER_READ_ALL, "type": "Role"}
            ]
        }
    }
    assert analyze(analyzer(pack, config), declared) == []


def test_engine_path_stack_policy_names_the_assignment(
    pack: ModuleType, registry: ModuleType
) -> None:
    declared = program()
    declared[ASSIGNMENT_URN][1]["resourceObjectId"] = SP_OBJECT_ID
    (violation,) = direct_stack(registry, declared)
    assert reasons([violation]) == [("app-role-assignment-targets", "resource-in-stack")]
    (diagnostic,) = analyze_stack(analyzer(pack), declared)
    assert diagnostic.policyName == violation.code
    assert diagnostic.message == engine_message(registry, violation)
    assert diagnostic.urn == ASSIGNMENT_URN
    assert diagnostic.enforcementLevel == proto.MANDATORY
