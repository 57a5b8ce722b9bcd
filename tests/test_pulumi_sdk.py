"""The contract between the offline engine and the Pulumi SDK's internals.

`association_tools/pulumi_sdk.py` is the only module that reaches into the SDK beyond its
documented unit-test API. These tests run a small program through the offline engine and
check every internal it uses still means what the engine assumes; an SDK upgrade that
breaks one fails here, naming it.
"""

from __future__ import annotations

import base64
import pickle
import types
from pathlib import Path

import pytest
from certfactory import NOW
from tenant import TENANT_DIRECTORY

from association_tools import pulumi_sdk
from association_tools.offline import KNOWN_AFTER_DEPLOY, DynamicProvider, ProgramRun, run_program

GLOBAL_NAME = "association_tools.offline.DynamicProvider"

PROGRAM = """
import pulumi

class Box(pulumi.ComponentResource):
    def __init__(self, name):
        super().__init__("test:index:Box", name)
        thing = pulumi.CustomResource(
            "test:index:Thing",
            "thing",
            {"plain": 1, "token": pulumi.Output.secret("s3cret"), "id": None},
            opts=pulumi.ResourceOptions(parent=self, protect=True, delete_before_replace=True),
        )
        pulumi.export("thingId", thing.id)

Box("box")
"""


def run_box(tmp_path: Path, preview: bool) -> ProgramRun:
    (tmp_path / "__main__.py").write_text(PROGRAM)
    result = run_program(
        tmp_path / "__main__.py", "dev", {}, TENANT_DIRECTORY, preview=preview, now=NOW
    )
    assert result.error is None, result.error
    return result


def test_registrations_keep_parent_options_and_plain_inputs(tmp_path: Path) -> None:
    run = run_box(tmp_path, preview=False)
    box, thing = sorted(run.resources, key=lambda r: r.name)
    assert box.urn == "urn:pulumi:dev::mimecast-association::test:index:Box::box"
    assert thing.urn == (
        "urn:pulumi:dev::mimecast-association::test:index:Box$test:index:Thing::thing"
    ), "pulumi changed MockMonitor.make_urn: the root stack must not be in a child's type chain"
    assert thing.parent == box.urn
    assert (thing.protect, thing.delete_before_replace) == (True, True), (
        "pulumi changed the RegisterResourceRequest fields protect/deleteBeforeReplace"
    )
    assert thing.inputs["plain"] == 1
    assert thing.inputs["token"] == "s3cret", "pulumi changed how a secret input is serialized"


def test_unknowns_in_a_preview_are_marked(tmp_path: Path) -> None:
    run = run_box(tmp_path, preview=True)
    assert run.outputs["thingId"] is KNOWN_AFTER_DEPLOY, "pulumi changed how unknowns look"


def test_a_moved_internal_is_named_with_the_sdk_version() -> None:
    module = types.ModuleType("pulumi.runtime.example")
    with pytest.raises(pulumi_sdk.SdkChanged) as caught:
        pulumi_sdk.internal(module, "gone", "what it was for")
    assert str(caught.value) == (
        f"pulumi {pulumi_sdk.PULUMI_VERSION} changed pulumi.runtime.example.gone "
        "(what it was for); association_tools/pulumi_sdk.py must be updated for this SDK version"
    )


def test_a_program_of_hundreds_of_resources_runs(tmp_path: Path) -> None:
    """RPCs go through the SDK's own thread pool: no recursion however many resources."""
    (tmp_path / "__main__.py").write_text(
        "import pulumi\n"
        "for i in range(300):\n"
        "    pulumi.CustomResource('test:index:Thing', f't{i}', {'plain': i})\n"
    )
    result = run_program(
        tmp_path / "__main__.py", "dev", {}, TENANT_DIRECTORY, preview=True, now=NOW
    )
    assert result.error is None
    assert len(result.resources) == 300


DYNAMIC_PROGRAM = """
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

class Provider(ResourceProvider):
    def create(self, props):
        return CreateResult("id", props)

class Thing(Resource, module="test", name="Thing"):
    pass

first = Thing(Provider(), "first", {"plain": 1})
Thing(Provider(), "second", {"plain": 2}, pulumi.ResourceOptions(depends_on=[first]))
"""


def test_a_dynamic_provider_is_named_by_its_class_and_dependencies_kept(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text(DYNAMIC_PROGRAM)
    run = run_program(tmp_path / "__main__.py", "dev", {}, TENANT_DIRECTORY, preview=True, now=NOW)
    assert run.error is None, run.error
    first, second = sorted(run.resources, key=lambda r: r.name)
    assert first.type == "pulumi-python:dynamic/test:Thing"
    # by default the blob is a secret, and a class of `__main__` is pickled by value (ours are
    # by reference): it names no class, and is never shown itself
    assert first.inputs[pulumi_sdk.PROVIDER_KEY] == DynamicProvider(""), (
        "pulumi changed how a dynamic resource stores its provider (dynamic.py PROVIDER_KEY)"
    )
    assert second.dependencies == (first.urn,), (
        "pulumi changed RegisterResourceRequest.dependencies"
    )


@pytest.mark.parametrize(
    ("blob", "named"),
    [
        (base64.b64encode(pickle.dumps(DynamicProvider, protocol=0)).decode(), GLOBAL_NAME),
        ("not base64 at all!", ""),
        (base64.b64encode(b"\xff\xfe garbage").decode(), ""),
    ],
)
def test_a_blob_is_read_by_its_opcodes_only(blob: str, named: str) -> None:
    assert pulumi_sdk.dynamic_provider({pulumi_sdk.PROVIDER_KEY: blob}) == named
    assert pulumi_sdk.dynamic_provider({"plain": 1}) is None
