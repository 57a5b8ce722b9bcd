"""The contract between the offline engine and the Pulumi SDK's internals.

`association_tools/pulumi_sdk.py` is the only module that reaches into the SDK beyond its
documented unit-test API. These tests run a small program through the offline engine and
check every internal it uses still means what the engine assumes; an SDK upgrade that
breaks one fails here, naming it.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from certfactory import NOW
from tenant import TENANT_DIRECTORY

from association_tools import pulumi_sdk
from association_tools.offline import KNOWN_AFTER_DEPLOY, ProgramRun, run_program

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
