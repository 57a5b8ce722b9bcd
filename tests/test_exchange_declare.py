"""What the association declares in Exchange Online: the plan as data, then as registrations.

The plan is pure (`exchange_declarations`); `declare` is run under the SDK's mocks, with a
monitor that keeps what the engine would receive: each resource's type, its dependencies,
and whether its serialized provider is secret.
"""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime
from typing import Any

import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.mocks import MockMonitor

from association.exchange_online.declare import (
    ExchangeTarget,
    From,
    declare,
    exchange_declarations,
)
from association.exchange_online.endpoint import CLOUDS
from association.exchange_online.ews_access import EwsAccessProvider
from association.exchange_online.provider_base import pickler_kept
from association.mailbox_scope import MailboxScope

TENANT = "7d9f3f2e-4b1a-4c5e-9a8b-1c2d3e4f5a6b"
APP = "3c9e2a1b-5d4f-4e6a-8b7c-9d0e1f2a3b4c"
SP = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
BEFORE = datetime(2026, 12, 1, tzinfo=UTC)
SHUTDOWN = datetime(2027, 4, 1, tzinfo=UTC)  # Microsoft's date, written here on purpose
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
"""How a secret value is wrapped on the wire (FACTS: Testing Pulumi programs)."""


def target(scope: MailboxScope | None = None, **extra: Any) -> ExchangeTarget:
    return ExchangeTarget(TENANT, APP, SP, "Mimecast Cloud Synchronization", "prod", scope, **extra)


def test_without_a_scope_only_ews_access() -> None:
    (only,) = exchange_declarations(target(), BEFORE)
    assert only.kind == "ews-access"
    assert only.inputs == {
        "tenantId": TENANT,
        "endpoint": "https://outlook.office365.com",
        "authority": "login.microsoftonline.com",
        "appId": APP,
        "changeOtherApps": False,
    }


def test_with_a_scope_the_assignment_comes_after_pointer_and_scope() -> None:
    plan = exchange_declarations(target(MailboxScope("sync@contoso.com")), BEFORE)
    kinds = {item.kind: item for item in plan}
    assert list(kinds) == ["ews-access", "service-principal", "management-scope", "role-assignment"]
    assert kinds["role-assignment"].depends_on == (
        kinds["service-principal"].name,
        kinds["management-scope"].name,
    )
    assert kinds["management-scope"].inputs["name"] == "Mimecast association prod"
    assert kinds["role-assignment"].inputs["scope"] == From("exchange-mailbox-scope", "name")
    assert kinds["role-assignment"].inputs["objectId"] == From(
        "exchange-service-principal", "objectId"
    )
    assert kinds["role-assignment"].inputs["role"] == "Application EWS.AccessAsApp"


def test_from_the_shutdown_on_no_ews_resource() -> None:
    plan = exchange_declarations(target(MailboxScope("sync@contoso.com")), SHUTDOWN)
    assert [item.kind for item in plan] == ["service-principal", "management-scope"]
    assert exchange_declarations(target(), SHUTDOWN) == []


def test_a_national_cloud_is_an_endpoint_and_an_authority() -> None:
    (only,) = exchange_declarations(target(cloud=CLOUDS["usgovernment"]), BEFORE)
    assert only.inputs["endpoint"] == "https://outlook.office365.us"
    assert only.inputs["authority"] == "login.microsoftonline.us"


class Recorder(MockMonitor):  # type: ignore[misc]
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.seen: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            provider = request.object.fields["__provider"]
            self.seen[request.name] = {
                "type": request.type,
                "dependencies": [urn.split("::")[-1] for urn in request.dependencies],
                "property_dependencies": {
                    key: sorted(urn.split("::")[-1] for urn in urns.urns)
                    for key, urns in request.propertyDependencies.items()
                },
                "inputs": {key: value for key, value in request.object.items()},
                "provider_is_secret": SECRET_SIGNATURE in provider.struct_value.fields,
                "provider": provider.string_value,
            }
        return response


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@pytest.fixture
def recorder() -> Recorder:
    mocks = Mocks()
    monitor = Recorder(mocks)
    pulumi.runtime.reset_options()
    pulumi.runtime.set_mocks(mocks, project="mimecast-association", stack="prod", monitor=monitor)
    return monitor


def test_declare_registers_dynamic_resources_in_order(recorder: Recorder) -> None:
    plan = exchange_declarations(target(MailboxScope("sync@contoso.com")), BEFORE)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> Any:
        made = declare(plan)
        return pulumi.Output.all(*(resource.urn for resource in made.values()))

    run()
    seen = recorder.seen
    assert seen["exchange-ews-access"]["type"] == "pulumi-python:dynamic/mimecast:EwsAccess"
    assignment = seen["exchange-ews-role-assignment"]
    assert sorted(assignment["dependencies"]) == [
        "exchange-mailbox-scope",
        "exchange-service-principal",
    ]
    # What the engine needs to replace (and delete) the assignment before the scope or the
    # pointer it names (step_generator.go calculateDependentReplacements reads these).
    assert assignment["property_dependencies"]["scope"] == ["exchange-mailbox-scope"]
    assert assignment["property_dependencies"]["objectId"] == ["exchange-service-principal"]
    assert assignment["inputs"]["scope"] == "Mimecast association prod"
    assert assignment["inputs"]["objectId"] == SP
    for registered in seen.values():
        assert registered["provider_is_secret"] is False, "the blob holds nothing secret"
        blob = base64.b64decode(registered["provider"])
        assert b"association.exchange_online" in blob


def test_declaring_leaves_the_pickler_as_it_was(recorder: Recorder) -> None:
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    plan = exchange_declarations(target(MailboxScope("sync@contoso.com")), BEFORE)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> Any:
        made = declare(plan)
        return pulumi.Output.all(*(resource.urn for resource in made.values()))

    run()
    assert len(recorder.seen) == 4
    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]


def test_thousands_of_providers_serialize_in_one_process() -> None:
    """A program with hundreds of associations, or preflight over hundreds of stacks."""
    for _ in range(2000):
        with pickler_kept():
            blob = serialize_provider(EwsAccessProvider())
    assert b"EwsAccessProvider" in base64.b64decode(blob)


def test_the_sdk_still_patches_the_pickler_for_good() -> None:
    """What `pickler_kept` undoes; when this fails, pulumi fixed it and the guard can go."""
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    with pickler_kept():
        serialize_provider(EwsAccessProvider())
        assert pickle._Pickler._batch_setitems is not before  # type: ignore[attr-defined]
    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]
