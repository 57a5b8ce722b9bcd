"""The one seam between the offline engine and the Pulumi SDK's private internals.

The SDK's documented unit-test API (`set_mocks`, `Mocks`, `runtime.test`) runs a program, but
showing a plan needs a little more: the URN the engine would write, each registration's
options and inputs, secrets unwrapped and unknowns recognised. Every such use is here and
nowhere else; each internal is looked up once, at import, so an SDK upgrade that moves one
fails with "pulumi X.Y changed Z" instead of a wrong plan (tests/test_pulumi_sdk.py pins the
contract).
"""

from __future__ import annotations

import base64
import binascii
import pickletools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from types import ModuleType
from typing import Any, Final

import pulumi
import pulumi.output
from pulumi.dynamic import dynamic
from pulumi.runtime import mocks, rpc

from association.identifiers import ROOT_STACK_TYPE

PULUMI_VERSION: Final = version("pulumi")


class SdkChanged(ImportError):
    """The installed Pulumi SDK no longer has an internal the offline engine relies on."""


def internal(module: ModuleType, name: str, role: str) -> Any:
    """`module.name`, or `SdkChanged` saying which internal moved and what it was for."""
    try:
        return getattr(module, name)
    except AttributeError:
        raise SdkChanged(
            f"pulumi {PULUMI_VERSION} changed {module.__name__}.{name} ({role}); "
            "association_tools/pulumi_sdk.py must be updated for this SDK version"
        ) from None


MockMonitor: type[Any] = internal(mocks, "MockMonitor", "the mock engine's resource monitor")
_deserialize = internal(rpc, "deserialize_properties", "decoding registered inputs")
_UNKNOWN: Final[str] = internal(rpc, "UNKNOWN", "the wire form of an unknown value")
_SIG_KEY: Final[str] = internal(rpc, "_special_sig_key", "the key marking a special value")
_SECRET_SIG: Final[str] = internal(rpc, "_special_secret_sig", "the marker of a secret value")
_Unknown: type[Any] = internal(pulumi.output, "Unknown", "an unknown output value")
PROVIDER_KEY: Final[str] = internal(
    dynamic, "PROVIDER_KEY", "the input holding a dynamic resource's serialized provider"
)
MAX_PROVIDER: Final = 1024 * 1024
"""Characters of a serialized provider read to name its class (ours are about 120)."""


@dataclass(frozen=True)
class Registration:
    """One `RegisterResource` request, in the terms a plan shows."""

    type: str
    name: str
    parent: str
    protect: bool
    delete_before_replace: bool
    import_id: str
    """The `import` resource option: the ID of an existing object to adopt, or empty."""
    ignore_changes: tuple[str, ...]
    retain_on_delete: bool
    """Kept in the cloud when the engine deletes it (e.g. in an import replacement)."""
    dependencies: tuple[str, ...]
    """URNs it is created after: `depends_on` and the resources its inputs come from."""
    inputs: dict[str, Any]


def registration(request: Any) -> Registration:
    """Read the protobuf `RegisterResourceRequest` the SDK sends the monitor."""
    return Registration(
        type=request.type,
        name=request.name,
        parent=request.parent,
        protect=bool(request.protect),
        delete_before_replace=bool(request.deleteBeforeReplace),
        import_id=request.importId,
        ignore_changes=tuple(request.ignoreChanges),
        retain_on_delete=bool(request.retainOnDelete),
        dependencies=tuple(request.dependencies),
        inputs=dict(_deserialize(request.object)),
    )


def engine_urn(parent: str, type_: str, name: str, default: Any) -> str:
    """The URN the engine writes: the root stack is no part of a child's type chain.

    `default` is the mock monitor's own `make_urn`, which chains every parent's type.
    """
    if parent.split("::")[2:3] == [ROOT_STACK_TYPE]:
        parent = ""
    return str(default(parent, type_, name))


def is_unknown(value: Any) -> bool:
    """An output the engine learns only at deploy, in its Python or its wire form."""
    return isinstance(value, _Unknown) or (isinstance(value, str) and value == _UNKNOWN)


def unwrap_secret(value: Any) -> tuple[bool, Any]:
    """(True, the plain value) for a serialized secret, else (False, value)."""
    if isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG and "value" in value:
        return True, value["value"]
    return False, value


def dynamic_provider(inputs: Mapping[str, Any]) -> str | None:
    """The class a dynamic resource's serialized provider names (`module.Class`), empty when
    it names none (pickled by value, or unreadable), None when `inputs` hold no provider.
    `pulumi.dynamic` stores the provider as a base64 dill pickle (`dynamic.py`,
    `serialize_provider`): a class of an importable module by reference, anything else by
    value, through dill's own helpers. Its opcodes are read, never unpickled."""
    _, blob = unwrap_secret(inputs.get(PROVIDER_KEY))
    if blob is None:
        return None
    strings: list[str] = []
    try:
        raw = base64.b64decode(str(blob)[:MAX_PROVIDER], validate=True)
        for opcode, argument, _ in pickletools.genops(raw):
            if opcode.name == "GLOBAL" and isinstance(argument, str):
                strings += argument.split(" ", 1)
            if opcode.name in ("GLOBAL", "STACK_GLOBAL") and len(strings) >= 2:
                module, name = strings[-2:]
                return "" if module.split(".")[0] == "dill" else f"{module}.{name}"
            if isinstance(argument, str):
                strings.append(argument)
    except (binascii.Error, ValueError):
        pass
    return ""


def recording_monitor(
    mocks: pulumi.runtime.Mocks, record: Callable[[Registration, str], None]
) -> Any:
    """The SDK's mock monitor, also handing `record` every registration (but the root stack's)
    with the URN the engine would write: what `set_mocks(monitor=...)` takes."""

    class RecordingMonitor(MockMonitor):  # type: ignore[misc]
        def make_urn(self, parent: str, type_: str, name: str) -> str:
            return engine_urn(parent, type_, name, super().make_urn)

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            declared = registration(request)
            if declared.type != ROOT_STACK_TYPE:
                record(declared, response.urn)
            return response

    return RecordingMonitor(mocks)


async def stack_outputs() -> dict[str, Any]:
    """The root stack's exports, resolved, unknowns kept as unknowns: what `pulumi up` prints
    as Outputs. The root stack keeps them in an attribute the SDK does not document, and
    `Output.future(with_unknowns=True)` is how the SDK itself reads an output that may be
    unknown."""
    root = pulumi.runtime.get_root_resource()
    exported: dict[str, Any] = getattr(root, _OUTPUTS, {})
    return {
        name: await pulumi.Output.from_input(value).future(with_unknowns=True)
        for name, value in exported.items()
    }


_OUTPUTS: Final = "outputs"
"""The attribute of the root `Stack` resource that `pulumi.export` fills."""
